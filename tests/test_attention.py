"""Per-head overlap attention against a hand computation."""

import pytest
import torch

from interp.attention import (
    head_statistics,
    identical_token_mask,
    overlap_attention,
    pattern_divergence,
)
from interp.models import (
    Batch,  # noqa: E402
    HookedClassifier,
)


def test_identical_token_mask_links_hypothesis_tokens_to_equal_premise_tokens():
    batch = Batch(
        input_ids=torch.tensor([[2, 7, 8, 3, 8, 7, 9, 3, 0]]),
        token_type_ids=torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 0]]),
        attention_mask=torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1, 0]]),
    )
    mask = identical_token_mask(batch, special_ids=[0, 2, 3])
    expected = torch.zeros(1, 9, 9, dtype=torch.bool)
    expected[0, 4, 2] = True  # hypothesis 8 -> premise 8
    expected[0, 5, 1] = True  # hypothesis 7 -> premise 7
    assert torch.equal(mask, expected)


def test_overlap_attention_matches_a_hand_computation(tiny_model):
    batch = tiny_model.encode(["the doctor saw the lawyer ."], ["the lawyer saw a doctor"])
    special = [tiny_model.tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")]
    scores, uniform = overlap_attention(tiny_model, batch, special)
    _, cache = tiny_model.run_with_cache(batch)
    mask = identical_token_mask(batch, special)[0].float()
    queries = mask.any(-1)
    for layer in range(2):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0]
        manual = (pattern * mask).sum(-1)[:, queries].mean(-1)
        assert torch.allclose(scores[layer], manual, atol=1e-6)
    n_keys = batch.attention_mask.sum()
    assert torch.isclose(uniform, (mask.sum(-1)[queries] / n_keys).mean())


def test_overlap_attention_without_overlap_is_a_clear_error(tiny_model):
    batch = tiny_model.encode(["the doctor saw ."], ["a lawyer paid"])
    with pytest.raises(ValueError, match="no hypothesis token has an identical premise token"):
        overlap_attention(tiny_model, batch, [0, 2, 3])


def test_head_statistics_match_hand_computations(tiny_model):
    tokenizer = tiny_model.tokenizer
    batch = tiny_model.encode(
        ["the doctor saw the lawyer .", "the artist paid ."],
        ["the lawyer did not see a doctor", "the artist never paid"],
    )
    special = [tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")]
    negation = [tokenizer.token_to_id(t) for t in ("not", "never") if tokenizer.token_to_id(t)]
    stats = head_statistics(tiny_model, batch, special, negation)
    _, cache = tiny_model.run_with_cache(batch)
    pattern = cache["blocks.1.attn.hook_pattern"]
    real = batch.attention_mask.bool()
    is_special = torch.isin(batch.input_ids, torch.tensor(special))
    mass = (pattern * is_special[:, None, None]).sum(-1)  # [batch, head, query]
    expected = torch.stack([mass[:, h][real].mean() for h in range(4)])
    assert torch.allclose(stats["special"][1], expected, atol=1e-6)
    entropy = -(pattern * pattern.clamp_min(1e-12).log()).sum(-1)
    expected = torch.stack([entropy[:, h][real].mean() for h in range(4)])
    assert torch.allclose(stats["entropy"][1], expected, atol=1e-5)
    assert set(stats) == {"overlap", "negation", "special", "entropy"}
    assert all(v.shape == (2, 4) for v in stats.values())


def test_pattern_divergence_is_zero_on_itself_and_symmetric(tiny_model, word_tokenizer):
    from tests.conftest import tiny_config

    other = HookedClassifier(tiny_config(n_layers=3), seed=9, tokenizer=word_tokenizer).eval()
    batch = tiny_model.encode(["the doctor saw the lawyer ."], ["the lawyer saw the doctor"])
    itself = pattern_divergence(tiny_model, tiny_model, batch)
    assert itself.shape == (8, 8) and itself.diagonal().abs().max() < 1e-6
    forward, backward = (
        pattern_divergence(tiny_model, other, batch),
        pattern_divergence(other, tiny_model, batch),
    )
    assert forward.shape == (8, 12)
    assert torch.allclose(forward, backward.T, atol=1e-6)
    assert (forward >= -1e-7).all() and (forward <= torch.log(torch.tensor(2.0)) + 1e-6).all()


def test_negation_attention_matches_a_hand_computation(tiny_model):
    tokenizer = tiny_model.tokenizer
    batch = tiny_model.encode(
        ["the doctor saw the lawyer .", "the artist paid .", "the doctor paid ."],
        ["the lawyer did not see a doctor", "the artist paid", "not the doctor"],
    )
    special = [tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")]
    negation = [tokenizer.token_to_id("not")]
    stats = head_statistics(tiny_model, batch, special, negation)
    _, cache = tiny_model.run_with_cache(batch)
    for layer in range(2):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        for head in range(4):
            values = []
            for example in (0, 2):  # the examples that contain a negation word
                ids = batch.input_ids[example]
                keys = ids == negation[0]
                for query in range(int(batch.attention_mask[example].sum())):
                    values.append(float(pattern[example, head, query][keys].sum()))
            expected = sum(values) / len(values)
            assert abs(float(stats["negation"][layer, head]) - expected) < 1e-6
    none = head_statistics(tiny_model, batch[1:2], special, negation)["negation"]
    assert torch.isnan(none).all()  # undefined without a negation word, never 0
