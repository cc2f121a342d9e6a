"""Checkpoints that no longer match the manifest are found, refused, and rebuilt on request."""

import json
import shutil

import pytest

from interp.errors import ManifestError
from interp.manifest import Manifest
from interp.train.outdated import outdated
from interp.train.zoo import build_order, build_zoo, ensure_built
from tests.train.test_executor import MANIFEST, hashes, write_manifest

QUIET = {"log": lambda line: None}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("built")
    build_zoo(write_manifest(root), **QUIET)
    return root


@pytest.fixture
def zoo(built, tmp_path):
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    return tmp_path


def stale(root) -> dict[str, list[str]]:
    manifest = Manifest.load(root / "checkpoints_manifest.yaml")
    return outdated(manifest, build_order(manifest, [m.id for m in manifest.models]))


def test_a_fresh_build_is_not_outdated_and_records_its_inputs(zoo):
    assert stale(zoo) == {}
    record = json.loads((zoo / "ckpt" / "student-s1" / "train.json").read_text())
    assert set(record["inputs"]) == {"teacher-s1"}
    teacher = json.loads((zoo / "ckpt" / "teacher-s1" / "train.json").read_text())
    assert set(teacher["inputs"]) == {"bias"}


def test_a_changed_recipe_is_refused_naming_what_changed_and_losing_nothing(zoo):
    before = hashes(zoo)
    write_manifest(
        zoo,
        MANIFEST.replace(
            "loss: poe, bias_model: bias, steps: 12", "loss: poe, bias_model: bias, steps: 14"
        ),
    )
    with pytest.raises(ManifestError) as err:
        build_zoo(zoo / "checkpoints_manifest.yaml", **QUIET)
    message = str(err.value)
    assert "4 checkpoint(s) no longer match" in message
    assert "teacher-s0 (recipe.steps 12 -> 14)" in message
    assert "student-s1 (built from 'teacher-s1', which is outdated)" in message
    assert "--rebuild-outdated" in message and "bias (" not in message
    assert hashes(zoo) == before
    manifest = Manifest.load(zoo / "checkpoints_manifest.yaml")
    with pytest.raises(ManifestError, match="student-s0"):
        ensure_built(manifest, ["student-s0"], build=False, what="`interp train`", **QUIET)


def test_rebuild_outdated_keeps_the_old_folders_and_rebuilds_the_dependents(zoo):
    before = hashes(zoo)
    write_manifest(
        zoo,
        MANIFEST.replace(
            "loss: poe, bias_model: bias, steps: 12", "loss: poe, bias_model: bias, steps: 14"
        ),
    )
    report = build_zoo(zoo / "checkpoints_manifest.yaml", rebuild_outdated=True, **QUIET)
    assert sorted(report.built) == ["student-s0", "student-s1", "teacher-s0", "teacher-s1"]
    after = hashes(zoo)
    assert after["bias"] == before["bias"]
    assert all(after[m] != before[m] for m in ("teacher-s0", "teacher-s1"))
    old = (zoo / "ckpt" / "teacher-s0.outdated" / "train.json").read_text()
    assert json.loads(old)["recipe"]["steps"] == 12
    assert stale(zoo) == {}
    # a second rebuild numbers its copy instead of replacing the first
    write_manifest(
        zoo,
        MANIFEST.replace(
            "loss: poe, bias_model: bias, steps: 12", "loss: poe, bias_model: bias, steps: 13"
        ),
    )
    build_zoo(zoo / "checkpoints_manifest.yaml", rebuild_outdated=True, **QUIET)
    for name, steps in (("teacher-s0.outdated", 12), ("teacher-s0.outdated.2", 14)):
        record = json.loads((zoo / "ckpt" / name / "train.json").read_text())
        assert record["recipe"]["steps"] == steps


def test_a_changed_data_setting_outdates_everything_built_on_it(zoo):
    write_manifest(zoo, MANIFEST.replace("n_train: 600", "n_train: 500"))
    found = stale(zoo)
    assert sorted(found) == ["bias", "student-s0", "student-s1", "teacher-s0", "teacher-s1"]
    assert found["bias"] == ["data.n_train 600 -> 500"]


def test_a_teacher_replaced_by_hand_outdates_its_students(zoo):
    ckpt = zoo / "ckpt"
    shutil.copy(
        ckpt / "teacher-s1" / "model.safetensors", ckpt / "teacher-s0" / "model.safetensors"
    )
    assert stale(zoo) == {"student-s0": ["'teacher-s0' was rebuilt since"]}


def test_a_recipe_field_the_build_did_not_record_counts_as_its_default(zoo):
    path = zoo / "ckpt" / "teacher-s0" / "train.json"
    record = json.loads(path.read_text())
    del record["recipe"]["data"], record["recipe"]["assistant"]
    path.write_text(json.dumps(record))
    assert stale(zoo) == {}
    record["recipe"]["assistant"] = "someone"
    path.write_text(json.dumps(record))
    assert stale(zoo)["teacher-s0"] == ["recipe.assistant 'someone' -> None"]
