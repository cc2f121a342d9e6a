"""Streaming over chunks of pairs gives the results of the computation on all pairs at once
(to 1e-6 relative), also when the last chunk is short; progress bars stay off in tests."""

import pytest
import torch

from interp.attention import head_statistics, pattern_divergence
from interp.attribution import attribute_edges, attribute_nodes
from interp.chunking import chunks, default_batch_size, progress_enabled
from interp.circuits import circuit_metric, faithfulness_curve
from interp.models import Batch, HookedClassifier
from interp.patching import ablate_components, kl_to_clean, logit_diff, patch_components
from tests.conftest import tiny_config

N = 11  # pairs; chunks of 4 leave a short last chunk of 3
CHUNK = 4


def close(a, b, rel=1e-6, atol=1e-7):
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return torch.allclose(a, b, rtol=rel, atol=atol, equal_nan=True)


@pytest.fixture(params=["pre", "post"])
def setup(request):
    return make_setup(request.param)


def make_setup(norm: str):
    model = HookedClassifier(tiny_config(norm=norm, n_layers=2), seed=3).double().eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 20, (N, 9), generator=generator)
    mask = torch.ones_like(ids)
    mask[2, 6:] = 0
    mask[9, 5:] = 0
    ids[mask == 0] = 0
    corrupt_ids = ids.clone()
    corrupt_ids[:, 3] = torch.randint(4, 20, (N,), generator=generator)
    corrupt_ids[mask == 0] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    clean = Batch(input_ids=ids, attention_mask=mask, token_type_ids=types)
    corrupt = Batch(input_ids=corrupt_ids, attention_mask=mask.clone(), token_type_ids=types)
    gold = torch.randint(0, 2, (N,), generator=generator)
    return model, clean, corrupt, logit_diff(gold, 1 - gold)


def test_chunks_cover_every_pair_once():
    assert chunks(11, 4) == [slice(0, 4), slice(4, 8), slice(8, 11)]
    assert chunks(3, None) == [slice(0, 3)] and chunks(3, 10) == [slice(0, 3)]
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        chunks(3, 0)
    assert not progress_enabled()  # never under pytest


def test_the_default_chunk_shrinks_with_the_model():
    small = default_batch_size(tiny_config(), 20)
    base = default_batch_size(tiny_config(n_layers=12, d_model=768, n_heads=12), 64)
    assert small == 256 and 1 <= base < 16


@pytest.mark.parametrize("component", ["head", "mlp", "resid"])
@pytest.mark.parametrize("per_position", [False, True])
def test_chunked_patching_equals_the_whole_batch(setup, component, per_position):
    model, clean, corrupt, metric = setup
    whole = patch_components(
        model, clean, corrupt, metric, component, per_position=per_position, batch_size=N
    )
    chunked = patch_components(
        model, clean, corrupt, metric, component, per_position=per_position, batch_size=CHUNK
    )
    assert close(whole, chunked)
    noised = patch_components(model, clean, corrupt, metric, "head", "noise", batch_size=N)
    assert close(
        noised, patch_components(model, clean, corrupt, metric, "head", "noise", batch_size=CHUNK)
    )


@pytest.mark.parametrize("kind", ["zero", "mean", "resample"])
def test_chunked_ablation_equals_the_whole_batch(setup, kind):
    model, clean, _, metric = setup
    whole = ablate_components(model, clean, metric, "mlp", kind=kind, seed=2, batch_size=N)
    chunked = ablate_components(model, clean, metric, "mlp", kind=kind, seed=2, batch_size=CHUNK)
    assert close(whole, chunked)
    with torch.no_grad():
        logits = model(clean)
    kl = kl_to_clean(logits)
    assert close(
        ablate_components(model, clean, kl, "head", kind=kind, batch_size=N),
        ablate_components(model, clean, kl, "head", kind=kind, batch_size=CHUNK),
    )


@pytest.mark.parametrize("method", ["eap", "eap-ig", "eap-ig-activations"])
def test_chunked_node_attribution_equals_the_whole_batch(setup, method):
    model, clean, corrupt, metric = setup
    whole = attribute_nodes(model, clean, corrupt, metric, method, steps=3, batch_size=N)
    chunked = attribute_nodes(model, clean, corrupt, metric, method, steps=3, batch_size=CHUNK)
    assert whole.names == chunked.names and close(whole.scores, chunked.scores)


def test_chunked_edge_attribution_equals_the_whole_batch():
    model, clean, corrupt, metric = make_setup("pre")  # edges are defined for pre-norm models
    whole, whole_inputs = attribute_edges(model, clean, corrupt, metric, steps=3, batch_size=N)
    chunked, inputs = attribute_edges(model, clean, corrupt, metric, steps=3, batch_size=CHUNK)
    assert close(whole.scores, chunked.scores)
    assert all(close(whole_inputs[k], inputs[k]) for k in whole_inputs)


def test_chunked_circuits_and_curves_equal_the_whole_batch(setup):
    model, clean, corrupt, metric = setup
    circuits = [["a0.h1", "m1"], [], ["a1.h0", "a1.h3", "m0"]]
    assert close(
        circuit_metric(model, clean, corrupt, metric, circuits, batch_size=N),
        circuit_metric(model, clean, corrupt, metric, circuits, batch_size=CHUNK, max_rows=5),
    )
    scores = attribute_nodes(model, clean, corrupt, metric, "eap", batch_size=N)
    whole = faithfulness_curve(model, clean, corrupt, metric, scores, batch_size=N)
    chunked = faithfulness_curve(model, clean, corrupt, metric, scores, batch_size=CHUNK)
    assert whole["ranking"] == chunked["ranking"]
    assert close(whole["faithfulness"], chunked["faithfulness"])


def test_chunked_attention_statistics_and_divergence_equal_the_whole_batch(setup):
    model, clean, _, _ = setup
    whole = head_statistics(model, clean, [0, 1, 2, 3], [5, 6], batch_size=N)
    chunked = head_statistics(model, clean, [0, 1, 2, 3], [5, 6], batch_size=CHUNK)
    assert all(close(whole[k], chunked[k]) for k in whole)
    student = HookedClassifier(tiny_config(norm=model.cfg.norm, n_layers=1), seed=9).double()
    assert close(
        pattern_divergence(model, student.eval(), clean, batch_size=N),
        pattern_divergence(model, student.eval(), clean, batch_size=CHUNK),
    )


def test_a_plain_metric_function_cannot_be_split_and_says_so(setup):
    model, clean, corrupt, metric = setup

    def plain(logits):
        return metric(logits)

    with pytest.raises(ValueError, match="needs a metric that knows its examples"):
        patch_components(model, clean, corrupt, plain, batch_size=CHUNK)
    assert close(
        patch_components(model, clean, corrupt, plain, batch_size=N),
        patch_components(model, clean, corrupt, metric, batch_size=N),
    )
