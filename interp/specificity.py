"""Is a circuit specific to its task? The damage of ablating it, on its task and on controls.

The circuit's units are mean-ablated: each takes its mean output over in-distribution examples
(at [CLS] and at the other positions separately), every other unit runs as usual; for an edge,
its receiver reads the sender's mean output. Damage on a
set of examples is the share of the model's margin that the ablation removes,
    1 - mean margin(ablated) / mean margin(model),
over the examples the intact model gets right (margin > 0), with the margin the logit of the
example's label minus that of its contrast (the partner's label for a minimal pair, the
strongest other label for an in-distribution example). The target is the circuit's own minimal
pairs; the controls are in-distribution examples and the minimal pairs of the task's other bias
types. A circuit is specific when its largest control damage is below half its target damage
(`SPECIFIC_RATIO`); a circuit whose ablation does not damage its own task is not specific.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from interp.chunking import batch_chunks
from interp.circuits import patch_hooks, units_in
from interp.edges import edge_mode, edge_patch_hooks, sender_hooks
from interp.models import Batch, HookedClassifier
from interp.results import Damage, Specificity
from interp.units import POSITIONS, edge_masks, output_hooks, position_classes, unit_masks

SPECIFIC_RATIO = 0.5  # control damage at or above this share of the target damage: not specific
MIN_EXAMPLES = 4  # fewer correctly answered examples than this: damage undefined


@dataclass
class ExampleSet:
    """Examples with the label whose logit margin is measured and its contrast label."""

    batch: Batch
    gold: Tensor  # [n] label ids
    contrast: Tensor | None = None  # [n] label ids; None: the strongest other label

    def __len__(self) -> int:
        return len(self.gold)


def _margins(logits: Tensor, gold: Tensor, contrast: Tensor | None) -> Tensor:
    gold_logit = logits.gather(1, gold.view(-1, 1)).squeeze(1)
    if contrast is not None:
        return gold_logit - logits.gather(1, contrast.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, gold.view(-1, 1), float("-inf"))
    return gold_logit - others.max(1).values


@torch.no_grad()
def mean_outputs(
    model: HookedClassifier, batch: Batch, batch_size: int | None = None, units: str = "node"
) -> dict[str, Tensor]:
    """Per activation, its mean over real (unpadded) tokens at each position class:
    [2, head, d_head] for heads, [2, d_model] for MLPs; for edges, every sender's output
    (`interp.edges.sender_hooks`)."""
    if units == "edge":
        with edge_mode(model):
            return _means(model, batch, batch_size, sender_hooks(model.cfg.n_layers))
    return _means(model, batch, batch_size, output_hooks(model.cfg.n_layers))


def _means(model, batch: Batch, batch_size: int | None, names: list[str]) -> dict[str, Tensor]:
    sums: dict[str, Tensor] = {}
    counts = torch.zeros(len(POSITIONS), device=model.cfg.device)
    for part in batch_chunks(model.cfg, batch, batch_size):
        rows = batch[part].to(model.cfg.device)
        _, cache = model.run_with_cache(rows, names_filter=names)
        first = next(iter(cache.values()))
        weight = (
            rows.attention_mask.to(first.dtype)
            if rows.attention_mask is not None
            else torch.ones(first.shape[:2], device=first.device)
        )
        classes = position_classes(weight.shape[1], weight.device)
        per_class = torch.stack([weight * (classes == c) for c in range(len(POSITIONS))])
        counts += per_class.sum((1, 2))
        for name, act in cache.items():
            flat = act.flatten(2)  # [batch, pos, features]
            total = torch.einsum("cbp,bpf->cf", per_class, flat).view(
                len(POSITIONS), *act.shape[2:]
            )
            sums[name] = sums.get(name, 0) + total
    shape = (len(POSITIONS),)
    return {
        name: total / counts.clamp_min(1).view(*shape, *([1] * (total.ndim - 1)))
        for name, total in sums.items()
    }


def mean_source(means: dict[str, Tensor], n_positions: int, device) -> dict[str, Tensor]:
    """The means laid out over positions, one row that every example shares."""
    classes = position_classes(n_positions, device)
    return {name: mean[classes].unsqueeze(0) for name, mean in means.items()}


@torch.no_grad()
def ablation_damage(
    model: HookedClassifier,
    units: list[str],
    examples: ExampleSet,
    means: dict[str, Tensor],
    batch_size: int | None = None,
) -> Damage:
    """The damage of mean-ablating `units` on `examples` (module docstring)."""
    full, ablated = [], []
    cfg = model.cfg
    for part in batch_chunks(cfg, examples.batch, batch_size):
        rows = examples.batch[part].to(cfg.device)
        gold = examples.gold[part].to(cfg.device)
        contrast = None if examples.contrast is None else examples.contrast[part].to(gold.device)
        full.append(_margins(model(rows), gold, contrast).cpu())
        with mean_ablation(model, units, means, rows):
            ablated.append(_margins(model(rows), gold, contrast).cpu())
    full_t, ablated_t = torch.cat(full), torch.cat(ablated)
    right = full_t > 0
    n = int(right.sum())
    if n < MIN_EXAMPLES:
        return Damage(n=n, margin=None, ablated_margin=None, accuracy_after=None, damage=None)
    margin, after = float(full_t[right].mean()), float(ablated_t[right].mean())
    return Damage(
        n=n,
        margin=margin,
        ablated_margin=after,
        accuracy_after=float((ablated_t[right] > 0).float().mean()),
        damage=1.0 - after / margin,
    )


@contextmanager
def mean_ablation(
    model: HookedClassifier, units: list[str], means: dict[str, Tensor], rows: Batch
) -> Iterator[None]:
    """Hooks under which the units (or edges) take their mean outputs (`mean_outputs`) in a
    forward pass of `rows`."""
    cfg = model.cfg
    source, n = mean_source(means, rows.shape[1], cfg.device), len(rows)
    if units_in([units]) == "edge":
        masks = edge_masks(cfg.n_layers, cfg.n_heads, [units])
        with edge_mode(model), model.hooks(fwd_hooks=edge_patch_hooks(model, source, masks, n)):
            yield
        return
    heads, mlps = unit_masks(cfg.n_layers, cfg.n_heads, [units])
    with model.hooks(fwd_hooks=patch_hooks(model, source, heads, mlps, n)):
        yield


def specificity(
    model: HookedClassifier,
    units: list[str],
    target: ExampleSet,
    controls: dict[str, ExampleSet],
    reference: Batch,
    batch_size: int | None = None,
) -> Specificity:
    """Target and control damage of mean-ablating the circuit `units`, the means taken over
    `reference` (in-distribution inputs)."""
    if not units:
        raise ValueError("an empty circuit has no specificity to measure")
    means = mean_outputs(model, reference, batch_size, units_in([units]))
    on_target = ablation_damage(model, units, target, means, batch_size)
    on_controls = {
        name: ablation_damage(model, units, examples, means, batch_size)
        for name, examples in controls.items()
    }
    defined = [d.damage for d in on_controls.values() if d.damage is not None]
    control = max(defined) if defined else None
    if on_target.damage is None or control is None:
        return Specificity(target=on_target, controls=on_controls, control_damage=control)
    target_damage = on_target.damage
    ratio = control / target_damage if target_damage > 0 else None
    specific = target_damage > 0 and control < SPECIFIC_RATIO * target_damage
    return Specificity(
        target=on_target,
        controls=on_controls,
        control_damage=control,
        ratio=ratio,
        specific=bool(specific),
    )
