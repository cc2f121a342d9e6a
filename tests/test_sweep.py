"""Sweeps: the grid expands into entries and pairs, --dry-run lists them, a tiny sweep builds,
evaluates and writes its report; bad sweeps are clear errors."""

import json

import pytest

from interp.cli import main
from interp.errors import ManifestError
from interp.manifest import Manifest

MANIFEST = """
version: 1
checkpoint_dir: ckpt
data:
  nli: {n_train: 600, n_in_distribution: 60, n_per_subcase: 4, n_negation: 12, n_augment: 20}
sweeps:
  - id: tiny
    methods: [poe]
    teachers: {t1: {n_layers: 1, d_model: 16, n_heads: 2, d_mlp: 32},
               t2: {n_layers: 2, d_model: 32, n_heads: 2, d_mlp: 64}}
    students: {s1: {n_layers: 1, d_model: 16, n_heads: 2, d_mlp: 32}}
    train_sizes: [300, 600]
    seeds: [0]
    teacher_steps: 10
    student_steps: 10
    params: {batch_size: 8}
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    path = root / "checkpoints_manifest.yaml"
    path.write_text(MANIFEST)
    return root, path


def test_a_sweep_expands_into_entries_pairs_and_factors(swept):
    _, path = swept
    manifest = Manifest.load(path)
    ids = [m.id for m in manifest.models]
    # per size: a bias model, a non-KD student, 2 teachers and 2 KD students
    assert len(ids) == 2 * (1 + 1 + 2 + 2)
    assert "tiny-poe-t2-n600-s0" in ids and "tiny-poe-t2-s1-n600-s0" in ids
    student = manifest.entry("tiny-poe-t2-s1-n600-s0")
    assert student.recipe.teacher == "tiny-poe-t2-n600-s0" and student.recipe.data == {
        "n_train": 600
    }
    assert manifest.data_for(student)["n_train"] == 600
    pair = manifest.comparison("tiny-poe-t1-s1-n300-s0")
    assert pair.factors == {"method": "poe", "teacher": "t1", "student": "s1", "train_size": 300}
    assert pair.baseline == "tiny-nokd-poe-s1-n300-s0"
    assert set(pair.suites) == {"lexical_overlap", "negation"}


def test_dry_run_lists_the_models_and_builds_nothing(swept, capsys):
    root, path = swept
    assert main(["sweep", "tiny", "--manifest", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "12 models" in out and "4 comparisons" in out and "0 exist, 12 to build" in out
    assert not (root / "ckpt").exists()


def test_a_tiny_sweep_builds_evaluates_and_reports(swept, capsys):
    root, path = swept
    common = ["--manifest", str(path), "--out", str(root / "reports"), "--bootstrap", "20"]
    assert main(["sweep", "tiny", *common, "--jobs", "1"]) == 0
    results = json.loads((root / "reports" / "sweep-tiny" / "results.json").read_text())
    rows = results["distillability"]
    assert {(r["teacher"], r["train_size"]) for r in rows} == {
        ("t1", 300),
        ("t1", 600),
        ("t2", 300),
        ("t2", 600),
    }
    big = next(r for r in rows if r["teacher"] == "t2")
    assert big["parameter_ratio"] > 1 and big["teacher_params"] > big["student_params"]
    assert {"D_mean", "D_ci_low", "C_mean", "bias_type"} <= set(big)
    page = (root / "reports" / "sweep-tiny" / "index.html").read_text()
    assert "Distillability against relative size" in page and "training-set size" in page
    # both claims per bias type, each with a verdict; one seed decides nothing
    claims = results["claims"]
    assert {c["tests"][0]["claim"] for c in claims} == {"similar scale", "amplification"}
    assert all(t["verdict"] == "not decided" for c in claims for t in c["tests"])
    assert "The two scale claims" in page and "Amplification (overlap): not decided" in page
    assert "Amplification (overlap, 300 training examples): not decided" in page
    assert "<script src=" not in page
    # the findings page takes a sweep's results beside studies'
    findings = root / "findings.md"
    results_path = root / "reports" / "sweep-tiny" / "results.json"
    assert main(["findings", f"Tiny sweep={results_path}", "--out", str(findings)]) == 0
    text = findings.read_text()
    assert "## Tiny sweep" in text and "### The two scale claims" in text
    assert "| overlap | t2 | s1 | 600 |" in text and "Sweep `tiny`" in text
    assert main(["sweep", "tiny", *common, "--dry-run"]) == 0
    assert "12 exist, 0 to build" in capsys.readouterr().out
    assert main(["sweep", "tiny", *common, "--report"]) == 0  # no build, the same tables


def test_a_bad_sweep_names_the_sweep_and_the_field(tmp_path):
    raw = {
        "sweeps": [
            {
                "id": "s",
                "methods": ["kd"],
                "teachers": {"t": "teacher"},
                "students": {"s": "student-small"},
                "train_sizes": [10],
            }
        ]
    }
    with pytest.raises(ManifestError, match="sweep 's': field 'methods.0'"):
        Manifest.from_dict(raw)
    with pytest.raises(ManifestError, match="no sweep 'nope'"):
        Manifest.from_dict({}).sweep("nope")


def test_a_sweep_of_the_augmentation_method_trains_teacher_and_baseline_with_augment():
    from interp.manifest import Manifest

    sweep = {
        "id": "sw",
        "methods": ["augment"],
        "teachers": {"t1": "teacher"},
        "students": {"s1": "student-small"},
        "train_sizes": [1000],
        "seeds": [0, 1],
    }
    manifest = Manifest.from_dict({"version": 1, "models": [], "sweeps": [sweep]})
    recipes = {e.id: e.recipe for e in manifest.models}
    teacher, baseline = recipes["sw-augment-t1-n1000-s1"], recipes["sw-nokd-augment-s1-n1000-s1"]
    assert (teacher.loss, teacher.fix, teacher.bias_model) == ("erm", "augment", None)
    assert (baseline.loss, baseline.fix) == ("erm", "augment")
    assert recipes["sw-augment-t1-s1-n1000-s1"].teacher == "sw-augment-t1-n1000-s1"
