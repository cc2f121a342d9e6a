"""The results models: they are the schema of results.json, its page is generated from them,
and files that do not fit are refused with the field that does not."""

import json

import pytest

from interp.errors import InterpError
from interp.results import SCHEMA_VERSION, StudyResults, SweepResults, read_results
from interp.results.doc import PAGE, models_of, page


def test_the_results_page_is_generated_from_the_models():
    assert PAGE.read_text(encoding="utf-8") == page(), "run: python -m interp.results.doc"


@pytest.mark.parametrize("root", [StudyResults, SweepResults])
def test_every_field_is_documented(root):
    missing = [
        f"{model.__name__}.{name}"
        for model in models_of(root)
        for name, info in model.model_fields.items()
        if not info.description
    ]
    assert not missing


def _study(tmp_path, data) -> str:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_a_newer_schema_version_is_refused_with_the_version(tmp_path):
    path = _study(tmp_path, {"schema_version": SCHEMA_VERSION + 1, "run": "x"})
    with pytest.raises(InterpError, match=f"schema version {SCHEMA_VERSION + 1}"):
        StudyResults.read(path)


def test_a_file_missing_a_field_is_refused_naming_it(tmp_path):
    path = _study(tmp_path, {"run": "x", "seeds": [0], "device": "cpu"})
    with pytest.raises(InterpError, match=r"not a study's results.json \(settings: Field required"):
        StudyResults.read(path)


def test_not_json_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{not json")
    with pytest.raises(InterpError, match="cannot be read as a study's or a sweep's results.json"):
        read_results(path)
