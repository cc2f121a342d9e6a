"""The checkpoints manifest: schema, reference checks, resolution and hashes."""

import textwrap

import pytest

from interp.errors import CheckpointError, ManifestError
from interp.manifest import Manifest, sha256_of
from interp.models import load, save_checkpoint

GOOD = """
version: 1
checkpoint_dir: ckpts
models:
  - id: poe-teacher
    role: teacher
    task: nli
    recipe: {arch: teacher, loss: poe, bias_model: bias-nli, seed: 0}
  - id: bias-nli
    role: bias_model
    task: nli
    recipe: {arch: features, loss: erm}
  - id: kd-student-poe
    role: student
    task: nli
    recipe: {arch: student-small, loss: kd, teacher: poe-teacher, seed: 0}
  - id: local
    role: teacher
    task: nli
    path: models/local
pairs:
  - id: poe
    teacher: poe-teacher
    student: kd-student-poe
    suites: [lexical_overlap]
"""


def write(tmp_path, text):
    path = tmp_path / "checkpoints_manifest.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_valid_manifest_loads_and_resolves_locations(tmp_path):
    manifest = Manifest.load(write(tmp_path, GOOD))
    assert [m.id for m in manifest.models][:3] == ["poe-teacher", "bias-nli", "kd-student-poe"]
    assert manifest.location("poe-teacher") == tmp_path / "ckpts" / "poe-teacher"
    assert manifest.location("local") == tmp_path / "models" / "local"
    assert manifest.comparison("poe").student == "kd-student-poe"
    assert not manifest.exists("local")


def test_a_bad_reference_names_the_entry_and_the_field(tmp_path):
    text = GOOD.replace("teacher: poe-teacher, seed", "teacher: poe-teachr, seed")
    with pytest.raises(ManifestError) as err:
        Manifest.load(write(tmp_path, text))
    assert (
        "manifest entry 'kd-student-poe': field 'recipe.teacher' names 'poe-teachr', "
        "which is not defined" in str(err.value)
    )


def test_a_pair_naming_an_unknown_model_is_an_error(tmp_path):
    text = GOOD.replace("student: kd-student-poe", "student: ghost")
    with pytest.raises(ManifestError, match="pair 'poe': field 'student' names 'ghost'"):
        Manifest.load(write(tmp_path, text))


def test_unknown_fields_are_errors_that_name_entry_and_field(tmp_path):
    text = GOOD.replace("    task: nli\n    path: models/local", "    task: nli\n    pth: x")
    with pytest.raises(ManifestError, match="manifest entry 'local': field 'pth': unknown field"):
        Manifest.load(write(tmp_path, text))


def test_unknown_loss_is_an_error(tmp_path):
    text = GOOD.replace("loss: poe,", "loss: focal,")
    with pytest.raises(ManifestError, match="'poe-teacher': field 'recipe.loss'.*unknown loss"):
        Manifest.load(write(tmp_path, text))


def test_duplicate_ids_and_path_with_recipe_are_errors(tmp_path):
    text = GOOD.replace("id: local", "id: bias-nli")
    with pytest.raises(ManifestError, match="'bias-nli' is defined 2 times"):
        Manifest.load(write(tmp_path, text))
    text = GOOD.replace(
        "path: models/local", "path: models/local\n    recipe: {arch: a, loss: erm}"
    )
    with pytest.raises(ManifestError, match="exactly one of 'path' and 'recipe'"):
        Manifest.load(write(tmp_path, text))


def test_malformed_yaml_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(ManifestError, match="not valid YAML"):
        Manifest.load(write(tmp_path, "models: [\n"))
    with pytest.raises(ManifestError, match="no such manifest file"):
        Manifest.load(tmp_path / "nope.yaml")


def test_missing_checkpoint_and_hash_mismatch_are_clear_errors(tmp_path, tiny_model):
    manifest = Manifest.load(write(tmp_path, GOOD))
    with pytest.raises(CheckpointError, match="'local': no checkpoint at"):
        load("local", manifest=manifest)
    with pytest.raises(CheckpointError, match="run `interp train`"):
        load("poe-teacher", manifest=manifest)
    folder = save_checkpoint(tiny_model, tmp_path / "models" / "local")
    assert load("local", manifest=manifest).cfg.n_layers == 2
    digest = sha256_of(folder / "model.safetensors")
    text = GOOD.replace("path: models/local", f"path: models/local\n    sha256: {digest}")
    assert load("local", manifest=Manifest.load(write(tmp_path, text))) is not None
    wrong = GOOD.replace("path: models/local", f"path: models/local\n    sha256: '{'0' * 64}'")
    with pytest.raises(CheckpointError, match="has sha256 .* the manifest expects"):
        load("local", manifest=Manifest.load(write(tmp_path, wrong)))


def test_unknown_id_lists_the_known_ones(tmp_path):
    manifest = Manifest.load(write(tmp_path, GOOD))
    with pytest.raises(ManifestError, match="no manifest entry 'x' .*poe-teacher"):
        manifest.entry("x")


def test_seeds_expand_into_one_entry_per_seed_with_matching_references(tmp_path):
    text = """
    models:
      - {id: bias, role: bias_model, task: nli, recipe: {arch: features, loss: erm}}
      - {id: t, role: teacher, task: nli, seeds: [0, 2], recipe: {arch: teacher, loss: erm}}
      - {id: s, role: student, task: nli, seeds: [0, 2],
         recipe: {arch: student-small, loss: kd+poe, teacher: t, bias_model: bias}}
    pairs:
      - {id: p, teacher: t, student: s, suites: [negation], seeds: [0, 2]}
    """
    manifest = Manifest.load(write(tmp_path, text))
    assert [m.id for m in manifest.models] == ["bias", "t-s0", "t-s2", "s-s0", "s-s2"]
    student = manifest.entry("s-s2")
    assert (student.recipe.seed, student.recipe.teacher, student.recipe.bias_model) == (
        2,
        "t-s2",
        "bias",
    )
    assert student.seed_group == "s"
    assert [(p.id, p.teacher, p.student) for p in manifest.pairs] == [
        ("p-s0", "t-s0", "s-s0"),
        ("p-s2", "t-s2", "s-s2"),
    ]


def test_a_seeded_entry_name_selects_its_copies_and_is_not_an_entry(tmp_path):
    from interp.train.zoo import select

    text = """
    models:
      - {id: bias, role: bias_model, task: nli, recipe: {arch: features, loss: erm}}
      - {id: t, role: teacher, task: nli, seeds: [0, 2], recipe: {arch: teacher, loss: erm}}
    """
    manifest = Manifest.load(write(tmp_path, text))
    assert select(manifest, ["t", "bias", "t-s0"], None) == ["t-s0", "t-s2", "bias"]
    assert select(manifest, ["t"], None, seed=2) == ["t-s2"]
    with pytest.raises(ManifestError, match="'t' has no copy for seed 1"):
        select(manifest, ["t"], None, seed=1)
    with pytest.raises(ManifestError, match="'t' has one entry per seed: t-s0, t-s2"):
        manifest.entry("t")


def test_an_unknown_id_in_a_long_manifest_names_the_closest_ones(tmp_path):
    lines = [f"  - {{id: model-{i}, role: teacher, task: nli, path: m{i}}}" for i in range(30)]
    manifest = Manifest.load(write(tmp_path, "models:\n" + "\n".join(lines) + "\n"))
    with pytest.raises(ManifestError) as error:
        manifest.entry("model-7x")
    assert "closest: model-7" in str(error.value) and "30 known" in str(error.value)
    assert "model-29" not in str(error.value)


def test_bad_seeds_are_a_clear_error(tmp_path):
    text = (
        "models:\n  - {id: t, role: teacher, task: nli, seeds: 3, recipe: {arch: a, loss: erm}}\n"
    )
    with pytest.raises(ManifestError, match="'t': field 'seeds' must be a non-empty list"):
        Manifest.load(write(tmp_path, text))


def test_the_repository_manifest_is_valid():
    from pathlib import Path

    manifest = Manifest.load(Path(__file__).resolve().parents[1] / "checkpoints_manifest.yaml")
    assert {"poe-s0", "erm-s0"} <= {p.id for p in manifest.pairs}
    assert manifest.exists("minilm-l6")


def test_pair_controls_follow_the_seed_are_checked_and_are_evaluated_with_the_pair(tmp_path):
    from interp.study import comparison_models

    text = """
    models:
      - {id: t, role: teacher, task: nli, seeds: [0, 2], recipe: {arch: teacher, loss: erm}}
      - {id: long, role: teacher, task: nli, seeds: [0, 2], recipe: {arch: teacher, loss: erm}}
      - {id: plain, role: teacher, task: nli, recipe: {arch: teacher, loss: erm}}
      - {id: s, role: student, task: nli, seeds: [0, 2],
         recipe: {arch: student-small, loss: kd, teacher: t}}
      - {id: v, role: teacher, task: digits, recipe: {arch: vit-teacher, loss: erm}}
    pairs:
      - {id: p, teacher: t, student: s, controls: [long, plain], suites: [negation],
         seeds: [0, 2]}
    """
    manifest = Manifest.load(write(tmp_path, text))
    assert manifest.comparison("p-s2").controls == ["long-s2", "plain"]
    assert comparison_models(manifest, manifest.pairs, [0, 2]) == [
        "t-s0", "t-s2", "s-s0", "s-s2", "long-s0", "long-s2", "plain"
    ]  # fmt: skip
    with pytest.raises(ManifestError, match="pair 'p-s0': field 'controls' names 'ghost'"):
        Manifest.load(write(tmp_path, text.replace("[long, plain]", "[ghost]")))
    with pytest.raises(ManifestError, match="teacher 't-s0' is a nli model but controls 'v'"):
        Manifest.load(write(tmp_path, text.replace("[long, plain]", "[v]")))
