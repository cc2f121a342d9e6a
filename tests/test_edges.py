"""Edge circuits: exact edge patching against node patching, hook patching and the runs it must
reproduce; edge names and masks; chance and specificity over edges; CPR/CMD over edge
fractions."""

import numpy as np
import pytest
import torch

from interp.analysis import analyse_model
from interp.chance import chance_baseline, random_circuits
from interp.circuits import circuit_metric_rows, denoise_units, faithfulness, faithfulness_rows
from interp.contrast import ContrastPairs
from interp.edges import check_edges, edge_rows, sender_outputs
from interp.errors import ConfigError
from interp.models import HookedClassifier
from interp.patching import logit_diff
from interp.report.figures import circuit_figure
from interp.report.verdicts import circuit_sentences
from interp.seeding import rng_for
from interp.specificity import ExampleSet, ablation_damage, mean_outputs
from interp.units import (
    base_node,
    edge_ends,
    edge_masks,
    edge_names,
    map_unit,
    node_totals,
    parse_edge,
    receivers,
    senders,
    strata,
    unit_names,
    units_of,
)
from tests.conftest import tiny_config
from tests.models.test_hooked import no_hooks_left
from tests.test_patching import VARIANTS, pair_batches

GOLD = torch.zeros(5, dtype=torch.long)
FOIL = torch.ones(5, dtype=torch.long)
TOL = 1e-10  # float64 throughout: edge patching is exact, not approximate


@pytest.fixture(params=["pre", "rotary"])
def model64(request):
    """A pre-norm model (ours, or ModernBERT's forward) whose weights are large enough (std
    0.5) for every edge to matter."""
    extra = VARIANTS.get(request.param, {"norm": "pre"})
    model = HookedClassifier(tiny_config(n_layers=3, **extra), seed=5).double().eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim >= 2:
                param.mul_(25.0)
    return model


def metric_of(model, batch, hooks=()):
    with torch.no_grad():
        return logit_diff(GOLD, FOIL)(model.run_with_hooks(batch, fwd_hooks=list(hooks)))


def test_edge_names_masks_and_parsing():
    names = edge_names(2, 2)
    # senders before each receiver: 1 for layer-0 inputs, 1 + 2 for m0, 4 for layer-1 inputs,
    # 4 + 2 for m1, 7 for the logits
    assert len(names) == 6 * 1 + 3 + 6 * 4 + 6 + 7
    assert len(set(names)) == len(names) and unit_names(2, 2, "edge") == names
    assert parse_edge("a0.h1->a1.h0.k") == ("a0.h1", "a1.h0.k")
    for bad in ["a1.h0->a0.h1.q", "m0->m0", "a0.h1->a1.h0", "x->logits", "a0.h0"]:
        with pytest.raises(ValueError):
            parse_edge(bad)
    masks = edge_masks(2, 2, [["embed->logits", "a0.h1->m0"], []])
    assert masks.shape == (2, len(senders(2, 2)), len(receivers(2, 2)))
    assert int(masks[0].sum()) == 2 and not masks[1].any()
    assert masks[0, 0, -1] and masks[0, 2, receivers(2, 2).index("m0")]
    with pytest.raises(ValueError, match="not an edge of this model"):
        edge_masks(2, 2, [["a2.h0->logits"]])
    assert units_of("a0.h1->m0") == "edge" and base_node("a0.h1->m0") == "a0.h1"
    assert strata("a0.h1->a1.h0.q") == strata("a0.h0->a1.h1.v") != strata("m0->a1.h0.q")
    assert node_totals({"embed->m0": 1.0, "a0.h1->m0": 2.0, "a0.h1->logits": 0.5}) == {"a0.h1": 2.5}


def test_map_unit_maps_both_ends_of_an_edge():
    images = {"a0.h1": ["a0.h3"], "a1.h0": ["a1.h2", "a1.h1"], "m0": ["m0"], "m1": []}
    assert map_unit("a0.h1->a1.h0.q", images.get) == ["a0.h3->a1.h2.q", "a0.h3->a1.h1.q"]
    assert map_unit("embed->m0", images.get) == ["embed->m0"]
    assert map_unit("m0->logits", images.get) == ["m0->logits"]
    assert map_unit("a0.h1->m1", images.get) == []
    assert map_unit("a0.h1@cls", images.get) == ["a0.h3@cls"]


def test_every_edge_is_the_clean_run_and_no_edge_the_corrupt_run(model64):
    clean, corrupt = pair_batches()
    every = edge_names(3, 4)
    rows = circuit_metric_rows(model64, clean, corrupt, logit_diff(GOLD, FOIL), [every, []])
    assert torch.allclose(rows[0], metric_of(model64, clean), atol=TOL)
    assert torch.allclose(rows[1], metric_of(model64, corrupt), atol=TOL)
    no_hooks_left(model64)
    assert not model64.cfg.use_attn_result and not model64.cfg.use_split_qkv_input


def test_removing_the_edges_out_of_nodes_equals_patching_the_nodes(model64):
    """Every edge leaving a head or MLP carries its corrupt output exactly when the node is
    patched to its corrupt value: the node circuit is the edge circuit without those edges."""
    clean, corrupt = pair_batches()
    metric = logit_diff(GOLD, FOIL)
    for kept in (["a0.h1", "m1", "a2.h3"], ["a1.h0", "a1.h2", "m0", "m2"], []):
        edges = [e for e in edge_names(3, 4) if e.split("->")[0] in {"embed", *kept}]
        by_edges = circuit_metric_rows(model64, clean, corrupt, metric, [edges])
        by_nodes = circuit_metric_rows(model64, clean, corrupt, metric, [kept])
        assert torch.allclose(by_edges, by_nodes, atol=TOL)


def test_one_patched_edge_matches_patching_the_receivers_input_by_hand(model64):
    """Removing every edge into head 2's query input of layer 1 is patching that input to its
    corrupt value; removing one edge a0.h1 -> m1 subtracts that head's change from m1's input."""
    clean, corrupt = pair_batches()
    metric = logit_diff(GOLD, FOIL)
    with torch.no_grad():
        model64.set_use_split_qkv_input(True)
        model64.set_use_attn_result(True)
        _, corrupt_cache = model64.run_with_cache(corrupt)
        _, clean_cache = model64.run_with_cache(clean)

        def query_of_head_2(act, hook):
            act = act.clone()
            act[:, :, 2] = corrupt_cache[hook.name][:, :, 2]
            return act

        def minus_head_1(act, hook):
            result = "blocks.0.attn.hook_result"
            return act - (clean_cache[result][:, :, 1] - corrupt_cache[result][:, :, 1])

        expected_q = metric_of(model64, clean, [("blocks.1.hook_q_input", query_of_head_2)])
        expected_m = metric_of(model64, clean, [("blocks.1.hook_mlp_in", minus_head_1)])
        model64.set_use_split_qkv_input(False)
        model64.set_use_attn_result(False)
    every = edge_names(3, 4)
    into_q = [e for e in every if not e.endswith("->a1.h2.q")]
    not_one = [e for e in every if e != "a0.h1->m1"]
    rows = circuit_metric_rows(model64, clean, corrupt, metric, [into_q, not_one])
    assert torch.allclose(rows[0], expected_q, atol=TOL)
    assert torch.allclose(rows[1], expected_m, atol=TOL)
    clean_metric = metric_of(model64, clean)
    assert not torch.allclose(rows[0], clean_metric, atol=1e-3)
    assert not torch.allclose(rows[1], clean_metric, atol=1e-3)


def test_denoising_one_edge_and_stacking_agree_with_one_at_a_time(model64):
    clean, corrupt = pair_batches()
    metric = logit_diff(GOLD, FOIL)
    names = edge_names(3, 4)[::37]
    together = denoise_units(model64, clean, corrupt, metric, names, chunk_size=4, batch_size=2)
    outputs = sender_outputs(model64, clean)
    for i, name in enumerate(names):
        alone = edge_rows(model64, corrupt, outputs, metric, [[name]], True, 1).mean(-1)
        assert float(together[i]) == pytest.approx(float(alone[0]), abs=TOL)


def test_edge_faithfulness_is_one_for_every_edge_and_in_between_for_some(model64):
    clean, corrupt = pair_batches()
    metric = logit_diff(GOLD, FOIL)
    every = edge_names(3, 4)
    values = faithfulness(model64, clean, corrupt, metric, [every, every[: len(every) // 2]])
    assert float(values[0]) == pytest.approx(1.0, abs=1e-9)
    full, empty, _ = faithfulness_rows(model64, clean, corrupt, metric, [], units="edge")
    assert torch.allclose(empty, metric_of(model64, corrupt), atol=TOL)
    with pytest.raises(ValueError, match="mix edges with heads"):
        faithfulness(model64, clean, corrupt, metric, [["a0.h1"], ["a0.h1->m0"]])


def test_edges_on_a_post_norm_model_are_refused():
    model = HookedClassifier(tiny_config(norm="post"), seed=0).eval()
    clean, corrupt = pair_batches()
    with pytest.raises(ConfigError, match="pre-norm"):
        check_edges(model)
    with pytest.raises(ConfigError, match="pre-norm"):
        circuit_metric_rows(model, clean, corrupt, logit_diff(GOLD, FOIL), [["embed->logits"]])
    pairs = ContrastPairs(clean, corrupt, GOLD, FOIL, [])
    with pytest.raises(ConfigError, match="pre-norm"):
        analyse_model(model, "m", "suite", pairs, units="edge")
    no_hooks_left(model)


def test_random_edge_circuits_keep_the_layer_to_layer_shape(model64):
    circuit = ["a0.h1->a1.h0.q", "a0.h2->a1.h3.v", "m0->logits", "embed->a2.h1.k"]
    drawn, n_possible = random_circuits(edge_names(3, 4), circuit, 30, rng_for("e"))
    assert n_possible > 1000
    for edges in drawn:
        assert sorted(strata(e) for e in edges) == sorted(strata(e) for e in circuit)
    clean, corrupt = pair_batches()
    pairs = ContrastPairs(clean, corrupt, GOLD, FOIL, [])
    baseline = chance_baseline(model64, pairs, circuit, n_samples=20, rng=rng_for("e"))
    assert baseline.n_samples == 20 and baseline.p_value is not None
    no_hooks_left(model64)


def test_mean_ablating_the_edges_out_of_nodes_equals_mean_ablating_the_nodes(model64):
    clean, corrupt = pair_batches()
    target = ExampleSet(clean, GOLD, FOIL)
    nodes = ["a0.h1", "m1", "a2.h3"]
    edges = [e for e in edge_names(3, 4) if e.split("->")[0] in nodes]
    node_means = mean_outputs(model64, corrupt)
    edge_means = mean_outputs(model64, corrupt, units="edge")
    by_nodes = ablation_damage(model64, nodes, target, node_means)
    by_edges = ablation_damage(model64, edges, target, edge_means)
    assert by_edges.n == by_nodes.n > 0
    assert by_edges.ablated_margin == pytest.approx(by_nodes.ablated_margin, abs=1e-9)
    assert by_edges.ablated_margin != pytest.approx(by_edges.margin, abs=1e-3)
    no_hooks_left(model64)


def test_an_edge_analysis_finds_a_circuit_of_edges(model64):
    clean, corrupt = pair_batches()
    pairs = ContrastPairs(clean, corrupt, GOLD, FOIL, [])
    analysis = analyse_model(
        model64, "m", "suite", pairs, target=0.8, units="edge", chance_samples=20
    )
    every = edge_names(3, 4)
    assert analysis.units == "edge" and set(analysis.attribution) == set(every)
    assert set(analysis.exact) == set(every)
    nodes = analysis.circuit.nodes
    assert nodes and all(units_of(n) == "edge" for n in nodes)
    assert analysis.circuit.meta.faithfulness >= 0.8
    assert set(analysis.edges) == set(nodes)
    sizes = analysis.curve.sizes
    assert 0 in sizes and len(every) in sizes and len(sizes) < len(every) // 4
    assert 0.0 <= analysis.curve.mib.cpr <= 1.5 and analysis.chance.n_samples == 20
    no_hooks_left(model64)
    figure = circuit_figure(analysis, max_edges=5)
    *lines, markers = figure.data
    assert len(lines) == min(5, len(nodes)) and "edge units" in figure.layout.title.text
    ends = {end for edge in nodes for end in edge_ends(edge)}
    assert set(markers.text) == ends | {"embed", "logits"}


def test_a_node_analysis_of_a_pre_norm_model_scores_its_edge_ranking_on_mibs_scale(model64):
    clean, corrupt = pair_batches()
    pairs = ContrastPairs(clean, corrupt, GOLD, FOIL, [])
    analysis = analyse_model(model64, "m", "suite", pairs, units="node", chance_samples=0)
    edge = analysis.curve.edge_mib
    n = len(edge_names(3, 4))
    assert edge.sizes == [int(f * n) for f in edge.fractions] and edge.faithfulness[-1] == (
        pytest.approx(1.0, abs=1e-6)
    )
    area = np.trapezoid(edge.faithfulness, edge.fractions)
    assert edge.cpr == pytest.approx(area)
    assert any("over edge fractions" in line for line in circuit_sentences(analysis))
