"""Circuits: chosen components with scores, selection rules, and faithfulness by exact patching.

A node circuit keeps some heads and MLPs; every other head and MLP is patched to its value on
the corrupt input while the clean input runs. An edge circuit (`interp.edges`) keeps some edges;
every other edge carries its sender's corrupt output. Faithfulness is
    (m(circuit) - m(empty)) / (m(model) - m(empty)),
with the empty circuit patching every unit (for edges, that is the corrupt run), so 1 means the
circuit alone carries the clean behaviour. It is NaN when the model barely tells clean from
corrupt (|m(model) - m(empty)| below SEPARATION_FLOOR): there is then no behaviour for a
circuit to carry.
A curve over circuit sizes summarises a ranking: the area under it (higher is better)
and the area between it and 1 (0 is best), as in the MIB benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from interp import defaults
from interp.attribution import NodeScores
from interp.chunking import batch_chunks
from interp.edges import edge_rows
from interp.models import Batch, HookedClassifier
from interp.patching import MAX_ROWS, Metric, metric_rows
from interp.results import Circuit
from interp.units import (
    block_hook,
    output_hooks,
    position_classes,
    unit_masks,
    unit_names,
    units_of,
)

# Faithfulness is NaN when |m(model) - m(empty)| (metric units) is below this.
SEPARATION_FLOOR = 0.05


def select_top_k(scores: NodeScores, k: int) -> Circuit:
    """The k nodes with the largest absolute scores."""
    chosen = scores.top(k)
    return Circuit(
        nodes=[name for name, _ in chosen], scores=dict(chosen), meta={"rule": f"top-{k}"}
    )


def select_threshold(scores: NodeScores, threshold: float) -> Circuit:
    """Every node whose absolute score reaches `threshold`."""
    chosen = [(n, v) for n, v in scores.as_dict().items() if abs(v) >= threshold]
    chosen.sort(key=lambda item: -abs(item[1]))
    return Circuit(
        nodes=[n for n, _ in chosen], scores=dict(chosen), meta={"rule": f"|score| >= {threshold}"}
    )


def patch_hooks(model: HookedClassifier, source_cache: dict, heads: Tensor, mlps: Tensor, n: int):
    """Forward hooks for a batch of k stacked copies of n rows: where a mask is True
    (heads [k, layer, head, position class], MLPs [k, layer, position class]) the activation
    takes its value from `source_cache` (one copy: n rows, or one row that every row shares)."""
    k = heads.shape[0]
    device = model.cfg.device
    heads, mlps = heads.to(device), mlps.to(device)

    def patch_heads(act: Tensor, hook) -> Tensor:
        layer = int(hook.name.split(".")[1])
        act = act.view(k, n, *act.shape[1:])  # [k, n, pos, head, d_head]
        classes = position_classes(act.shape[2], device)
        take = heads[:, layer][:, :, classes].transpose(1, 2)  # [k, pos, head]
        take = take.view(k, 1, act.shape[2], act.shape[3], 1)
        return torch.where(take, source_cache[hook.name].unsqueeze(0), act).view(
            k * n, *act.shape[2:]
        )

    def patch_mlps(act: Tensor, hook) -> Tensor:
        layer = int(hook.name.split(".")[1])
        act = act.view(k, n, *act.shape[1:])  # [k, n, pos, d_model]
        classes = position_classes(act.shape[2], device)
        take = mlps[:, layer][:, classes].view(k, 1, act.shape[2], 1)
        return torch.where(take, source_cache[hook.name].unsqueeze(0), act).view(
            k * n, *act.shape[2:]
        )

    hooks = []
    for layer in range(model.cfg.n_layers):
        hooks += [
            (block_hook(layer, "attn.hook_z"), patch_heads),
            (block_hook(layer, "hook_mlp_out"), patch_mlps),
        ]
    return hooks


@torch.no_grad()
def _masked_rows(
    model: HookedClassifier,
    base: Batch,
    source: Batch,
    metric: Metric,
    unit_sets: Sequence[Sequence[str]],
    take_units: bool,
    chunk_size: int,
) -> Tensor:
    """[set, example] metric of `base` runs in which, per set, the units in it (`take_units`)
    or every unit outside it take their values from the `source` run."""
    cfg = model.cfg
    _, source_cache = model.run_with_cache(source, names_filter=output_hooks(model.cfg.n_layers))
    n = len(base)
    # Patches act inside the blocks: the embeddings are computed once and stacked, not once
    # per copy (for images that is the patch unfolding, the slowest step on a CPU).
    resid, additive_mask = model.embed(base)
    values = []
    for start in range(0, len(unit_sets), chunk_size):
        group = unit_sets[start : start + chunk_size]
        heads, mlps = unit_masks(cfg.n_layers, cfg.n_heads, group)
        if not take_units:
            heads, mlps = ~heads, ~mlps
        k = len(group)
        with model.hooks(fwd_hooks=patch_hooks(model, source_cache, heads, mlps, n)):
            logits = model.run_from(0, resid.repeat(k, 1, 1), additive_mask.repeat(k, 1, 1, 1))
        values.append(metric(logits).view(len(group), n))
    return torch.cat(values).cpu()


def units_in(unit_sets: Sequence[Sequence[str]], default: str = "node") -> str:
    """How the units in `unit_sets` are patched: "edge", or "node" for heads and MLPs whole or
    at positions (which mix freely); `default` when all sets are empty. A ValueError when
    edges and nodes are mixed."""
    kinds = {"edge" if units_of(u) == "edge" else "node" for units in unit_sets for u in units}
    if len(kinds) > 1:
        raise ValueError("circuits mix edges with heads and MLPs")
    return kinds.pop() if kinds else default


def _streamed_rows(
    model, base, source, metric, unit_sets, take_units, chunk_size, batch_size, max_rows, units
) -> Tensor:
    if len(base) == 0:
        raise ValueError("no minimal pairs to evaluate a circuit on: the clean batch is empty")
    model.eval()
    base, source = base.to(model.cfg.device), source.to(model.cfg.device)
    n = len(base)
    parts = []
    for part in batch_chunks(model.cfg, base, batch_size, "circuits"):
        rows = part.stop - part.start
        per_pass = max(1, min(chunk_size, max_rows // rows))
        rows_of = edge_rows if units_in(unit_sets, units) == "edge" else _masked_rows
        parts.append(
            rows_of(
                model,
                base[part],
                source[part],
                metric_rows(metric, part, n),
                unit_sets,
                take_units,
                per_pass,
            )
        )
    return torch.cat(parts, dim=1)


def circuit_metric_rows(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    circuits: Sequence[Sequence[str]],
    chunk_size: int = 16,
    batch_size: int | None = None,
    max_rows: int = MAX_ROWS,
    units: str = "node",
) -> Tensor:
    """[circuit, example] metric of the clean run with every unit outside each circuit patched
    to its corrupt value (units: `interp.units`; `units` names the granularity where every
    circuit is empty).

    Streams over chunks of `batch_size` pairs; one forward pass stacks at most `chunk_size`
    circuits and `max_rows` rows."""
    return _streamed_rows(
        model, clean, corrupt, metric, circuits, False, chunk_size, batch_size, max_rows, units
    )


def circuit_metric(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    circuits: Sequence[Sequence[str]],
    chunk_size: int = 16,
    batch_size: int | None = None,
    max_rows: int = MAX_ROWS,
) -> Tensor:
    """Mean over examples of `circuit_metric_rows`."""
    rows = circuit_metric_rows(
        model, clean, corrupt, metric, circuits, chunk_size, batch_size, max_rows
    )
    return rows.mean(-1)


def denoise_units(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    units: Sequence[str],
    chunk_size: int = 16,
    batch_size: int | None = None,
    max_rows: int = MAX_ROWS,
) -> Tensor:
    """Exact denoising of each unit alone: the mean metric of the corrupt run with that unit
    patched to its clean value (for whole nodes, `patch_components(direction="denoise")`; for
    an edge, its receiver reads the sender's clean output)."""
    rows = _streamed_rows(
        model,
        corrupt,
        clean,
        metric,
        [[u] for u in units],
        True,
        chunk_size,
        batch_size,
        max_rows,
        "node",
    )
    return rows.mean(-1)


def faithfulness_rows(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    circuits: Sequence[Sequence[str]],
    batch_size: int | None = None,
    units: str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per example: the metric of the full model [n], of the empty circuit [n] and of each
    circuit [circuit, n], all with the clean input running. `units`: the circuits' granularity
    (default: that of their units, node when all are empty)."""
    units = units or units_in(circuits)
    every = unit_names(model.cfg.n_layers, model.cfg.n_heads, "edge" if units == "edge" else "node")
    rows = circuit_metric_rows(
        model, clean, corrupt, metric, [every, [], *circuits], batch_size=batch_size, units=units
    )
    return rows[0], rows[1], rows[2:]


def faithfulness_of(full: Tensor, empty: Tensor, circuit: Tensor) -> Tensor:
    """(mean circuit - mean empty) / (mean full - mean empty) over the last axis; NaN where the
    model does not tell clean from corrupt (the gap is below SEPARATION_FLOOR)."""
    full, empty, circuit = full.mean(-1), empty.mean(-1), circuit.mean(-1)
    gap = full - empty
    return torch.where(gap.abs() < SEPARATION_FLOOR, torch.nan, (circuit - empty) / gap)


def faithfulness(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    circuits: Sequence[Sequence[str]],
    batch_size: int | None = None,
    units: str | None = None,
) -> Tensor:
    """Faithfulness of each circuit (see the module docstring)."""
    full, empty, rows = faithfulness_rows(
        model, clean, corrupt, metric, circuits, batch_size, units
    )
    return faithfulness_of(full, empty, rows)


def faithfulness_interval(
    full: Tensor,
    empty: Tensor,
    circuit: Tensor,
    rng: np.random.Generator,
    n_bootstrap: int = defaults.N_BOOTSTRAP,
) -> tuple[float, float]:
    """95% bootstrap interval of one circuit's faithfulness, resampling examples (rows of the
    three [n] tensors together); NaN bounds where most resamples are undefined."""
    n = full.shape[-1]
    draws = torch.from_numpy(rng.integers(0, n, size=(n_bootstrap, n)))
    values = faithfulness_of(full[draws], empty[draws], circuit[draws]).numpy()
    values = values[np.isfinite(values)]
    if len(values) < n_bootstrap / 2:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


# The circuit sizes MIB's circuit track evaluates, as fractions of the scored units.
MIB_FRACTIONS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def mib_scores(fractions: Sequence[float], values: Sequence[float]) -> dict:
    """CPR (area under the faithfulness curve; higher is better) and CMD (area between the
    curve and 1; lower is better) by the trapezoid rule over the given unit fractions, as MIB
    computes them over MIB_FRACTIONS (linear scale, from the smallest fraction to 1). NaN
    where a point is undefined."""
    x = np.asarray(fractions, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("a CPR/CMD curve needs at least two points, one value per fraction")
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"fractions must increase: {x.tolist()}")
    return {
        "cpr": float(np.trapezoid(y, x)),
        "cmd": float(np.trapezoid(np.abs(1.0 - y), x)),
    }


def faithfulness_curve(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    scores: NodeScores,
    sizes: Sequence[int] | None = None,
    batch_size: int | None = None,
) -> dict:
    """Faithfulness of the top-k circuits for each k, with the two areas over k / n_units, and
    MIB's CPR and CMD from the sizes at MIB_FRACTIONS (k = floor(fraction * n_units))."""
    ranked = [name for name, _ in scores.top(len(scores.names))]
    n = len(ranked)
    mib_sizes = [int(fraction * n) for fraction in MIB_FRACTIONS]
    sizes = list(range(n + 1)) if sizes is None else sorted(set(sizes) | {0, n} | set(mib_sizes))
    circuits = [ranked[:k] for k in sizes]
    values = faithfulness(
        model, clean, corrupt, metric, circuits, batch_size=batch_size, units=units_in([ranked])
    )
    x = np.array(sizes, dtype=float) / n
    y = values.numpy().astype(float)
    at_size = dict(zip(sizes, y.tolist()))
    mib_values = [at_size[k] for k in mib_sizes]
    return {
        "sizes": sizes,
        "faithfulness": y.tolist(),
        "area_under": float(np.trapezoid(y, x)),
        "area_from_one": float(np.trapezoid(np.abs(1.0 - y), x)),
        "ranking": ranked,
        "mib": {
            "fractions": list(MIB_FRACTIONS),
            "sizes": mib_sizes,
            "faithfulness": mib_values,
            **mib_scores(MIB_FRACTIONS, mib_values),
        },
    }


def circuit_from_curve(curve: dict, scores: NodeScores, target: float = 0.9) -> Circuit:
    """The smallest top-k circuit of a faithfulness curve reaching `target`.

    Where faithfulness is undefined (the model does not separate the pairs) there is no
    behaviour to carry and the circuit is empty, with faithfulness NaN. Where no size reaches
    the target, the circuit is every node, marked `reached: False`.
    """
    values = curve["faithfulness"]
    rule = f"faithfulness >= {target}"
    if all(v is None or v != v for v in values):
        meta = {"rule": rule, "faithfulness": float("nan"), "reached": False}
        meta["undefined"] = "the model does not separate clean from corrupt inputs"
        return Circuit(nodes=[], meta=meta)
    reached = [(s, v) for s, v in zip(curve["sizes"], values) if v >= target]
    size, value = reached[0] if reached else (curve["sizes"][-1], values[-1])
    nodes = curve["ranking"][:size]
    chosen = {name: scores.as_dict()[name] for name in nodes}
    return Circuit(
        nodes=nodes,
        scores=chosen,
        meta={"rule": rule, "faithfulness": value, "reached": bool(reached)},
    )


def smallest_faithful(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    scores: NodeScores,
    target: float = 0.9,
) -> Circuit:
    """The smallest top-k circuit whose faithfulness reaches `target` (all nodes if none)."""
    curve = faithfulness_curve(model, clean, corrupt, metric, scores)
    return circuit_from_curve(curve, scores, target)
