"""EAP and EAP-IG against exact patching and finite differences; edges; hand-built circuits."""

import pytest
import torch

from interp.attribution import attribute_edges, attribute_nodes
from interp.circuits import (
    Circuit,
    faithfulness,
    faithfulness_curve,
    select_threshold,
    select_top_k,
    smallest_faithful,
)
from interp.errors import InterpError
from interp.models import Batch, ClassifierConfig, HookedClassifier
from interp.patching import logit_diff, patch_components
from tests.conftest import blank_model, tiny_config
from tests.models.test_hooked import no_hooks_left
from tests.test_patching import VARIANTS, pair_batches

GOLD = torch.zeros(5, dtype=torch.long)
FOIL = torch.ones(5, dtype=torch.long)


@pytest.fixture
def model64():
    return HookedClassifier(tiny_config(n_layers=3), seed=5).double().eval()


@pytest.mark.parametrize("norm", ["pre", "post", "disentangled", "rotary"])
def test_eap_is_the_first_order_effect_of_denoising_a_head(norm):
    """Also on DeBERTa's disentangled attention and ModernBERT's rotary, local attention."""
    extra = VARIANTS.get(norm, {"norm": norm})
    model64 = HookedClassifier(tiny_config(n_layers=3, **extra), seed=5).double().eval()
    clean, corrupt = pair_batches()
    metric = logit_diff(GOLD, FOIL)
    scores = attribute_nodes(model64, clean, corrupt, metric, method="eap").as_dict()
    _, clean_cache = model64.run_with_cache(clean)
    _, corrupt_cache = model64.run_with_cache(corrupt)
    eps = 1e-6
    for layer, head in [(0, 1), (2, 3)]:
        name = f"blocks.{layer}.attn.hook_z"

        def nudge(act, hook, layer=layer, head=head, name=name):
            act = act.clone()
            delta = clean_cache[name][:, :, head] - corrupt_cache[name][:, :, head]
            act[:, :, head] = act[:, :, head] + eps * delta
            return act

        with torch.no_grad():
            base = metric(model64(corrupt)).mean()
            moved = metric(model64.run_with_hooks(corrupt, fwd_hooks=[(name, nudge)])).mean()
        assert scores[f"a{layer}.h{head}"] == pytest.approx(
            float((moved - base) / eps), rel=1e-4, abs=1e-7
        )


def test_eap_ig_with_many_steps_sums_to_the_total_effect(model64):
    """Integrated gradients are complete: over the embedding input, the attributions of all
    paths sum to m(clean) - m(corrupt); with every node scored this holds for the residual
    into the first layer, which we check through the edge identity on a pre-norm model."""
    clean, corrupt = pair_batches(1)
    metric = logit_diff(GOLD, FOIL)
    edges, inputs = attribute_edges(model64, clean, corrupt, metric, method="eap-ig", steps=64)
    with torch.no_grad():
        total = (metric(model64(clean)) - metric(model64(corrupt))).mean()
    assert inputs["logits"] == pytest.approx(float(total), rel=2e-2, abs=1e-3)


@pytest.mark.parametrize("variant", ["pre", "rotary"])
def test_edge_scores_into_a_node_sum_to_its_input_attribution(variant):
    """Also on ModernBERT's forward (pre-norm, so its edges are defined)."""
    extra = VARIANTS.get(variant, {})
    model64 = HookedClassifier(tiny_config(n_layers=3, **extra), seed=5).double().eval()
    clean, corrupt = pair_batches(2)
    edges, inputs = attribute_edges(model64, clean, corrupt, logit_diff(GOLD, FOIL), method="eap")
    for j, name in enumerate(edges.downstream):
        assert float(edges.scores[:, j].sum()) == pytest.approx(inputs[name], rel=1e-6, abs=1e-9)
    named = edges.edges()
    assert "a0.h1->a1.h0.q" in named and "a1.h0->a0.h1.q" not in named
    assert "a2.h3->m2" in named and "m2->logits" in named and "embed->a0.h0.k" in named
    assert not model64.cfg.use_attn_result and not model64.cfg.use_split_qkv_input
    assert no_hooks_left(model64)


def test_edges_on_a_post_norm_model_are_a_clear_error():
    model = HookedClassifier(tiny_config(norm="post"), seed=0).eval()
    clean, corrupt = pair_batches()
    with pytest.raises(InterpError, match="pre-norm"):
        attribute_edges(model, clean, corrupt, logit_diff(GOLD, FOIL))


def test_node_attribution_works_on_post_norm_models():
    model = HookedClassifier(tiny_config(norm="post"), seed=0).eval()
    clean, corrupt = pair_batches()
    scores = attribute_nodes(model, clean, corrupt, logit_diff(GOLD, FOIL), method="eap-ig")
    assert len(scores.names) == 2 * (4 + 1) and torch.isfinite(scores.scores).all()


# --------------------------------------------------------------------------- hand-built mechanism
def hand_built_model() -> HookedClassifier:
    """Head a0.h0 copies the token at position 1 into the [CLS] position; it decides the label.

    Directions: token A = e0 - e1, B = -(e0 - e1); position 0 = e2 - e3, position 1 = e4 - e5;
    the head writes e6 - e7, which the classifier reads. Head a0.h1 and the MLP write nothing.
    """
    model = blank_model(d_model=8, n_heads=2, labels=["yes", "no"], vocab_size=6)
    with torch.no_grad():
        model.W_E[2, 0], model.W_E[2, 1] = 1.0, -1.0
        model.W_E[3, 0], model.W_E[3, 1] = -1.0, 1.0
        model.W_E[4, 0:2] = torch.tensor([0.3, 0.3])
        model.W_E[5, 0:2] = torch.tensor([-0.3, -0.3])
        model.W_pos[0, 2], model.W_pos[0, 3] = 1.0, -1.0
        model.W_pos[1, 4], model.W_pos[1, 5] = 1.0, -1.0
        model.W_pos[2, 2], model.W_pos[2, 4] = 0.5, -0.5
        model.W_pos[3, 3], model.W_pos[3, 5] = 0.5, -0.5
        attn = model.blocks[0].attn
        attn.W_Q[0, 2, 0], attn.W_Q[0, 3, 0] = 5.0, -5.0
        attn.W_K[0, 4, 0], attn.W_K[0, 5, 0] = 5.0, -5.0
        attn.W_V[0, 0, 0], attn.W_V[0, 1, 0] = 1.0, -1.0
        attn.W_O[0, 0, 6], attn.W_O[0, 0, 7] = 1.0, -1.0
        attn.W_Q[1, 4, 1], attn.W_K[1, 2, 1], attn.W_V[1, 0, 1] = 3.0, 3.0, 1.0  # silent head
        model.head.classifier.weight[0, 6], model.head.classifier.weight[0, 7] = 4.0, -4.0
        model.head.classifier.weight[1, 6], model.head.classifier.weight[1, 7] = -4.0, 4.0
    return model


def hand_built_pairs():
    clean = Batch(input_ids=torch.tensor([[1, 2, 4, 5], [1, 2, 5, 4], [1, 2, 4, 4]]))
    corrupt = Batch(input_ids=torch.tensor([[1, 3, 4, 5], [1, 3, 5, 4], [1, 3, 4, 4]]))
    return clean, corrupt


def test_the_hand_built_model_computes_its_label_with_one_head():
    model = hand_built_model()
    clean, corrupt = hand_built_pairs()
    assert model(clean).argmax(-1).tolist() == [0, 0, 0]
    assert model(corrupt).argmax(-1).tolist() == [1, 1, 1]


@pytest.mark.parametrize("method", ["exact", "eap", "eap-ig", "eap-ig-activations"])
def test_circuit_discovery_puts_the_deciding_head_first(method):
    model = hand_built_model()
    clean, corrupt = hand_built_pairs()
    metric = logit_diff(torch.zeros(3, dtype=torch.long), torch.ones(3, dtype=torch.long))
    if method == "exact":
        from interp.attribution import NodeScores, node_names

        heads = patch_components(model, clean, corrupt, metric, "head")
        mlps = patch_components(model, clean, corrupt, metric, "mlp")
        with torch.no_grad():
            base = metric(model(corrupt)).mean()
        scores = NodeScores(
            torch.tensor([heads[0, 0], heads[0, 1], mlps[0]]) - base, node_names(model)
        )
    else:
        scores = attribute_nodes(model, clean, corrupt, metric, method=method)
    assert scores.top(1)[0][0] == "a0.h0"
    circuit = select_top_k(scores, 1)
    assert circuit.nodes == ["a0.h0"]
    assert float(faithfulness(model, clean, corrupt, metric, [circuit.nodes])[0]) > 0.9
    best = smallest_faithful(model, clean, corrupt, metric, scores, target=0.9)
    assert best.nodes == ["a0.h0"]
    curve = faithfulness_curve(model, clean, corrupt, metric, scores)
    assert curve["faithfulness"][0] == pytest.approx(0.0, abs=1e-6)
    assert curve["faithfulness"][-1] == pytest.approx(1.0, abs=1e-6)
    assert curve["area_under"] > 0.6 and curve["area_from_one"] < 0.4


def test_circuits_round_trip_through_json(tmp_path):
    from interp.attribution import NodeScores

    scores = NodeScores(torch.tensor([0.5, -2.0, 0.1]), ["a0.h0", "a0.h1", "m0"])
    circuit = select_threshold(scores, 0.4)
    assert circuit.nodes == ["a0.h1", "a0.h0"]
    circuit.save(tmp_path / "c.json")
    assert Circuit.load(tmp_path / "c.json") == circuit
    with pytest.raises(ValueError, match="not a node"):
        faithfulness(
            hand_built_model(),
            *hand_built_pairs(),
            logit_diff(torch.zeros(3), torch.ones(3)),
            [["a5.h0"]],
        )


@pytest.mark.parametrize(
    "norm,floors", [("pre", {"eap": 0.8}), ("post", {"eap": 0.5, "eap-ig": 0.5})]
)
def test_attribution_ranks_nodes_like_exact_patching_on_trained_models(norm, floors):
    """2-layer models trained on the synthetic NLI data (seeds 0, 1, 2); node scores on the
    constituent minimal pairs each tells apart (clean: non-entailed, corrupt: its entailed
    partner), compared with exact single-node patching by Spearman over the 10 nodes, median
    over the three models.

    Post-norm is the BERT family's layout (every Hugging Face model a user brings). Measured
    (one thread, seeds 0 / 1 / 2): pre-norm EAP 1.00 / 0.96 / 1.00, EAP-IG 0.71 / 0.95 / 0.95;
    post-norm EAP 0.88 / 0.58 / 0.95, EAP-IG 0.66 / 0.58 / 0.84. One model's figure is noisy
    (seeds 3 and 4: post-norm EAP 0.56 and 0.62; trained on two threads, post-norm seed 0 gives
    EAP-IG 0.32): most single nodes move the metric by almost the same amount, so a few rank
    swaps among near-ties move Spearman over 10 nodes a lot. Hence the median of three, and one
    thread for training and analysis (as the zoo trains), so the figures do not depend on the
    machine's core count. So the 0.8 target holds for EAP on pre-norm models only: EAP-IG
    shares a joint effect among components that each alone would (not) restore it, which
    single-node patching does not, and on post-norm models the first-order estimate at the
    corrupt input misses large effects that the layer norms after each sub-layer rescale (EAP
    is exactly first order there too: `test_eap_is_the_first_order_effect_of_denoising_a_head`).
    On post-norm models, use exact patching for single-node effects; the floors below only
    guard against regressions."""
    from statistics import median

    from scipy.stats import spearmanr

    from interp.contrast import contrast_pairs, separated_pairs
    from interp.inputs import encode_examples
    from interp.losses import erm_loss
    from interp.train.task import torch_threads
    from interp.train.trainer import TrainConfig, train
    from probes.nli import THREE_WAY, NLIConfig, generate, nli_tokenizer

    bench = generate(NLIConfig(seed=0))
    tokenizer = nli_tokenizer()
    suite = bench.suites["constituent"]
    correlations = {method: [] for method in floors}
    for seed in range(3):
        cfg = ClassifierConfig(
            n_layers=2,
            d_model=64,
            n_heads=4,
            labels=THREE_WAY,
            vocab_size=tokenizer.get_vocab_size(),
            max_positions=64,
            norm=norm,
        )
        model = HookedClassifier(cfg, seed=seed, tokenizer=tokenizer)
        with torch_threads(1):
            train(
                model,
                encode_examples(model, bench.train.examples),
                lambda logits, gold, index: erm_loss(logits, gold),
                TrainConfig(steps=600),
                progress=False,
            )
            pairs = contrast_pairs(model, suite, 48, only=separated_pairs(model, suite, 0.5))
            assert len(pairs) == 48
            metric = pairs.metric()
            heads = patch_components(model, pairs.clean, pairs.corrupt, metric, "head")
            mlps = patch_components(model, pairs.clean, pairs.corrupt, metric, "mlp", chunk_size=8)
            exact = torch.cat([torch.cat([heads[i], mlps[i : i + 1]]) for i in range(2)])
            for method in floors:
                scores = attribute_nodes(model, pairs.clean, pairs.corrupt, metric, method=method)
                correlations[method].append(spearmanr(exact.numpy(), scores.scores.numpy())[0])
    for method, floor in floors.items():
        assert median(correlations[method]) >= floor, (method, correlations[method])
