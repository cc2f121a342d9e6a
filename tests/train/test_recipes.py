"""Recipes, fixes and the zoo builder on a tiny manifest."""

import textwrap

import pytest
import torch

from interp.errors import ManifestError
from interp.evaluate import evaluate_manifest
from interp.manifest import Manifest
from interp.models import HookedClassifier, load
from interp.train.recipes import make_objective, teacher_init
from interp.train.zoo import build_order, build_zoo
from tests.conftest import tiny_config

TINY = "{n_layers: 2, d_model: 16, n_heads: 2, d_mlp: 32}"
MANIFEST = f"""
version: 1
checkpoint_dir: ckpt
data:
  nli: {{n_train: 600, n_in_distribution: 100, n_per_subcase: 6, n_negation: 30, n_augment: 50}}
models:
  - {{id: bias, role: bias_model, task: nli, recipe: {{arch: features, loss: erm}}}}
  - {{id: teacher, role: teacher, task: nli, seeds: [0, 1],
     recipe: {{arch: {TINY}, loss: poe, bias_model: bias, steps: 3, params: {{batch_size: 8}}}}}}
  - {{id: student, role: student, task: nli, seeds: [0, 1],
     recipe: {{arch: {TINY}, loss: kd, teacher: teacher, steps: 3, params: {{batch_size: 8}}}}}}
  - {{id: alone, role: student, task: nli, seeds: [0, 1],
     recipe: {{arch: {TINY}, loss: nokd+poe, bias_model: bias, steps: 3,
              params: {{batch_size: 8}}}}}}
  - {{id: copy, role: student, task: nli,
     recipe: {{arch: {{n_layers: 1, d_model: 16, n_heads: 2, d_mlp: 32}}, loss: kd,
              teacher: teacher-s1, fix: teacher_init, steps: 3, params: {{batch_size: 8}}}}}}
pairs:
  - {{id: poe, teacher: teacher, student: student, baseline: alone,
     suites: [lexical_overlap], seeds: [0, 1]}}
"""


def test_teacher_init_copies_embeddings_every_other_layer_and_head():
    teacher = HookedClassifier(tiny_config(n_layers=4), seed=1)
    student = HookedClassifier(tiny_config(n_layers=2), seed=2)
    teacher_init(student, teacher)
    s, t = student.state_dict(), teacher.state_dict()
    assert torch.equal(s["W_E"], t["W_E"]) and torch.equal(
        s["head.classifier.weight"], t["head.classifier.weight"]
    )
    assert torch.equal(s["blocks.0.attn.q_weight"], t["blocks.0.attn.q_weight"])
    assert torch.equal(s["blocks.1.mlp.W_in"], t["blocks.2.mlp.W_in"])


def test_teacher_init_refuses_another_width():
    with pytest.raises(ValueError, match="teacher's width"):
        teacher_init(
            HookedClassifier(tiny_config(d_model=32), seed=0),
            HookedClassifier(tiny_config(), seed=0),
        )


def test_kd_objective_uses_the_teacher_logits_of_each_example():
    from interp.losses import erm_loss, kd_loss
    from interp.manifest import Recipe

    teacher_logits = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    recipe = Recipe(
        arch="teacher", loss="kd", teacher="t", params={"temperature": 3.0, "alpha": 0.25}
    )
    objective = make_objective(recipe, None, None, teacher_logits)
    logits, gold, index = torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), torch.tensor([7, 1, 3, 9])
    expected = kd_loss(logits, teacher_logits[index], erm_loss(logits, gold), 3.0, 0.25)
    assert torch.isclose(objective(logits, gold, index), expected)


def test_a_recipe_cycle_is_a_clear_error(tmp_path):
    text = """
    models:
      - {id: a, role: student, task: nli, recipe: {arch: teacher, loss: kd, teacher: b}}
      - {id: b, role: student, task: nli, recipe: {arch: teacher, loss: kd, teacher: a}}
    """
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ManifestError, match="cycle"):
        build_order(Manifest.load(path), ["a"])


def test_the_zoo_builds_in_dependency_order_skips_what_exists_and_evaluates(tmp_path):
    path = tmp_path / "checkpoints_manifest.yaml"
    path.write_text(MANIFEST)
    manifest = Manifest.load(path)
    assert build_order(manifest, ["student-s1"]) == ["bias", "teacher-s1", "student-s1"]
    logs = []
    built = build_zoo(path, log=logs.append).built
    assert built.index("bias") < built.index("teacher-s0") < built.index("student-s0")
    assert len(built) == 8
    assert load("student-s1", manifest=manifest).meta["recipe"]["seed"] == 1
    # A student started from the teacher's layers records which (the diff reads it back).
    assert load("copy", manifest=manifest).meta["init"] == {
        "fix": "teacher_init",
        "teacher": "teacher-s1",
        "layer_map": {"0": 0},
    }
    assert build_zoo(path, log=logs.append).built == []
    tables = evaluate_manifest(manifest, [m.id for m in manifest.models], n_bootstrap=50)
    row = tables["distillability"].set_index("bias_type").loc["overlap"]
    suites = tables["suites"].set_index(["model", "suite"])["accuracy"]
    assert row["seeds"] == 2
    examples = tables["examples"]
    conflicting = examples[
        (examples["suite"].isin(["lexical_overlap", "subsequence", "constituent"]))
        & (examples["bias_aligned"] == False)  # noqa: E712
    ]
    by_model = conflicting.groupby("model")["correct"].mean()
    expected = (
        (by_model["student-s0"] - by_model["teacher-s0"])
        + (by_model["student-s1"] - by_model["teacher-s1"])
    ) / 2
    assert row["D_mean"] == pytest.approx(expected)
    assert row["D_ci_low"] <= row["D_mean"] <= row["D_ci_high"]
    assert ("teacher-s0", "in_distribution") in suites.index
