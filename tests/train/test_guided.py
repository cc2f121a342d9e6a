"""Circuit-guided distillation: the assignment, both losses, their gradients, and a recipe."""

import json
import textwrap

import pytest
import torch

from interp.manifest import Manifest
from interp.models import HookedClassifier, load
from interp.train.guided import (
    AttentionGuide,
    CausalGuide,
    Guidance,
    assign_components,
    interchange_loss,
)
from interp.train.zoo import BuildFailed, build_zoo
from tests.conftest import padded_batch, tiny_config


def guidance(kind, assignment, weight=1.0):
    return Guidance(
        kind, "t", "lexical_overlap", list(assignment), None, assignment, weight, "depth"
    )


def test_assignment_maps_layers_by_depth_or_copy_and_heads_in_order():
    circuit = ["a0.h5", "a0.h2", "a2.h1", "m0", "m2", "a1.h7"]
    by_depth = assign_components(circuit, n_teacher_layers=3, n_student_layers=2, n_student_heads=4)
    # depth map: student 0 -> teacher 1, student 1 -> teacher 2; teacher 0 is nearest student 0
    assert by_depth == {
        "a0.h2": "a0.h0",
        "a0.h5": "a0.h1",
        "a1.h7": "a0.h2",
        "a2.h1": "a1.h0",
        "m0": "m0",
        "m2": "m1",
    }
    copied = assign_components(circuit, 3, 2, 4, layer_map={0: 0, 1: 2})
    assert copied["a0.h2"] == "a0.h0" and copied["a2.h1"] == "a1.h0" and copied["m2"] == "m1"
    assert copied["a1.h7"] == "a0.h2"  # teacher layer 1 is as near 0 as 2: the lower one
    wrapped = assign_components([f"a0.h{h}" for h in range(6)], 1, 1, n_student_heads=4)
    assert [wrapped[f"a0.h{h}"] for h in range(6)] == [f"a0.h{h}" for h in (0, 1, 2, 3, 0, 1)]
    with pytest.raises(ValueError, match="is not a head"):
        assign_components(["embed"], 1, 1, 2)


def test_the_interchange_loss_is_zero_for_a_copy_with_the_identity_assignment():
    teacher = HookedClassifier(tiny_config(), seed=0).eval()
    student = HookedClassifier(tiny_config(), seed=0)
    student.load_state_dict(teacher.state_dict())
    base = padded_batch(seed=1)
    source = padded_batch(seed=2)
    for node in ("a0.h1", "a1.h3", "m0", "m1"):
        loss = interchange_loss(teacher, student, base, source, node, node)
        assert float(loss.detach()) == pytest.approx(0.0, abs=1e-10)
    other = HookedClassifier(tiny_config(), seed=1)
    assert float(interchange_loss(teacher, other, base, source, "a0.h1", "a0.h1").detach()) > 1e-4
    # the intervention moves the output: it is not a plain KD term in disguise
    from interp.train.guided import interchange

    with torch.no_grad():
        assert not torch.allclose(interchange(teacher, base, source, "m0"), teacher(base))


def test_attention_transfer_reaches_only_the_assigned_heads_and_what_is_below():
    teacher = HookedClassifier(tiny_config(), seed=0).eval()
    student = HookedClassifier(tiny_config(), seed=1)
    guide = AttentionGuide(teacher, guidance("attention", {"a1.h0": "a1.h2"}))
    logits, loss = guide(student, padded_batch(), step=0)
    assert loss > 0 and logits.shape == (3, 2)
    loss.backward()
    attn = student.blocks[1].attn
    d_head = student.cfg.d_head
    for name in ("q_weight", "k_weight"):
        grad = getattr(attn, name).grad.view(student.cfg.d_model, student.cfg.n_heads, d_head)
        assert grad[:, 2].abs().sum() > 0  # the assigned head's queries and keys
        assert grad[:, [0, 1, 3]].abs().sum() == 0  # no other head of its layer
    for name in ("v_weight", "o_weight"):  # values and outputs do not shape a pattern
        assert getattr(attn, name).grad is None or getattr(attn, name).grad.abs().sum() == 0
    layer_above_mlp = student.blocks[1].mlp.W_in.grad
    assert layer_above_mlp is None or layer_above_mlp.abs().sum() == 0
    assert student.blocks[0].mlp.W_in.grad.abs().sum() > 0  # below: it feeds the pattern
    assert student.head.classifier.weight.grad is None or (
        student.head.classifier.weight.grad.abs().sum() == 0
    )
    assert not any(hp._forward_hooks for hp in student.hook_dict.values())


def test_a_guide_leaves_no_hook_after_an_error():
    teacher = HookedClassifier(tiny_config(), seed=0).eval()
    student = HookedClassifier(tiny_config(n_layers=1), seed=1)
    guide = CausalGuide(teacher, guidance("causal", {"a1.h0": "a3.h0"}))  # no student layer 3
    with pytest.raises((KeyError, IndexError, ValueError, AttributeError)):
        guide(student, padded_batch(), step=0)
    for model in (teacher, student):
        assert not any(hp._forward_hooks for hp in model.hook_dict.values())


VIT = "{n_layers: 2, d_model: 16, n_heads: 2, d_mlp: 32}"
SMALLER_VIT = "{n_layers: 1, d_model: 16, n_heads: 2, d_mlp: 32}"
TRAIN = "params: {batch_size: 32, lr: 3.0e-3"
MANIFEST = f"""
version: 1
checkpoint_dir: ckpt
models:
  - {{id: teacher, role: teacher, task: digits,
     recipe: {{arch: {VIT}, loss: erm, steps: 150, {TRAIN}}}}}}}
  - {{id: attention, role: student, task: digits,
     recipe: {{arch: {SMALLER_VIT}, loss: kd+attention, teacher: teacher, steps: 20,
              {TRAIN}, guide_suite: colour_conflicting, guide_target: 0.8}}}}}}
  - {{id: causal, role: student, task: digits,
     recipe: {{arch: {SMALLER_VIT}, loss: kd+causal, teacher: teacher, steps: 20,
              {TRAIN}, guide_circuit: "a1.h1,m0", guide_weight: 2.0}}}}}}
  - {{id: from-results, role: student, task: digits,
     recipe: {{arch: {SMALLER_VIT}, loss: kd+attention, teacher: teacher, steps: 5,
              {TRAIN}, guide_suite: "marker_conflicting,colour_conflicting",
              guide_results: reports/study-all-s0/results.json}}}}}}
  - {{id: missing-results, role: student, task: digits,
     recipe: {{arch: {SMALLER_VIT}, loss: kd+attention, teacher: teacher, steps: 5,
              {TRAIN}, guide_suite: colour_conflicting, guide_results: nowhere.json}}}}}}
pairs:
  - {{id: guided, teacher: teacher, student: attention, suites: [colour_conflicting]}}
"""


def test_guided_recipes_train_end_to_end_and_record_their_assignment(tmp_path):
    path = tmp_path / "checkpoints_manifest.yaml"
    path.write_text(textwrap.dedent(MANIFEST))
    build_zoo(path, only=["teacher", "attention", "causal"])
    manifest = Manifest.load(path)
    found = json.loads((manifest.location("attention") / "train.json").read_text())["guidance"]
    assert found["kind"] == "attention" and found["suite"] == "colour_conflicting"
    assert found["teacher_circuit"] and found["faithfulness"] >= 0.8 - 1e-9
    assert set(found["assignment"]) == set(found["teacher_circuit"])
    assert all(n.startswith(("a0.", "m0")) for n in found["assignment"].values())
    given = load("causal", manifest=manifest).meta["guidance"]
    assert given["assignment"] == {"a1.h1": "a0.h0", "m0": "m0"} and given["weight"] == 2.0
    assert given["faithfulness"] is None  # given, not found

    from interp.study import StudyConfig, run_study

    cfg = StudyConfig(
        manifest=str(path),
        tags=[],
        out=str(tmp_path / "reports"),
        n_pairs=8,
        bootstrap=20,
        jobs=1,
        build=False,
    )
    report = run_study(cfg, progress=False)
    results = json.loads((report.parent / "results.json").read_text())
    part = results["pairs"][0]["suites"]["colour_conflicting"]
    rows = part["guidance"]["assigned"]
    assert {r["teacher component"]: r["assigned student component"] for r in rows} == found[
        "assignment"
    ]
    correspondence = part["diff"]["extra"]["correspondence"]
    assert correspondence["extra"]["layer_map_rule"] == "guided"
    assert correspondence["layer_map"] == {"0": 0}  # the teacher layer its components came from
    node_map = correspondence["node_map"]
    for row in rows:
        assert row["took the role"] == (
            node_map[row["assigned student component"]] == row["teacher component"]
        )
    assert "did the assigned components take the role?" in report.read_text(encoding="utf-8")

    # a student guided by the circuit the study found (read from its results.json)
    build_zoo(path, only=["from-results"])
    read = load("from-results", manifest=manifest).meta["guidance"]
    teacher_circuit = part["teacher"]["circuit"]
    assert read["suite"] == "colour_conflicting"  # the study did not analyse marker_conflicting
    # guidance assigns whole nodes: the study's units at positions join their node
    nodes = list(dict.fromkeys(n.split("@")[0] for n in teacher_circuit["nodes"]))
    assert read["teacher_circuit"] == nodes
    assert read["faithfulness"] == teacher_circuit["meta"]["faithfulness"]
    with pytest.raises(BuildFailed, match="nowhere.json: cannot be read as study results"):
        build_zoo(path, only=["missing-results"])
