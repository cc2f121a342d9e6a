"""Circuits against chance and for specificity, on models wired by hand, and MIB's scores."""

import numpy as np
import pytest
import torch

from interp.chance import chance_baseline, random_circuits
from interp.circuits import (
    circuit_metric,
    denoise_units,
    faithfulness,
    faithfulness_interval,
    faithfulness_rows,
    mib_scores,
)
from interp.contrast import ContrastPairs
from interp.models import Batch
from interp.patching import logit_diff, patch_components
from interp.seeding import rng_for
from interp.specificity import ExampleSet, specificity
from interp.units import unit_names
from tests.conftest import blank_model
from tests.models.test_hooked import no_hooks_left

A, B, NEUTRAL = 2, 3, 1  # token ids: A and B carry the label, NEUTRAL carries nothing


def copy_heads_model(n_heads: int, sources: dict[int, int]):
    """One layer of `n_heads` heads of width 1; head h in `sources` copies the token at position
    sources[h] into [CLS] and writes it where the classifier reads; every other head is silent.

    Directions: tokens A = e0 - e1, B = -(e0 - e1); position p marks e(2 + p); heads write
    e6 - e7; the label is 'yes' when the copied token is A."""
    model = blank_model(d_model=n_heads, n_heads=n_heads, labels=["yes", "no"], vocab_size=4)
    with torch.no_grad():
        model.W_E[A, 0], model.W_E[A, 1] = 1.0, -1.0
        model.W_E[B, 0], model.W_E[B, 1] = -1.0, 1.0
        for position in range(4):
            model.W_pos[position, 2 + position] = 1.0
        attn = model.blocks[0].attn
        for head, position in sources.items():
            attn.W_Q[head, 2, 0], attn.W_K[head, 2 + position, 0] = 3.0, 3.0
            attn.W_V[head, 0, 0], attn.W_O[head, 0, 6], attn.W_O[head, 0, 7] = 1.0, 1.0, -1.0
        model.head.classifier.weight[0, 6], model.head.classifier.weight[0, 7] = 2.0, -2.0
        model.head.classifier.weight[1, 6], model.head.classifier.weight[1, 7] = -2.0, 2.0
    return model


def pairs_at(position: int, n: int = 6) -> ContrastPairs:
    """Minimal pairs differing in the token at `position` (A: yes, B: no); other tokens
    neutral."""
    clean = torch.full((n, 4), NEUTRAL)
    corrupt = clean.clone()
    clean[:, position] = torch.tensor([A, B] * (n // 2))
    corrupt[:, position] = torch.tensor([B, A] * (n // 2))
    gold = torch.tensor([0, 1] * (n // 2))
    return ContrastPairs(Batch(input_ids=clean), Batch(input_ids=corrupt), gold, 1 - gold, [])


def test_one_deciding_head_beats_chance_and_a_silent_head_does_not():
    model = copy_heads_model(512, {0: 1})
    pairs = pairs_at(1)
    deciding = chance_baseline(model, pairs, ["a0.h0"], n_samples=200, rng=rng_for("t", 0))
    assert deciding.faithfulness == pytest.approx(1.0, abs=1e-4)
    assert deciding.beats_chance is True and deciding.p_value < 0.01
    assert deciding.random_p95 == pytest.approx(0.0, abs=1e-4)
    silent = chance_baseline(model, pairs, ["a0.h5"], n_samples=200, rng=rng_for("t", 0))
    assert silent.faithfulness == pytest.approx(0.0, abs=1e-4)
    assert silent.beats_chance is False and silent.p_value > 0.5
    no_hooks_left(model)


def test_random_circuits_keep_the_shape_and_follow_the_seed():
    every = unit_names(3, 4, "node")
    circuit = ["a0.h1", "a0.h2", "a2.h0", "m1"]
    drawn, n_possible = random_circuits(every, circuit, 50, rng_for("x"))
    assert n_possible == 6 * 4 * 3  # C(4,2) heads of layer 0, C(4,1) of layer 2, 1 of 3 MLPs
    for nodes in drawn:
        assert sum(n.startswith("a0.") for n in nodes) == 2
        assert sum(n.startswith("a2.") for n in nodes) == 1
        assert sum(n.startswith("m") for n in nodes) == 1 and len(nodes) == 4
    again, _ = random_circuits(every, circuit, 50, rng_for("x"))
    assert drawn == again
    positions = random_circuits(unit_names(2, 2, "position"), ["a1.h0@cls"], 20, rng_for("y"))[0]
    assert {tuple(c) for c in positions} <= {("a1.h0@cls",), ("a1.h1@cls",)}


def test_a_circuit_shared_with_the_control_task_is_not_specific():
    model = copy_heads_model(8, {0: 1, 1: 2})  # a0.h0 reads position 1, a0.h1 position 2
    target, control = pairs_at(1), pairs_at(2)
    reference = Batch(input_ids=torch.cat([target.clean.input_ids, control.clean.input_ids]))

    def as_set(pairs):
        return ExampleSet(pairs.clean, pairs.gold, pairs.foil)

    own = specificity(model, ["a0.h0"], as_set(target), {"other": as_set(control)}, reference)
    assert own.target.damage > 0.9 and abs(own.controls["other"].damage) < 0.05
    assert own.specific is True
    both = specificity(
        model, ["a0.h0", "a0.h1"], as_set(target), {"other": as_set(control)}, reference
    )
    assert both.controls["other"].damage > 0.9 and both.ratio > 0.5
    assert both.specific is False
    no_hooks_left(model)


def test_position_units_split_nodes_exactly():
    model = copy_heads_model(8, {0: 1})
    pairs = pairs_at(1)
    metric = pairs.metric()
    whole = circuit_metric(model, pairs.clean, pairs.corrupt, metric, [["a0.h0"]])
    split = circuit_metric(model, pairs.clean, pairs.corrupt, metric, [["a0.h0@cls", "a0.h0@rest"]])
    assert torch.allclose(whole, split, atol=1e-6)
    # The head decides at [CLS] only: its output elsewhere carries nothing.
    at_cls = faithfulness(model, pairs.clean, pairs.corrupt, metric, [["a0.h0@cls"]])
    elsewhere = faithfulness(model, pairs.clean, pairs.corrupt, metric, [["a0.h0@rest"]])
    assert float(at_cls[0]) == pytest.approx(1.0, abs=1e-4)
    assert float(elsewhere[0]) == pytest.approx(0.0, abs=1e-4)


def test_denoising_whole_nodes_equals_patch_components(tiny_model):
    from tests.test_patching import pair_batches

    clean, corrupt = pair_batches()
    metric = logit_diff(torch.zeros(len(clean), dtype=torch.long), torch.ones(len(clean)).long())
    heads = patch_components(tiny_model, clean, corrupt, metric, "head")
    names = [f"a{layer}.h{h}" for layer in range(2) for h in range(4)]
    ours = denoise_units(tiny_model, clean, corrupt, metric, names)
    assert torch.allclose(ours, heads.flatten(), atol=1e-5)


def test_mib_scores_on_curves_of_known_area():
    x = [0.0, 0.5, 1.0]
    assert mib_scores(x, [1.0, 1.0, 1.0]) == {"cpr": 1.0, "cmd": 0.0}
    assert mib_scores(x, [0.0, 0.5, 1.0]) == {"cpr": 0.5, "cmd": 0.5}
    scores = mib_scores([0.1, 0.2, 1.0], [2.0, 0.0, 1.0])  # |1 - f| = 1, 1, 0
    assert scores["cpr"] == pytest.approx(0.1 * 1.0 + 0.8 * 0.5)
    assert scores["cmd"] == pytest.approx(0.1 * 1.0 + 0.8 * 0.5)
    with pytest.raises(ValueError, match="increase"):
        mib_scores([0.5, 0.1], [1.0, 1.0])


def test_faithfulness_interval_contains_the_estimate():
    model = copy_heads_model(8, {0: 1, 1: 1})  # two heads share the signal
    pairs = pairs_at(1, n=10)
    full, empty, rows = faithfulness_rows(
        model, pairs.clean, pairs.corrupt, pairs.metric(), [["a0.h0"]]
    )
    low, high = faithfulness_interval(full, empty, rows[0], np.random.default_rng(0), 200)
    assert low <= 0.5 + 1e-4 <= high + 2e-4


def direction(value, low, high):
    return {"faithfulness": value, "low": low, "high": high}


@pytest.mark.parametrize(
    "to_student, to_teacher, verdict",
    [
        (direction(0.9, 0.7, 1.1), direction(0.8, 0.6, 1.0), "shared"),
        (direction(0.1, -0.1, 0.3), direction(0.2, 0.0, 0.4), "not shared"),
        (direction(0.9, 0.7, 1.1), direction(0.2, 0.0, 0.4), "partly shared"),
        (direction(0.6, 0.3, 0.9), direction(0.6, 0.3, 0.9), "partly shared"),
    ],
)
def test_the_mechanism_verdict_follows_both_directions(to_student, to_teacher, verdict):
    from interp.diff import mechanism_verdict

    assert mechanism_verdict(to_student, to_teacher, True, True)["verdict"] == verdict


def test_the_mechanism_verdict_is_undefined_without_a_behaviour_or_a_circuit():
    from interp.diff import mechanism_verdict

    nan = float("nan")
    lost = mechanism_verdict(direction(nan, nan, nan), direction(0.9, 0.8, 1.0), True, True)
    assert lost["verdict"] == "undefined" and "student does not tell" in lost["why"]
    empty = mechanism_verdict(direction(0.9, 0.8, 1.0), direction(0.9, 0.8, 1.0), True, False)
    assert empty["verdict"] == "undefined" and "student has no circuit" in empty["why"]


def test_auto_units_take_the_finest_that_fits_the_budget():
    from interp.analysis import choose_units

    model = copy_heads_model(8, {0: 1})
    pairs = pairs_at(1)
    units, choice = choose_units(model, pairs, budget_s=1e6)
    assert units == "position" and choice["estimated_s"]["position"] > 0
    between = (choice["estimated_s"]["node"] + choice["estimated_s"]["position"]) / 2
    assert choose_units(model, pairs, budget_s=between)[0] == "node"
    assert choose_units(model, pairs, budget_s=0.0)[0] == "node"  # nothing fits: the coarsest


def test_an_analysis_reports_its_circuit_against_chance_and_controls():
    from interp.analysis import analyse_model
    from interp.controls import Controls
    from interp.report.verdicts import circuit_sentences, circuit_status

    model = copy_heads_model(64, {0: 1, 1: 2})
    target, control = pairs_at(1), pairs_at(2)
    reference = Batch(input_ids=torch.cat([target.clean.input_ids, control.clean.input_ids]))
    controls = Controls(reference, {"other": ExampleSet(control.clean, control.gold, control.foil)})
    analysis = analyse_model(
        model, "hand", "target", target, attribution="eap", units="node", controls=controls
    )
    assert analysis.circuit.nodes == ["a0.h0"]
    assert analysis.chance.beats_chance is True
    assert analysis.specificity.specific is True
    assert circuit_status(analysis) == "finding"
    assert analysis.curve.mib.cpr > 0.9  # one unit of 65 (1.5%) carries it all
    words = " ".join(circuit_sentences(analysis))
    assert "beats chance" in words and "specific" in words and "NOT" not in words
    no_hooks_left(model)


@pytest.mark.parametrize(
    "task, suite, controls",
    [
        ("nli", "lexical_overlap", ["negation"]),
        ("nli", "subsequence", ["negation"]),
        ("nli", "negation", ["lexical_overlap"]),
        ("digits", "colour_conflicting", ["marker_conflicting"]),
    ],
)
def test_the_controls_of_a_suite_are_the_other_bias_types(task, suite, controls):
    from interp.controls import control_suites

    assert control_suites(task, suite) == controls


def analysis_record(nodes: list[str], faithfulness, beats_chance):
    """A one-layer, eight-head model's analysis with the given circuit and chance verdict."""
    from interp.results import ModelAnalysis

    mib = {"fractions": [0.5], "sizes": [4], "faithfulness": [0.9], "cpr": 0.9, "cmd": 0.1}
    curve = {"ranking": nodes, "sizes": [0], "faithfulness": [0.0], "area_under": 0.5}
    return ModelAnalysis(
        model="m",
        suite="s",
        n_pairs=8,
        clean_metric=1.0,
        corrupt_metric=0.0,
        attribution_method="eap-ig",
        attribution={},
        exact={},
        spearman=0.9,
        curve={**curve, "area_from_one": 0.5, "mib": mib},
        circuit={"nodes": nodes, "meta": {"faithfulness": faithfulness, "rule": "f >= 0.8"}},
        edges={},
        head_stats={},
        n_layers=1,
        n_heads=8,
        chance={
            "faithfulness": faithfulness,
            "beats_chance": beats_chance,
            "percentile": 99.0,
            "n_samples": 200,
            "n_possible": 100,
            "p_value": 0.01,
            "random_p95": 0.5,
            "random_mean": 0.2,
        },
    )


def test_a_circuit_that_beats_chance_with_most_of_the_units_is_distributed():
    from interp.report.verdicts import circuit_sentences, circuit_status

    nodes = unit_names(1, 8, "node")  # 9 units
    analysis = analysis_record(nodes[:4], 0.85, True)
    assert circuit_status(analysis) == "distributed"  # 4 of 9 units: more than a quarter
    assert any(line.startswith("distributed") for line in circuit_sentences(analysis))
    analysis.circuit.nodes = nodes[:2]
    assert circuit_status(analysis) == "finding"
    analysis.chance.beats_chance = False
    assert circuit_status(analysis) == "chance"
    analysis.circuit.meta.faithfulness = None
    assert circuit_status(analysis) == "no behaviour"


def test_the_summary_warns_when_no_seed_has_a_circuit_that_is_a_finding():
    from interp.report.page import _not_a_finding

    def analysis(size: int, beats: bool):
        return analysis_record(unit_names(1, 8, "node")[:size], 0.9, beats)

    assert _not_a_finding([analysis(4, True), analysis(2, False)]).startswith(" (not a finding")
    assert _not_a_finding([analysis(4, True), analysis(2, True)]) == ""  # seed 2's is a finding
