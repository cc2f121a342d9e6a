"""Streaming over minimal pairs: chunks of a bounded size, so that memory does not grow with
the number of pairs, and a progress bar over them on long analyses.

Every analysis of many pairs (attribution, patching, ablation, circuits, attention statistics)
processes `batch_size` pairs at a time and accumulates sums; the results equal the computation
on all pairs at once. The default size keeps a chunk's activations, gradients and caches near
`CHUNK_BYTES`, measured per token and layer on MiniLM (about 40 floats per token, model
dimension and layer for EAP-IG with 5 steps).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

from tqdm.auto import tqdm

CHUNK_BYTES = 512 * 2**20
BYTES_PER_TOKEN_DIM_LAYER = 160
MAX_BATCH = 256


def default_batch_size(cfg, positions: int) -> int:
    """Pairs per chunk for a model config and sequence length (at least 1, at most 256)."""
    per_pair = BYTES_PER_TOKEN_DIM_LAYER * max(positions, 1) * cfg.d_model * cfg.n_layers
    return int(max(1, min(MAX_BATCH, CHUNK_BYTES // per_pair)))


def chunks(n: int, size: int | None) -> list[slice]:
    """Consecutive slices of at most `size` items covering range(n) (one slice if None)."""
    if size is not None and size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")
    step = n if size is None or size >= n else size
    return [slice(start, min(start + step, n)) for start in range(0, n, max(step, 1))]


def progress_enabled() -> bool:
    """Bars are shown on a terminal, never under pytest or with INTERP_PROGRESS=0."""
    if os.environ.get("INTERP_PROGRESS", "") == "0" or "PYTEST_CURRENT_TEST" in os.environ:
        return False
    return sys.stderr.isatty()


def batch_chunks(cfg, batch, batch_size: int | None, desc: str | None = None):
    """The chunks of a batch's rows: `batch_size` rows each, or the default for the model and
    the batch's sequence length; with a progress bar labelled `desc` when one is given."""
    parts = chunks(len(batch), batch_size or default_batch_size(cfg, batch.shape[1]))
    return parts if desc is None else over_chunks(parts, desc)


def over_chunks(parts: list[slice], desc: str) -> Iterator[slice]:
    """The chunks, with a progress bar when there are several and a terminal to show it on."""
    show = len(parts) > 1 and progress_enabled()
    yield from tqdm(parts, desc=desc, unit="chunk", leave=False, disable=not show)
