"""Circuits: chosen components with scores, selection rules, and faithfulness by exact patching.

A node circuit keeps some heads and MLPs; every other head and MLP is patched to its value on
the corrupt input while the clean input runs. Faithfulness is
    (m(circuit) - m(empty)) / (m(model) - m(empty)),
with the empty circuit patching every node, so 1 means the circuit alone carries the clean
behaviour. It is NaN when the model barely tells clean from corrupt (|m(model) - m(empty)| below
SEPARATION_FLOOR): there is then no behaviour for a circuit to carry.
A curve over circuit sizes summarises a ranking: the area under it (higher is better)
and the area between it and 1 (0 is best), as in the MIB benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from interp.attribution import NodeScores, node_names
from interp.chunking import batch_chunks
from interp.io import atomic_write_text
from interp.models import Batch, HookedClassifier
from interp.patching import MAX_ROWS, Metric, metric_rows

# Faithfulness is NaN when |m(model) - m(empty)| (metric units) is below this.
SEPARATION_FLOOR = 0.05


@dataclass
class Circuit:
    nodes: list[str]
    scores: dict[str, float] = field(default_factory=dict)
    edges: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Circuit":
        data = json.loads(text)
        unknown = set(data) - {"nodes", "scores", "edges", "meta"}
        if unknown:
            raise ValueError(f"unknown circuit fields {sorted(unknown)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Circuit":
        return cls.from_json(Path(path).read_text())


def select_top_k(scores: NodeScores, k: int) -> Circuit:
    """The k nodes with the largest absolute scores."""
    chosen = scores.top(k)
    return Circuit([name for name, _ in chosen], dict(chosen), meta={"rule": f"top-{k}"})


def select_threshold(scores: NodeScores, threshold: float) -> Circuit:
    """Every node whose absolute score reaches `threshold`."""
    chosen = [(n, v) for n, v in scores.as_dict().items() if abs(v) >= threshold]
    chosen.sort(key=lambda item: -abs(item[1]))
    return Circuit([n for n, _ in chosen], dict(chosen), meta={"rule": f"|score| >= {threshold}"})


def _keep_masks(model: HookedClassifier, circuits: Sequence[Sequence[str]]):
    cfg = model.cfg
    heads = torch.zeros(len(circuits), cfg.n_layers, cfg.n_heads, dtype=torch.bool)
    mlps = torch.zeros(len(circuits), cfg.n_layers, dtype=torch.bool)
    known = set(node_names(model))
    for i, nodes in enumerate(circuits):
        for name in nodes:
            if name not in known:
                raise ValueError(f"'{name}' is not a node of this model (e.g. a0.h1, m0)")
            base, _, head = name.partition(".")
            layer = int(base[1:])
            if head:
                heads[i, layer, int(head[1:])] = True
            else:
                mlps[i, layer] = True
    return heads, mlps


@torch.no_grad()
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
    """Mean metric of the clean run with every node outside each circuit patched to corrupt.

    Streams over chunks of `batch_size` pairs; one forward pass stacks at most `chunk_size`
    circuits and `max_rows` rows."""
    if len(clean) == 0:
        raise ValueError("no minimal pairs to evaluate a circuit on: the clean batch is empty")
    model.eval()
    clean, corrupt = clean.to(model.cfg.device), corrupt.to(model.cfg.device)
    n = len(clean)
    total = torch.zeros(len(circuits))
    for part in batch_chunks(model.cfg, clean, batch_size, "circuits"):
        rows = part.stop - part.start
        per_pass = max(1, min(chunk_size, max_rows // rows))
        total += _circuit_sums(
            model, clean[part], corrupt[part], metric_rows(metric, part, n), circuits, per_pass
        )
    return total / n


def _circuit_sums(model, clean, corrupt, metric, circuits, chunk_size) -> Tensor:
    """Per circuit, the metric summed over one chunk's examples."""
    names = []
    for layer in range(model.cfg.n_layers):
        names += [f"blocks.{layer}.attn.hook_z", f"blocks.{layer}.hook_mlp_out"]
    _, corrupt_cache = model.run_with_cache(corrupt, names_filter=names)
    n = len(clean)
    values = []
    for start in range(0, len(circuits), chunk_size):
        group = circuits[start : start + chunk_size]
        k = len(group)
        keep_heads, keep_mlps = _keep_masks(model, group)
        keep_heads, keep_mlps = keep_heads.to(model.cfg.device), keep_mlps.to(model.cfg.device)

        def patch_heads(act: Tensor, hook, k=k, keep=keep_heads) -> Tensor:
            layer = int(hook.name.split(".")[1])
            act = act.view(k, n, *act.shape[1:])
            source = corrupt_cache[hook.name].unsqueeze(0)
            mask = keep[:, layer].view(k, 1, 1, -1, 1)
            return torch.where(mask, act, source).view(k * n, *act.shape[2:])

        def patch_mlps(act: Tensor, hook, k=k, keep=keep_mlps) -> Tensor:
            layer = int(hook.name.split(".")[1])
            act = act.view(k, n, *act.shape[1:])
            source = corrupt_cache[hook.name].unsqueeze(0)
            mask = keep[:, layer].view(k, 1, 1, 1)
            return torch.where(mask, act, source).view(k * n, *act.shape[2:])

        hooks = []
        for layer in range(model.cfg.n_layers):
            hooks += [
                (f"blocks.{layer}.attn.hook_z", patch_heads),
                (f"blocks.{layer}.hook_mlp_out", patch_mlps),
            ]
        with model.hooks(fwd_hooks=hooks):
            logits = model(clean.repeat(k))
        values.append(metric(logits).view(k, n).sum(-1))
    return torch.cat(values).cpu()


def faithfulness(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    circuits: Sequence[Sequence[str]],
    batch_size: int | None = None,
) -> Tensor:
    """Faithfulness of each circuit (see the module docstring)."""
    every = node_names(model)
    circuits = [every, [], *circuits]
    values = circuit_metric(model, clean, corrupt, metric, circuits, batch_size=batch_size)
    full, empty = values[0], values[1]
    if abs(float(full - empty)) < SEPARATION_FLOOR:  # the model does not tell the pair apart
        return torch.full_like(values[2:], float("nan"))
    return (values[2:] - empty) / (full - empty)


def faithfulness_curve(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    scores: NodeScores,
    sizes: Sequence[int] | None = None,
    batch_size: int | None = None,
) -> dict:
    """Faithfulness of the top-k circuits for each k, with the two areas over k / n_nodes."""
    ranked = [name for name, _ in scores.top(len(scores.names))]
    n = len(ranked)
    sizes = list(range(n + 1)) if sizes is None else sorted(set(sizes) | {0, n})
    circuits = [ranked[:k] for k in sizes]
    values = faithfulness(model, clean, corrupt, metric, circuits, batch_size=batch_size)
    x = np.array(sizes, dtype=float) / n
    y = values.numpy().astype(float)
    return {
        "sizes": sizes,
        "faithfulness": y.tolist(),
        "area_under": float(np.trapezoid(y, x)),
        "area_from_one": float(np.trapezoid(np.abs(1.0 - y), x)),
        "ranking": ranked,
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
        return Circuit([], {}, meta=meta)
    reached = [(s, v) for s, v in zip(curve["sizes"], values) if v >= target]
    size, value = reached[0] if reached else (curve["sizes"][-1], values[-1])
    nodes = curve["ranking"][:size]
    chosen = {name: scores.as_dict()[name] for name in nodes}
    return Circuit(
        nodes, chosen, meta={"rule": rule, "faithfulness": value, "reached": bool(reached)}
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
