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
from tests.conftest import blank_model, padded_batch, tiny_config

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
    assert Correspondence.model_validate_json(correspondence.to_json()) == correspondence


def test_the_diff_reports_exactly_the_shared_and_the_different_heads():
    teacher = HookedClassifier(tiny_config(n_layers=2), seed=3).eval()
    student = permuted_student(teacher)
    correspondence = match_components(teacher, student, padded_batch())
    teacher_circuit = Circuit(
        nodes=["a1.h0", "a1.h1", "m0"], scores={"a1.h0": 2.0, "a1.h1": 1.0, "m0": 1.0}
    )
    # Student a1.h3 is teacher a1.h1 (shared); student a1.h2 is teacher a1.h3 (student only).
    student_circuit = Circuit(
        nodes=["a1.h3", "a1.h2", "m0"], scores={"a1.h3": 1.0, "a1.h2": 1.0, "m0": 2.0}
    )
    diff = diff_circuits(teacher_circuit, student_circuit, correspondence)
    assert diff.shared == ["a1.h1", "m0"]
    assert diff.teacher_only == ["a1.h0"]
    assert diff.student_only == ["a1.h3"]
    # weights: teacher a1.h0 .5, a1.h1 .25, m0 .25; student a1.h1 .25, a1.h3 .25, m0 .5
    assert diff.weighted_overlap == pytest.approx((0.25 + 0.25) / (0.5 + 0.25 + 0.5 + 0.25))
    assert CircuitDiff.model_validate_json(diff.to_json()).to_json() == diff.to_json()
    same = diff_circuits(
        teacher_circuit,
        teacher_circuit,
        Correspondence(layer_map={0: 0, 1: 1}, node_map={n: n for n in teacher_circuit.nodes}),
    )
    assert same.weighted_overlap == pytest.approx(1.0) and not same.teacher_only


# ------------------------------------------------ discovered circuits of two hand-built models
def routed_model(writers: dict[int, int]) -> HookedClassifier:
    """One layer, three heads; head h attends from position 0 to position h + 1 and, if it is a
    writer, copies that token's sign into the direction the classifier reads.

    `writers` maps head -> output dimension. Tokens: 1 marks position 0, 2 is +, 3 is -.
    """
    model = blank_model(d_model=16, n_heads=3, d_head=4, labels=["plus", "minus"], vocab_size=4)
    with torch.no_grad():
        model.W_E[2, 0], model.W_E[3, 0] = 1.0, -1.0
        for position in range(4):
            model.W_pos[position, 4 + position] = 1.0
        attn = model.blocks[0].attn
        for head in range(3):
            attn.W_Q[head, 4, 0] = 6.0  # the query at position 0
            attn.W_K[head, 5 + head, 0] = 6.0  # the key at position head + 1
            attn.W_V[head, 0, 1] = 1.0  # the token's sign
            if head in writers:
                attn.W_O[head, 1, writers[head]] = 1.0
        for dim in set(writers.values()):
            model.head.classifier.weight[0, dim] = 4.0
            model.head.classifier.weight[1, dim] = -4.0
    return model


def test_the_diff_of_discovered_circuits_names_the_shared_and_the_changed_heads():
    from interp.analysis import analyse_model
    from interp.contrast import ContrastPairs
    from interp.diff import compare_models
    from interp.models import Batch

    teacher = routed_model({0: 8, 1: 9})  # heads 0 and 1 decide
    student = routed_model({0: 8, 2: 10})  # heads 0 and 2 decide; head 1 attends but is silent
    clean = Batch(input_ids=torch.tensor([[1, 2, 2, 2]] * 3))
    corrupt = Batch(input_ids=torch.tensor([[1, 3, 3, 3]] * 3))
    pairs = ContrastPairs(
        clean, corrupt, torch.zeros(3, dtype=torch.long), torch.ones(3, dtype=torch.long), []
    )
    assert (teacher(clean).argmax(-1) == 0).all() and (student(corrupt).argmax(-1) == 1).all()
    t_analysis = analyse_model(teacher, "teacher", "routed", pairs, target=0.9, units="node")
    s_analysis = analyse_model(student, "student", "routed", pairs, target=0.9, units="node")
    assert sorted(t_analysis.circuit.nodes) == ["a0.h0", "a0.h1"]
    assert sorted(s_analysis.circuit.nodes) == ["a0.h0", "a0.h2"]
    diff = compare_models(teacher, student, t_analysis, s_analysis, pairs, pairs)
    assert diff.extra.correspondence.node_map == {
        "a0.h0": "a0.h0",
        "a0.h1": "a0.h1",
        "a0.h2": "a0.h2",
        "m0": "m0",
    }
    assert diff.shared == ["a0.h0"]
    assert diff.teacher_only == ["a0.h1"]
    assert diff.student_only == ["a0.h2"]
    cross = diff.extra.cross_faithfulness
    # On the student, the teacher's circuit keeps a0.h0 but not a0.h2: part of the behaviour.
    assert 0.2 < cross.teacher_circuit_on_student < 0.8
    assert 0.2 < cross.student_circuit_on_teacher < 0.8
    assert CircuitDiff.model_validate_json(diff.to_json()).to_json() == diff.to_json()


def test_the_behaviour_layer_map_keeps_order_and_maximises_similarity():
    from interp.diff import behaviour_layer_map

    assert behaviour_layer_map(torch.tensor([[0.9, 0.2, 0.1], [0.1, 0.3, 0.8]])) == {0: 0, 1: 2}
    # 0 -> 1 and 1 -> 1 would score more, but layers must stay in order.
    assert behaviour_layer_map(torch.tensor([[0.1, 0.9, 0.8], [0.1, 0.95, 0.2]])) == {0: 1, 1: 2}


def test_a_student_built_from_teacher_layers_maps_onto_them():
    from interp.train.recipes import teacher_init

    teacher = HookedClassifier(tiny_config(n_layers=3), seed=3).eval()
    student = HookedClassifier(tiny_config(n_layers=2), seed=4).eval()
    teacher_init(student, teacher)  # student layers are teacher layers 0 and 2
    batch = padded_batch()
    behaviour = match_components(teacher, student, batch)
    assert behaviour.layer_map[0] == 0
    assert behaviour.similarity["a0.h0"] == pytest.approx(1.0, abs=1e-5)
    depth = match_components(teacher, student, batch, layer_map="depth")
    assert depth.layer_map == depth_layer_map(2, 3) == {0: 1, 1: 2}
    assert behaviour.extra.depth_layer_map == {0: 1, 1: 2}


def test_a_teacher_initialised_student_maps_to_the_layers_it_was_copied_from():
    from interp.train.recipes import teacher_init

    teacher = HookedClassifier(tiny_config(n_layers=4), seed=3).eval()
    student = HookedClassifier(tiny_config(n_layers=2), seed=4).eval()
    teacher_init(student, teacher)
    with torch.no_grad():  # training moves the copied layers away from their origin
        student.blocks[1].attn.q_weight.copy_(teacher.blocks[1].attn.q_weight)
        student.blocks[1].attn.k_weight.copy_(teacher.blocks[1].attn.k_weight)
    batch = padded_batch()
    unknown = match_components(teacher, student, batch)
    assert unknown.extra.layer_map_rule == "behaviour"
    assert unknown.extra.init_layer_map is None
    with pytest.raises(ValueError, match="teacher_init"):
        match_components(teacher, student, batch, layer_map="init")

    teacher.meta = {"id": "teacher-s0"}
    # The map is read from the student's training record, as `build_model` writes it.
    student.meta = {"init": {"teacher": "teacher-s0", "layer_map": {"0": 0, "1": 2}}}
    recorded = match_components(teacher, student, batch)
    assert recorded.extra.layer_map_rule == "init"
    assert recorded.layer_map == {0: 0, 1: 2}
    assert recorded.node_map["m1"] == "m2"
    assert recorded.extra.behaviour_layer_map == unknown.extra.behaviour_layer_map
    assert match_components(teacher, student, batch, layer_map="behaviour").layer_map == (
        unknown.layer_map
    )

    student.meta = {"init": {"teacher": "another-teacher", "layer_map": {"0": 0, "1": 2}}}
    assert match_components(teacher, student, batch).extra.layer_map_rule == "behaviour"


def test_a_mapped_position_circuit_without_the_readout_is_named_in_the_verdict():
    from interp.diff import readout_note

    assert "0 by construction" in readout_note("teacher", ["a1.h2@rest", "m0@rest"], 3)
    assert "last layer (2)" in readout_note("student", ["a0.h1@cls", "m1@rest"], 3)
    assert readout_note("student", ["a2.h1@cls"], 3) is None
    assert readout_note("teacher", ["a0.h1", "m2"], 3) is None  # whole nodes reach [CLS]
