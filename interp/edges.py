"""Edge circuits by exact patching of edges (path patching), in pre-norm models.

In a pre-norm model the residual stream that a receiver reads (a head's query, key or value
input, an MLP's input, the classifier's input) is the sum of the outputs of every sender before
it (the embeddings, each head's result, each MLP's output) plus constant biases. An edge circuit
keeps some edges (`interp.units`, `edge` granularity); every receiver reads its input with the
output of each sender whose edge to it is not kept replaced by that sender's output on the
source input:
    input_v = input_v(run) - sum over removed edges u -> v of (out_u(run) - out_u(source)).
One forward pass does it: hooks record each sender's output as it is computed and rewrite each
receiver's input. Removing every edge reproduces the source run, keeping every edge the base
run, and removing every edge that leaves a set of heads and MLPs equals patching those nodes
(`interp.circuits`), as the tests check. Post-norm models renormalise the stream after every
sub-layer, so their edges are not defined this way and are refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

from interp.errors import ConfigError
from interp.models import Batch, HookedClassifier
from interp.patching import Metric
from interp.units import block_hook, edge_masks

EMBED_HOOK = "blocks.0.hook_resid_pre"


def check_edges(model: HookedClassifier) -> None:
    """A ConfigError unless the model's residual stream is a sum of its senders' outputs."""
    if model.cfg.norm != "pre":
        raise ConfigError(
            "edge circuits need a pre-norm model (the residual stream as a sum of component "
            "outputs); this model is post-norm: use --units node or position"
        )


def sender_hooks(n_layers: int) -> list[str]:
    """The hooks of every sender's output in forward order: the embeddings, then each layer's
    per-head results and MLP output."""
    names = [EMBED_HOOK]
    for layer in range(n_layers):
        names += [block_hook(layer, "attn.hook_result"), block_hook(layer, "hook_mlp_out")]
    return names


@contextmanager
def edge_mode(model: HookedClassifier) -> Iterator[None]:
    """Per-head results and per-head attention inputs on, restored afterwards."""
    saved = (model.cfg.use_attn_result, model.cfg.use_split_qkv_input)
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    try:
        yield
    finally:
        model.set_use_attn_result(saved[0])
        model.set_use_split_qkv_input(saved[1])


@torch.no_grad()
def sender_outputs(model: HookedClassifier, batch: Batch) -> dict[str, Tensor]:
    """Every sender's output on `batch` (the source of an edge patch)."""
    with edge_mode(model):
        _, cache = model.run_with_cache(batch, names_filter=sender_hooks(model.cfg.n_layers))
    return dict(cache.items())


def edge_patch_hooks(
    model: HookedClassifier, source: dict[str, Tensor], from_source: Tensor, n: int
) -> list:
    """Forward hooks for k stacked copies of n rows: in copy i, each receiver reads the output
    of sender u from `source` (n rows, or one row every row shares) where
    `from_source[i, u, receiver]` is True (axes as `units.senders` and `units.receivers`)."""
    cfg = model.cfg
    k, heads = from_source.shape[0], cfg.n_heads
    weights = from_source.to(cfg.device)
    deltas: list[Tensor] = []  # per sender: out(run) - out(source), [k, n, pos, d_model]
    stacked: dict[int, Tensor] = {}

    def difference(act: Tensor, name: str) -> Tensor:
        return act.view(k, n, *act.shape[1:]) - source[name].unsqueeze(0)

    def record_embed(act: Tensor, hook) -> Tensor:
        deltas.clear()
        stacked.clear()
        deltas.append(difference(act, hook.name))
        return act

    def record_heads(act: Tensor, hook) -> Tensor:
        delta = difference(act, hook.name)  # [k, n, pos, head, d_model]
        deltas.extend(delta[:, :, :, h] for h in range(heads))
        return act

    def record_mlp(act: Tensor, hook) -> Tensor:
        deltas.append(difference(act, hook.name))
        return act

    def senders_so_far() -> Tensor:
        count = len(deltas)
        if count not in stacked:
            stacked[count] = torch.stack(deltas)  # [sender, k, n, pos, d_model]
        return stacked[count]

    def rewrite(first: int, width: int | None):
        """A hook rewriting receivers [first, first + width) (one receiver when width is
        None, whose input has no head axis)."""

        def hook_fn(act: Tensor, hook) -> Tensor:
            sent = senders_so_far()
            if width is None:
                mask = weights[:, : len(sent), first]  # [k, sender]
                if not mask.any():
                    return act
                correction = torch.einsum("ku,uknpd->knpd", mask.to(sent.dtype), sent)
            else:
                mask = weights[:, : len(sent), first : first + width]  # [k, sender, head]
                if not mask.any():
                    return act
                correction = torch.einsum("kuh,uknpd->knphd", mask.to(sent.dtype), sent)
            return act - correction.reshape(act.shape)

        return hook_fn

    hooks = [(EMBED_HOOK, record_embed)]
    per_layer = 3 * heads + 1
    for layer in range(cfg.n_layers):
        first = layer * per_layer
        hooks += [
            (block_hook(layer, f"hook_{inp}_input"), rewrite(first + i * heads, heads))
            for i, inp in enumerate("qkv")
        ]
        hooks += [
            (block_hook(layer, "attn.hook_result"), record_heads),
            (block_hook(layer, "hook_mlp_in"), rewrite(first + 3 * heads, None)),
            (block_hook(layer, "hook_mlp_out"), record_mlp),
        ]
    last = cfg.n_layers - 1
    hooks.append((block_hook(last, "hook_resid_post"), rewrite(cfg.n_layers * per_layer, None)))
    return hooks


@torch.no_grad()
def edge_rows(
    model: HookedClassifier,
    base: Batch,
    source: Batch | dict[str, Tensor],
    metric: Metric,
    edge_sets: Sequence[Sequence[str]],
    take_edges: bool,
    chunk_size: int,
) -> Tensor:
    """[set, example] metric of `base` runs in which, per set, the edges in it (`take_edges`)
    or every edge outside it carry their sender's output on `source` (a batch, or sender
    outputs such as per-position means)."""
    check_edges(model)
    cfg = model.cfg
    outputs = sender_outputs(model, source) if isinstance(source, Batch) else source
    n = len(base)
    resid, additive_mask = model.embed(base)
    values = []
    with edge_mode(model):
        for start in range(0, len(edge_sets), chunk_size):
            group = edge_sets[start : start + chunk_size]
            masks = edge_masks(cfg.n_layers, cfg.n_heads, group)
            from_source = masks if take_edges else ~masks
            k = len(group)
            hooks = edge_patch_hooks(model, outputs, from_source, n)
            with model.hooks(fwd_hooks=hooks):
                logits = model.run_from(0, resid.repeat(k, 1, 1), additive_mask.repeat(k, 1, 1, 1))
            values.append(metric(logits).view(k, n))
    return torch.cat(values).cpu()
