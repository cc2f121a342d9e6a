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
    scores = [_overlap_mass(cache[name], mask) for name in names]
    keys = batch.attention_mask.sum(-1, keepdim=True).float()  # [batch, 1]
    uniform = ((mask.sum(-1) / keys) * queries).sum() / queries.sum()
    return torch.stack(scores), uniform


def _overlap_mass(
    pattern: Float[Tensor, "batch head query key"], mask: Bool[Tensor, "batch query key"]
) -> Float[Tensor, " head"]:
    """Mean mass to identical premise tokens over the queries that have one."""
    rows = mask.any(-1)[:, None].float()  # [batch, 1, query]
    mass = (pattern * mask[:, None].float()).sum(-1)  # [batch, head, query]
    return (mass * rows).sum((0, 2)) / rows.sum((0, 2))


def _real_queries(batch: Batch) -> Tensor:
    return batch.attention_mask.bool()


@torch.no_grad()
def head_statistics(
    model: HookedClassifier,
    batch: Batch,
    special_ids: list[int],
    negation_ids: list[int] = (),
) -> dict[str, Float[Tensor, "layer head"]]:
    """Per-head statistics over a batch of premise/hypothesis pairs.

    - `overlap`: mass from hypothesis tokens to their identical premise tokens;
    - `negation`: mass from every real token to negation-word tokens (examples that have one);
    - `special`: mass to special tokens ([CLS], [SEP]);
    - `entropy`: entropy (nats) of the attention distribution of real query tokens.
    Overlap is NaN for a batch without overlapping tokens, negation for one without negations.
    """
    batch = batch.to(model.cfg.device)
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(batch, names_filter=names)
    queries = _real_queries(batch)  # [batch, query]
    ids = batch.input_ids
    is_special = torch.isin(ids, torch.tensor(list(special_ids), device=ids.device))
    is_negation = torch.isin(ids, torch.tensor(list(negation_ids) or [-1], device=ids.device))
    has_negation = is_negation.any(-1)  # [batch]
    overlap_mask = (
        identical_token_mask(batch, special_ids) if batch.token_type_ids is not None else None
    )
    stats = {name: [] for name in ("overlap", "negation", "special", "entropy")}
    q_weight = queries.float()[:, None]  # [batch, 1, query]
    for name in names:
        pattern = cache[name]  # [batch, head, query, key]
        special = (pattern * is_special[:, None, None].float()).sum(-1)
        stats["special"].append((special * q_weight).sum((0, 2)) / q_weight.sum((0, 2)))
        entropy = -(pattern * pattern.clamp_min(1e-12).log()).sum(-1)
        stats["entropy"].append((entropy * q_weight).sum((0, 2)) / q_weight.sum((0, 2)))
        negation_rows = q_weight * has_negation[:, None, None].float()
        negation = (pattern * is_negation[:, None, None].float()).sum(-1)
        total = negation_rows.sum((0, 2))
        stats["negation"].append(
            (negation * negation_rows).sum((0, 2)) / total
            if total.sum() > 0
            else torch.full((model.cfg.n_heads,), float("nan"), device=pattern.device)
        )
        if overlap_mask is not None and overlap_mask.any():
            stats["overlap"].append(_overlap_mass(pattern, overlap_mask))
        else:
            stats["overlap"].append(
                torch.full((model.cfg.n_heads,), float("nan"), device=pattern.device)
            )
    return {key: torch.stack(value).cpu() for key, value in stats.items()}


@torch.no_grad()
def pattern_divergence(
    teacher: HookedClassifier, student: HookedClassifier, batch: Batch
) -> Float[Tensor, "teacher_head student_head"]:
    """Jensen-Shannon divergence (nats) between the attention patterns of every teacher head and
    every student head on the same inputs, averaged over real query tokens.

    Rows are teacher heads in order (layer-major), columns student heads; both models must read
    the same token ids, so they must share a tokenizer.
    """
    if teacher.tokenizer is not None and student.tokenizer is not None:
        if teacher.tokenizer.get_vocab() != student.tokenizer.get_vocab():
            raise ValueError("pattern divergence needs two models with the same tokenizer")

    def patterns(model: HookedClassifier) -> Tensor:
        names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
        _, cache = model.run_with_cache(batch.to(model.cfg.device), names_filter=names)
        return torch.cat([cache[n].cpu() for n in names], dim=1)  # [batch, heads, q, k]

    p, q = patterns(teacher), patterns(student)
    weight = _real_queries(batch).float().cpu()  # [batch, query]
    out = torch.zeros(p.shape[1], q.shape[1])
    for i in range(p.shape[1]):
        a = p[:, i : i + 1]  # [batch, 1, q, k]
        m = 0.5 * (a + q)
        kl_a = (a * (a.clamp_min(1e-12).log() - m.clamp_min(1e-12).log())).sum(-1)
        kl_b = (q * (q.clamp_min(1e-12).log() - m.clamp_min(1e-12).log())).sum(-1)
        js = 0.5 * (kl_a + kl_b)  # [batch, student_heads, query]
        out[i] = (js * weight[:, None]).sum((0, 2)) / weight.sum()
    return out
