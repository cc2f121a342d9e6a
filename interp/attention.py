"""Per-head attention statistics over probe batches (overlap detectors and baselines)."""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from interp.models import Batch, HookedClassifier


def identical_token_mask(batch: Batch, special_ids: list[int]) -> Bool[Tensor, "batch query key"]:
    """query (a hypothesis token) -> key (a premise token with the same id); specials excluded.

    Premise and hypothesis are told apart by `token_type_ids` (0 and 1).
    """
    if batch.token_type_ids is None:
        raise ValueError("overlap statistics need token_type_ids to tell premise from hypothesis")
    ids, types = batch.input_ids, batch.token_type_ids
    real = batch.attention_mask.bool() & ~torch.isin(
        ids, torch.tensor(special_ids, device=ids.device)
    )
    hypothesis = real & (types == 1)
    premise = real & (types == 0)
    same = ids[:, :, None] == ids[:, None, :]
    return same & hypothesis[:, :, None] & premise[:, None, :]


@torch.no_grad()
def overlap_attention(
    model: HookedClassifier, batch: Batch, special_ids: list[int]
) -> tuple[Float[Tensor, "layer head"], Float[Tensor, ""]]:
    """Mean attention mass from hypothesis tokens to their identical premise tokens, per head.

    Averaged over hypothesis tokens that have an identical premise token. Also returns the mass
    that uniform attention over the unpadded keys would give, as a baseline.
    """
    batch = batch.to(model.cfg.device)
    mask = identical_token_mask(batch, special_ids)
    queries = mask.any(-1)  # [batch, query]
    if not queries.any():
        raise ValueError("no hypothesis token has an identical premise token in this batch")
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(batch, names_filter=names)
    scores = []
    for name in names:
        mass = (cache[name] * mask[:, None].float()).sum(-1)  # [batch, head, query]
        scores.append((mass * queries[:, None]).sum((0, 2)) / queries.sum())
    keys = batch.attention_mask.sum(-1, keepdim=True).float()  # [batch, 1]
    uniform = ((mask.sum(-1) / keys) * queries).sum() / queries.sum()
    return torch.stack(scores), uniform
