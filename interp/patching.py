"""Exact activation patching and ablation, many patches per forward pass.

A patch replaces one component's activation in a *base* run by its value from a *source*:
- denoising: base = corrupt input, source = the clean run (how much does this component restore
  the clean behaviour?);
- noising: base = clean input, source = the corrupt run (how much does it break it?);
- ablation: base = the input, source = zeros, the batch mean, or another example (resample).

Patches of one layer are stacked along the batch axis (copy i of the batch carries patch i), and
each run resumes right after the patched activation from the base run's cache, since everything
before it is unchanged (a head patch starts at its layer's output projection).
Metrics map logits to one value per example; they receive k stacked copies of the batch and
must handle that (the metrics here tile their per-example targets).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from interp.chunking import batch_chunks
from interp.models import Batch, HookedClassifier
from interp.units import block_hook

Metric = Callable[[Tensor], Tensor]  # logits [k * batch, n_labels] -> [k * batch]
Component = Literal["head", "mlp", "resid"]
HOOKS = {"head": "attn.hook_z", "mlp": "hook_mlp_out", "resid": "hook_resid_pre"}
MAX_ROWS = 4096  # rows of one stacked forward pass (patches x pairs), bounding its memory


def _tile(values: Tensor, rows: int) -> Tensor:
    if rows % len(values):
        raise ValueError(f"{rows} logit rows are not a whole number of copies of {len(values)}")
    return values.repeat(rows // len(values), *([1] * (values.ndim - 1)))


class LogitDiff:
    """Logit of the gold label minus logit of the foil, per example. `rows(index)` gives the
    metric of a subset of the examples, so that analyses can stream over chunks of pairs."""

    def __init__(self, gold: Tensor, foil: Tensor):
        self.gold, self.foil = gold.to(torch.long), foil.to(torch.long)

    def __call__(self, logits: Tensor) -> Tensor:
        rows = torch.arange(len(logits), device=logits.device)
        gold = _tile(self.gold, len(logits)).to(logits.device)
        foil = _tile(self.foil, len(logits)).to(logits.device)
        return logits[rows, gold] - logits[rows, foil]

    def rows(self, index: Tensor) -> "LogitDiff":
        index = index.to(self.gold.device)
        return LogitDiff(self.gold[index], self.foil[index])


class KLToClean:
    """KL(clean || patched) of the label distributions, per example (0: clean behaviour)."""

    def __init__(self, clean_logits: Tensor):
        self.clean = F.log_softmax(clean_logits.detach(), dim=-1)

    def __call__(self, logits: Tensor) -> Tensor:
        reference = _tile(self.clean, len(logits)).to(logits.device)
        return (reference.exp() * (reference - F.log_softmax(logits, dim=-1))).sum(-1)

    def rows(self, index: Tensor) -> "KLToClean":
        chunk = KLToClean.__new__(KLToClean)
        chunk.clean = self.clean[index.to(self.clean.device)]
        return chunk


def logit_diff(gold: Tensor, foil: Tensor) -> LogitDiff:
    """Logit of the gold label minus logit of the foil, per example."""
    return LogitDiff(gold, foil)


def kl_to_clean(clean_logits: Tensor) -> KLToClean:
    """KL(clean || patched) of the label distributions, per example (0: clean behaviour)."""
    return KLToClean(clean_logits)


def metric_rows(metric: Metric, part: slice, n: int) -> Metric:
    """The metric for the examples `part` of `n`. A plain function cannot be split: it is only
    usable when the chunk is the whole batch."""
    if part.start == 0 and part.stop == n:
        return metric
    if not hasattr(metric, "rows"):
        raise ValueError(
            "streaming over chunks of pairs needs a metric that knows its examples (logit_diff, "
            "kl_to_clean, or any object with rows(index)); pass batch_size >= the number of "
            "pairs to use a plain function"
        )
    return metric.rows(torch.arange(part.start, part.stop))


def normalised_recovery(patched: Tensor, clean_value: Tensor, corrupt_value: Tensor) -> Tensor:
    """(m(patched) - m(corrupt)) / (m(clean) - m(corrupt)): 1 restores clean, 0 does nothing."""
    return (patched - corrupt_value) / (clean_value - corrupt_value)


def hook_name(component: Component, layer: int) -> str:
    return block_hook(layer, f"{HOOKS[component]}")


def _component_names(model: HookedClassifier, component: Component) -> list[str]:
    return [hook_name(component, layer) for layer in range(model.cfg.n_layers)]


@torch.no_grad()
def run_cache(model: HookedClassifier, batch: Batch, names: list[str]) -> tuple[Tensor, dict]:
    logits, cache = model.run_with_cache(batch, names_filter=names)
    return logits, cache


def _run_patched(
    model: HookedClassifier,
    component: Component,
    layer: int,
    base_cache: dict[str, Tensor],
    patched: Tensor,
    copies: int,
    additive_mask: Tensor,
) -> Tensor:
    """Logits of `copies` stacked runs that carry the patched activation of `layer`, resumed
    right after it: a head patch from its output projection, an MLP patch from its output."""
    mask = additive_mask.repeat(copies, 1, 1, 1)
    if component == "resid":
        return model.run_from(layer, patched, mask, cls_only_last=True)
    # The residual beside the patch, at the patch's positions only ([CLS] alone in the last layer).
    positions = patched.shape[1]
    if component == "head":
        resid = base_cache[block_hook(layer, "hook_resid_pre")][:, :positions].repeat(copies, 1, 1)
        return model.run_from_z(layer, resid, patched, mask, cls_only_last=True)
    resid_mid = base_cache[block_hook(layer, "hook_resid_mid")][:, :positions].repeat(copies, 1, 1)
    return model.run_from_mlp_out(layer, resid_mid, patched, mask, cls_only_last=True)


@torch.no_grad()
def _paired_caches(
    model: HookedClassifier,
    base: Batch,
    other: Batch,
    base_names: list[str],
    other_names: list[str],
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Caches of two aligned batches from one forward pass over both (half the per-call cost)."""
    stacked = Batch.cat([replace(base, labels=None), replace(other, labels=None)])
    _, cache = run_cache(model, stacked, sorted(set(base_names) | set(other_names)))
    n = len(base)
    return {k: cache[k][:n] for k in base_names}, {k: cache[k][n:] for k in other_names}


@torch.no_grad()
def patch_sweep(
    model: HookedClassifier,
    base: Batch,
    source: dict[str, Tensor] | Batch,
    component: Component,
    metric: Metric,
    per_position: bool = False,
    chunk_size: int = 64,
    layers: Sequence[int] | None = None,
    batch_size: int | None = None,
    max_rows: int = MAX_ROWS,
) -> Tensor:
    """Patch every component of a kind, one at a time, from `source` into the `base` run.

    `source` holds the replacement activations by hook name (one row per example), or is the
    batch to take them from (then one forward pass caches both runs).

    Returns the metric per patch and example: heads [layer, head, (pos,) batch], MLPs
    [layer, (pos,) batch], residual stream [layer, pos, batch] (always per position).
    With `layers`, only those layers are patched (the other rows stay zero).
    Pairs are processed `batch_size` at a time (default: from the model size), and one forward
    pass stacks at most `chunk_size` patches and `max_rows` rows.
    """
    base = base.to(model.cfg.device)
    n = len(base)
    results = []
    for part in batch_chunks(model.cfg, base, batch_size, "patching"):
        rows = part.stop - part.start
        if isinstance(source, Batch):
            part_source = source[part]
        else:
            part_source = {name: act[part] for name, act in source.items()}
        patches = max(1, min(chunk_size, max_rows // max(rows, 1)))
        results.append(
            _sweep(
                model,
                base[part],
                part_source,
                component,
                metric_rows(metric, part, n),
                per_position,
                patches,
                layers,
            )
        )
    return torch.cat(results, dim=-1)


def _sweep(
    model: HookedClassifier,
    base: Batch,
    source: dict[str, Tensor] | Batch,
    component: Component,
    metric: Metric,
    per_position: bool,
    chunk_size: int,
    layers: Sequence[int] | None,
) -> Tensor:
    """`patch_sweep` on one chunk of pairs, `chunk_size` patches per forward pass."""
    cfg = model.cfg
    device = cfg.device
    base = base.to(device)
    n_examples, n_pos = base.shape[0], base.shape[1]
    layer_range = range(cfg.n_layers) if layers is None else layers
    names = [block_hook(layer, "hook_resid_pre") for layer in range(cfg.n_layers)]
    names += [hook_name(component, layer) for layer in layer_range]
    if component == "mlp":
        names += [block_hook(layer, "hook_resid_mid") for layer in layer_range]
    if isinstance(source, Batch):
        source_names = [hook_name(component, layer) for layer in layer_range]
        base_cache, source = _paired_caches(model, base, source.to(device), names, source_names)
    else:
        _, base_cache = run_cache(model, base, sorted(set(names)))
    _, additive_mask = model.embed(base)
    per_position = per_position or component == "resid"
    heads = cfg.n_heads if component == "head" else 1
    positions = n_pos if per_position else 1
    results = torch.zeros(cfg.n_layers, heads, positions, n_examples, device=device)
    patches = [(h, p) for h in range(heads) for p in range(positions)]
    last = cfg.n_layers - 1
    for layer in layer_range:
        name = hook_name(component, layer)
        clean_act, base_act = source[name].to(device), base_cache[name]
        layer_patches = patches
        # Heads and MLPs of the last layer act on the head only through the readout positions
        # ([CLS], and DeiT's distillation token), so their sweep computes those alone (resid
        # patches there still move keys and values).
        readout = cfg.readout_positions
        if component != "resid" and layer == last:
            clean_act, base_act = clean_act[:, :readout], base_act[:, :readout]
            layer_patches = [(h, p) for h, p in patches if p < readout]
            if per_position and n_pos > readout:  # other positions change nothing
                unpatched = metric(
                    model.run_from(
                        layer,
                        base_cache[block_hook(layer, "hook_resid_pre")],
                        additive_mask,
                        cls_only_last=True,
                    )
                )
                for h, p in patches:
                    if p >= readout:
                        results[layer, h, p] = unpatched
        for start in range(0, len(layer_patches), chunk_size):
            chunk = layer_patches[start : start + chunk_size]
            k = len(chunk)
            patched = base_act.repeat(k, *[1] * (base_act.ndim - 1))
            patched = patched.view(k, *base_act.shape)
            for i, (h, p) in enumerate(chunk):
                where = (i, slice(None), p if per_position else slice(None))
                if component == "head":
                    patched[where + (h,)] = clean_act[:, p if per_position else slice(None), h]
                else:
                    patched[where] = clean_act[:, p if per_position else slice(None)]
            patched = patched.view(k * n_examples, *base_act.shape[1:])
            logits = _run_patched(model, component, layer, base_cache, patched, k, additive_mask)
            values = metric(logits).view(k, n_examples)
            for i, (h, p) in enumerate(chunk):
                results[layer, h, p] = values[i]
    if component != "head":
        results = results[:, 0]
    if not per_position:
        results = results.squeeze(-2)
    return results


def _prepare(model: HookedClassifier, device: str | None) -> HookedClassifier:
    if device is not None:
        model.to(device)
    if any(module.training for module in model.modules()):  # eval() itself costs a sweep 5%
        model.eval()
    return model


def prepare_pair(
    model: HookedClassifier, clean: Batch, corrupt: Batch, device: str | None
) -> tuple[HookedClassifier, Batch, Batch]:
    """The model in eval mode on `device`, and the two batches there, checked to align."""
    if len(clean) == 0:
        raise ValueError("no minimal pairs to analyse: the clean batch is empty")
    if clean.shape != corrupt.shape:
        raise ValueError(
            f"clean and corrupt batches must align position by position: {tuple(clean.shape)} "
            f"vs {tuple(corrupt.shape)}"
        )
    model = _prepare(model, device)
    return model, clean.to(model.cfg.device), corrupt.to(model.cfg.device)


def patch_components(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    component: Component = "head",
    direction: Literal["denoise", "noise"] = "denoise",
    per_position: bool = False,
    chunk_size: int = 64,
    device: str | None = None,
    batch_size: int | None = None,
) -> Float[Tensor, "..."]:
    """Mean metric over examples after patching each component (see `patch_sweep` for shapes,
    without the batch axis). Denoising patches clean activations into the corrupt run."""
    model, clean, corrupt = prepare_pair(model, clean, corrupt, device)
    base, other = (corrupt, clean) if direction == "denoise" else (clean, corrupt)
    sweep = patch_sweep(
        model, base, other, component, metric, per_position, chunk_size, batch_size=batch_size
    )
    return sweep.mean(-1)


def derangement(n: int, seed: int) -> Tensor:
    """A seeded permutation in which no example is its own source (for n > 1)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return torch.where(order == torch.arange(n), (order + 1) % n, order) if n > 1 else order


@torch.no_grad()
def _mean_activations(
    model, batch: Batch, names: list[str], batch_size: int | None
) -> dict[str, Tensor]:
    """Per position, the mean over examples of each activation (over unpadded examples for
    text), accumulated chunk by chunk."""
    sums: dict[str, Tensor] = {}
    weights: dict[str, Tensor] = {}
    for part in batch_chunks(model.cfg, batch, batch_size):
        rows = batch[part]
        _, cache = run_cache(model, rows, names)
        for name, act in cache.items():
            if rows.input_ids is not None:
                weight = rows.attention_mask.to(act.device, act.dtype)
                weight = weight.view(*weight.shape, *([1] * (act.ndim - 2)))
            else:
                weight = torch.ones(act.shape[0], *([1] * (act.ndim - 1)), device=act.device)
            sums[name] = sums.get(name, 0) + (act * weight).sum(0, keepdim=True)
            weights[name] = weights.get(name, 0) + weight.sum(0, keepdim=True)
    return {name: sums[name] / weights[name].clamp_min(1) for name in sums}


def ablate_components(
    model: HookedClassifier,
    batch: Batch,
    metric: Metric,
    component: Component = "head",
    kind: Literal["zero", "mean", "resample"] = "mean",
    per_position: bool = False,
    chunk_size: int = 64,
    seed: int = 0,
    device: str | None = None,
    batch_size: int | None = None,
) -> Tensor:
    """Mean metric over examples after ablating each component in turn: its activation set to
    zero, to its mean over the batch (per position), or to another example's (resample, a
    seeded derangement). Streams over chunks of `batch_size` examples."""
    if kind not in ("zero", "mean", "resample"):
        raise ValueError(f"unknown ablation '{kind}': zero, mean or resample")
    model = _prepare(model, device)
    batch = batch.to(model.cfg.device)
    n = len(batch)
    if n == 0:
        raise ValueError("nothing to ablate: the batch is empty")
    names = _component_names(model, component)
    means = _mean_activations(model, batch, names, batch_size) if kind == "mean" else {}
    order = derangement(n, seed)
    total = None
    for part in batch_chunks(model.cfg, batch, batch_size, "ablation"):
        rows = batch[part]
        if kind == "resample":
            _, source = run_cache(model, batch[order[part]], names)
        elif kind == "mean":
            source = {k: v.expand(len(rows), *v.shape[1:]).clone() for k, v in means.items()}
        else:
            _, cache = run_cache(model, rows, names)
            source = {k: torch.zeros_like(v) for k, v in cache.items()}
        sweep = patch_sweep(
            model,
            rows,
            source,
            component,
            metric_rows(metric, part, n),
            per_position,
            chunk_size,
            batch_size=len(rows),
        )
        total = sweep.sum(-1) if total is None else total + sweep.sum(-1)
    return total / n
