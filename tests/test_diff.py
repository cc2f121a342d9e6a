"""Correspondence and circuit diff on a constructed teacher/student pair."""

import pytest
import torch

from interp.circuits import Circuit
from interp.diff import (
    CircuitDiff,
    Correspondence,
    depth_layer_map,
    diff_circuits,
    match_components,
)
from interp.models import HookedClassifier
from tests.conftest import padded_batch, tiny_config

PERMUTATION = [2, 0, 3, 1]  # student head i is teacher head PERMUTATION[i]


def permuted_student(teacher: HookedClassifier) -> HookedClassifier:
    student = HookedClassifier(teacher.cfg, seed=0).eval()
    student.load_state_dict(teacher.state_dict())
    with torch.no_grad():
        for t_block, s_block in zip(teacher.blocks, student.blocks):
            for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V"):
                getattr(s_block.attn, name)[:] = getattr(t_block.attn, name)[PERMUTATION]
    return student


def test_depth_layer_map_keeps_relative_depth():
    assert depth_layer_map(2, 4) == {0: 1, 1: 3}
    assert depth_layer_map(2, 3) == {0: 1, 1: 2}
    assert depth_layer_map(3, 3) == {0: 0, 1: 1, 2: 2}


def test_head_matching_recovers_a_permutation_of_heads():
    teacher = HookedClassifier(tiny_config(n_layers=2), seed=3).eval()
    student = permuted_student(teacher)
    batch = padded_batch()
    assert torch.allclose(teacher(batch), student(batch), atol=1e-5)
    correspondence = match_components(teacher, student, batch)
    for layer in range(2):
        for s_head, t_head in enumerate(PERMUTATION):
            assert correspondence.to_teacher(f"a{layer}.h{s_head}") == f"a{layer}.h{t_head}"
            assert correspondence.similarity[f"a{layer}.h{s_head}"] == pytest.approx(1.0, abs=1e-5)
        assert correspondence.to_teacher(f"m{layer}") == f"m{layer}"
    assert Correspondence.from_json(correspondence.to_json()) == correspondence


def test_the_diff_reports_exactly_the_shared_and_the_different_heads():
    teacher = HookedClassifier(tiny_config(n_layers=2), seed=3).eval()
    student = permuted_student(teacher)
    correspondence = match_components(teacher, student, padded_batch())
    teacher_circuit = Circuit(["a1.h0", "a1.h1", "m0"], {"a1.h0": 2.0, "a1.h1": 1.0, "m0": 1.0})
    # Student a1.h3 is teacher a1.h1 (shared); student a1.h2 is teacher a1.h3 (student only).
    student_circuit = Circuit(["a1.h3", "a1.h2", "m0"], {"a1.h3": 1.0, "a1.h2": 1.0, "m0": 2.0})
    diff = diff_circuits(teacher_circuit, student_circuit, correspondence)
    assert diff.shared == ["a1.h1", "m0"]
    assert diff.teacher_only == ["a1.h0"]
    assert diff.student_only == ["a1.h3"]
    # weights: teacher a1.h0 .5, a1.h1 .25, m0 .25; student a1.h1 .25, a1.h3 .25, m0 .5
    assert diff.weighted_overlap == pytest.approx((0.25 + 0.25) / (0.5 + 0.25 + 0.5 + 0.25))
    assert CircuitDiff.from_json(diff.to_json()) == diff
    same = diff_circuits(
        teacher_circuit,
        teacher_circuit,
        Correspondence({0: 0, 1: 1}, {n: n for n in teacher_circuit.nodes}),
    )
    assert same.weighted_overlap == pytest.approx(1.0) and not same.teacher_only
