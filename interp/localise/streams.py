"""The residual streams of a model: stream 0 enters block 0 (after the embeddings), stream l
leaves block l - 1, and the last stream (`n_layers`) leaves the last block, before any final
norm and the head. Any stream, edited, can be run on to the logits (`run_from`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interp.inputs import EncodedSet
from interp.models import Batch, HookedClassifier
from interp.units import block_hook


def stream_hooks(model: HookedClassifier) -> list[str]:
    """Hook names of streams 0 .. n_layers."""
    last = model.cfg.n_layers - 1
    return [block_hook(layer, "hook_resid_pre") for layer in range(model.cfg.n_layers)] + [
        block_hook(last, "hook_resid_post")
    ]


@dataclass
class Streams:
    """Every stream of one model on a chunk of examples: [stream, batch, pos, d_model], the
    positions that hold a token ([batch, pos]), and the logits."""

    resid: Tensor
    keep: Tensor
    logits: Tensor

    @property
    def readout(self) -> Tensor:
        """[stream, batch, d_model] at the readout position ([CLS], position 0)."""
        return self.resid[:, :, 0]


@torch.no_grad()
def run_streams(model: HookedClassifier, data: EncodedSet, index: Tensor) -> Streams:
    """The streams and logits of rows `index` of an encoded set (on CPU, float32)."""
    model.eval()
    batch = data.rows(index).to(model.cfg.device)
    names = stream_hooks(model)
    logits, cache = model.run_with_cache(batch, names_filter=names)
    resid = torch.stack([cache[name].float().cpu() for name in names])
    if batch.attention_mask is not None:
        keep = batch.attention_mask.bool().cpu()
    else:
        keep = torch.ones(resid.shape[1:3], dtype=torch.bool)
    return Streams(resid, keep, logits.float().cpu())


@torch.no_grad()
def run_on(model: HookedClassifier, batch: Batch, stream: int, resid: Tensor) -> Tensor:
    """The logits of `batch` when `resid` ([batch, pos, d_model]) replaces stream `stream`
    (the batch's embeddings give the attention mask)."""
    model.eval()
    _, additive_mask = model.embed(batch.to(model.cfg.device))
    device_resid = resid.to(model.cfg.device, dtype=next(model.parameters()).dtype)
    return model.run_from(stream, device_resid, additive_mask).float().cpu()


@torch.no_grad()
def stream_of(model: HookedClassifier, batch: Batch, stream: int) -> Tensor:
    """Stream `stream` alone, computed through the blocks before it only (their hooks fire as
    in a full forward pass), on the model's device."""
    model.eval()
    resid, additive_mask = model.embed(batch.to(model.cfg.device))
    table = model.relative_positions()
    for block in model.blocks[:stream]:
        resid = block(resid, additive_mask, relative_table=table)
    return resid


def chunks(n: int, size: int) -> list[Tensor]:
    return [torch.arange(start, min(start + size, n)) for start in range(0, n, size)]
