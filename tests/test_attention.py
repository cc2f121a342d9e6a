"""Per-head overlap attention against a hand computation."""

import pytest
import torch

from interp.attention import identical_token_mask, overlap_attention
from interp.models import Batch


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
