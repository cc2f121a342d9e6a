"""DeBERTa's disentangled attention terms over relative positions.

Beside the content-to-content score q_i . k_j, DeBERTa adds the query's content against the
relative position of the key (c2p: q_i . P_k[r(i, j)]) and the key's content against the same
relative position seen from the query (p2c: k_j . P_q[r(i, j)]), where P_q and P_k project one
table of relative-position embeddings and r(i, j) is i - j, log-bucketed beyond a distance.
Every term is divided by the same scale, sqrt(d_head * number of terms) in DeBERTa.
"""

from __future__ import annotations

import torch
from torch import Tensor

from interp.models.config import RelativeAttention


def log_buckets(distance: Tensor, buckets: int, max_distance: int) -> Tensor:
    """Distances within buckets/2 stay as they are; longer ones share logarithmic buckets
    (DeBERTa-v3's `position_buckets`). Computed in float32 as the reference does, so that the
    ceiling falls the same way."""
    mid = buckets // 2
    magnitude = distance.abs()
    far = magnitude > mid
    ratio = torch.where(far, magnitude, torch.full_like(magnitude, mid)).float() / mid
    scale = torch.log(torch.tensor((max_distance - 1) / mid)) / (mid - 1)
    bucket = torch.ceil(torch.log(ratio) / scale) + mid
    return torch.where(far, bucket.long() * distance.sign(), distance)


def query_key_distance(n_queries: int, n_keys: int, device) -> Tensor:
    """[query, key] i - j, for the first `n_queries` positions against the first `n_keys`."""
    return torch.arange(n_queries, device=device)[:, None] - torch.arange(n_keys, device=device)


def relative_index(n_queries: int, n_keys: int, relative: RelativeAttention, device) -> Tensor:
    """[query, key] rows of the relative-position table: bucket(i - j) + span, clamped."""
    distance = query_key_distance(n_queries, n_keys, device)
    if relative.buckets > 0:
        distance = log_buckets(distance, relative.buckets, relative.max_distance)
    return (distance + relative.span).clamp(0, 2 * relative.span - 1)


def _project_table(attention, table: Tensor, side: str) -> Tensor:
    """The table through the query (side "q") or key ("k") projection: [rows, head, d_head]."""
    prefix = "" if attention.cfg.relative_attention.share_keys else "pos_"
    weight = getattr(attention, f"{prefix}{side}_weight")
    bias = getattr(attention, f"{prefix}{side}_bias")
    return (table @ weight + bias).view(table.shape[0], attention.cfg.n_heads, -1)


def relative_scores(attention, q: Tensor, k: Tensor, table: Tensor, scale: float) -> Tensor:
    """The c2p and p2c scores [batch, head, query, key] of an `Attention` module (q and k are
    [batch, pos, head, d_head]), divided by `scale`."""
    relative = attention.cfg.relative_attention
    index = relative_index(q.shape[1], k.shape[1], relative, q.device)
    batch, heads = q.shape[0], q.shape[2]
    scores = torch.zeros(batch, heads, q.shape[1], k.shape[1], dtype=q.dtype, device=q.device)
    if "c2p" in relative.terms:
        position_keys = _project_table(attention, table, "k")
        by_row = torch.einsum("bqhd,rhd->bhqr", q, position_keys)
        rows = index.expand(batch, heads, -1, -1)
        scores = scores + by_row.gather(-1, rows) / scale
    if "p2c" in relative.terms:
        position_queries = _project_table(attention, table, "q")
        by_row = torch.einsum("bkhd,rhd->bhkr", k, position_queries)
        rows = index.T.expand(batch, heads, -1, -1)  # [key, query]
        scores = scores + by_row.gather(-1, rows).transpose(-1, -2) / scale
    return scores
