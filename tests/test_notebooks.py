"""The analysis notebooks execute without error on a tiny manifest (small settings)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from interp.train.zoo import build_zoo
from tests.test_study import MANIFEST
from tests.test_vision_study import VISION_MANIFEST

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _built(folder: Path, text: str) -> Path:
    """A manifest written into `folder` with its zoo built."""
    path = folder / "checkpoints_manifest.yaml"
    path.write_text(text)
    build_zoo(path)
    return path


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory):
    return _built(tmp_path_factory.mktemp("notebooks"), MANIFEST)


@pytest.fixture(scope="module")
def tiny_vision_manifest(tmp_path_factory):
    return _built(tmp_path_factory.mktemp("vision-notebook"), VISION_MANIFEST)


@pytest.mark.parametrize("name", ["distillability", "attention_divergence", "circuit_diff"])
def test_notebook_executes(name, tiny_manifest, monkeypatch):
    monkeypatch.setenv("INTERP_MANIFEST", str(tiny_manifest))
    _execute(name, monkeypatch)


def test_the_vision_notebook_executes(tiny_vision_manifest, monkeypatch):
    monkeypatch.setenv("INTERP_MANIFEST", str(tiny_vision_manifest))
    monkeypatch.setenv("INTERP_TAGS", "vision-demo")
    outputs = _execute("vision", monkeypatch)
    plotly = "application/vnd.plotly.v1+json"
    figures = [o["data"][plotly] for o in outputs if plotly in o.get("data", {})]
    traces = [trace["type"] for figure in figures for trace in figure["data"]]
    assert traces.count("image") >= 15 + 2  # the digits shown, and the pair's two renderings
    assert "heatmap" in traces
    tables = " ".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "colour_gap" in tables and "marker_gap" in tables


def _execute(name, monkeypatch) -> list:
    monkeypatch.setenv("INTERP_PAIRS", "8")
    monkeypatch.setenv("INTERP_BUILD", "0")
    path = NOTEBOOKS / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # committed with the demo zoo's outputs; run afresh here
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs) or any(
        "text/html" in o.get("data", {}) for o in outputs
    )
    return outputs


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_committed_notebooks_show_their_outputs_and_stay_small(path):
    """`make notebooks` ran every code cell on the demo zoo, without an error, and the
    notebook stays under 2 MB (figures as plotly JSON, no plotly.js inside)."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code)
    outputs = [o for cell in code for o in cell.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    assert path.stat().st_size <= 2 * 2**20
