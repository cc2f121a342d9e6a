"""Attribution patching (EAP) and EAP-IG for nodes (heads, MLPs) and edges between them.

Patching a component's activation a from its corrupt value to its clean value changes the metric
by about (a_clean - a_corrupt) . dm/da, the gradient taken in the corrupt run: one forward and
one backward pass score every component at once. EAP-IG (Hanna et al., 2024) averages the
gradient over m inputs interpolated between the corrupt and the clean embeddings, which follows
the metric's curvature better; it costs m + 1 forward and m backward passes.

`eap-ig-activations` integrates instead over each layer's own activations: the heads and MLP of
layer l move together from their corrupt to their clean values while the layers before l stay
corrupt and the layers after are recomputed. Only components of the same layer interact on
that path, so its scores follow single-node denoising more closely; it costs m partial forward
and backward passes per layer.

Edges u -> v need the residual stream to be a plain sum of component outputs, which holds in
pre-norm models: v's input (its q/k/v input, an MLP's input, or the final residual) is the sum of
the outputs u of every earlier component, so the score of u -> v is (u_clean - u_corrupt) . dm/d
input_v. Post-norm models renormalise the sum after every sub-layer; they get node scores only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from interp.chunking import batch_chunks
from interp.errors import InterpError
from interp.models import Batch, HookedClassifier
from interp.patching import Metric, metric_rows, prepare_pair
from interp.units import (  # parse_node: re-exported for the modules that import it here
    Units,
    block_hook,
    check_units,
    earlier,
    head_name,
    output_hooks,
    unit_names,
)

Method = Literal["eap", "eap-ig", "eap-ig-activations"]


@dataclass
class NodeScores:
    """One score per component: heads `a{layer}.h{head}` and MLPs `m{layer}`."""

    scores: Tensor  # [n_nodes]
    names: list[str]

    def top(self, k: int, by_magnitude: bool = True) -> list[tuple[str, float]]:
        values = self.scores.abs() if by_magnitude else self.scores
        order = torch.argsort(values, descending=True)[:k]
        return [(self.names[i], float(self.scores[i])) for i in order]

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in zip(self.names, self.scores)}

    def head_matrix(self, n_layers: int, n_heads: int) -> Tensor:
        """Head scores as [layer, head]."""
        index = {name: i for i, name in enumerate(self.names)}
        return torch.stack(
            [
                torch.stack([self.scores[index[head_name(layer, h)]] for h in range(n_heads)])
                for layer in range(n_layers)
            ]
        )


@dataclass
class EdgeScores:
    """Scores of edges upstream -> downstream: [n_upstream, n_downstream] with names."""

    scores: Tensor
    upstream: list[str]
    downstream: list[str]

    def edges(self) -> dict[str, float]:
        """Every valid edge (upstream earlier than downstream) by name `u->v`."""
        out = {}
        for i, u in enumerate(self.upstream):
            for j, v in enumerate(self.downstream):
                if earlier(u, v):
                    out[f"{u}->{v}"] = float(self.scores[i, j])
        return out


def node_names(model: HookedClassifier) -> list[str]:
    return unit_names(model.cfg.n_layers, model.cfg.n_heads, "node")


def _interpolated_gradients(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    names: list[str],
    method: Method,
    steps: int,
) -> dict[str, Tensor]:
    """dm/d(activation) at the corrupt input (EAP) or averaged along the path (EAP-IG)."""
    if method == "eap":
        alphas = [0.0]
    elif method == "eap-ig":
        if steps < 1:
            raise ValueError(f"EAP-IG needs at least one step, got {steps}")
        alphas = [k / steps for k in range(1, steps + 1)]
    else:
        raise ValueError(
            f"unknown attribution method '{method}': eap, eap-ig or eap-ig-activations"
        )
    with torch.no_grad():
        start = model.embed(corrupt)[0]
        end = model.embed(clean)[0] if method == "eap-ig" else start
    totals = {name: None for name in names}
    for alpha in alphas:
        saved: dict[str, Tensor] = {}

        def interpolate(resid, hook, alpha=alpha):
            # A leaf that requires grad, so that layer-0 inputs have gradients too.
            return (start + alpha * (end - start)).requires_grad_(True)

        def save(act, hook, saved=saved):
            saved[hook.name] = act
            return act

        hooks = [("blocks.0.hook_resid_pre", interpolate)] + [(n, save) for n in names]
        with model.hooks(fwd_hooks=hooks):
            value = metric(model(corrupt)).sum()
            grads = torch.autograd.grad(value, [saved[n] for n in names])
        for name, grad in zip(names, grads):
            totals[name] = grad if totals[name] is None else totals[name] + grad
    return {name: total / len(alphas) for name, total in totals.items()}


def _layer_path_gradients(
    model: HookedClassifier,
    corrupt: Batch,
    metric: Metric,
    clean_cache: dict,
    corrupt_cache: dict,
    steps: int,
) -> dict[str, Tensor]:
    """Average gradient along each layer's activation path (see the module docstring)."""
    if steps < 1:
        raise ValueError(f"EAP-IG needs at least one step, got {steps}")
    resid_names = [block_hook(layer, "hook_resid_pre") for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, resid = model.run_with_cache(corrupt, names_filter=resid_names)
        mask = model.embed(corrupt)[1]
    grads: dict[str, Tensor] = {}
    for layer in range(model.cfg.n_layers):
        names = [block_hook(layer, "attn.hook_z"), block_hook(layer, "hook_mlp_out")]
        totals = [torch.zeros_like(corrupt_cache[n]) for n in names]
        for k in range(1, steps + 1):
            alpha = k / steps
            leaves = {
                n: (corrupt_cache[n] + alpha * (clean_cache[n] - corrupt_cache[n])).requires_grad_()
                for n in names
            }

            def replace(act, hook, leaves=leaves):
                return leaves[hook.name]

            with model.hooks(fwd_hooks=[(n, replace) for n in names]):
                value = metric(model.run_from(layer, resid[resid_names[layer]], mask)).sum()
                step_grads = torch.autograd.grad(value, [leaves[n] for n in names])
            totals = [t + g for t, g in zip(totals, step_grads)]
        grads.update({n: t / steps for n, t in zip(names, totals)})
    return grads


def attribute_nodes(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    method: Method = "eap-ig-activations",
    steps: int = 5,
    device: str | None = None,
    batch_size: int | None = None,
    units: Units = "node",
) -> NodeScores:
    """Estimated effect of denoising each head (`hook_z`) and MLP (`hook_mlp_out`), averaged
    over examples; comparable with `patch_components(..., direction="denoise")`. With
    `units="position"`, one score per head and MLP at [CLS] and one at the other positions
    (`interp.units`; comparable with `circuits.denoise_units`). Streams over chunks of
    `batch_size` pairs (default: from the model size)."""
    check_units(units)
    model, clean, corrupt = prepare_pair(model, clean, corrupt, device)
    n = len(clean)
    total = None
    for part in batch_chunks(model.cfg, clean, batch_size, f"attribution ({method})"):
        sums = _node_score_sums(
            model, clean[part], corrupt[part], metric_rows(metric, part, n), method, steps, units
        )
        total = sums if total is None else total + sums
    names = unit_names(model.cfg.n_layers, model.cfg.n_heads, units)
    return NodeScores((total / n).detach().cpu(), names)


def _by_position(per_position: Tensor, units: Units) -> Tensor:
    """[pos, ...] scores summed over every position (node units) or split into the first
    position and the others (position units), classes first."""
    if units == "node":
        return per_position.sum(0)
    return torch.cat([per_position[:1].sum(0), per_position[1:].sum(0)])


def _node_score_sums(model, clean, corrupt, metric, method, steps, units="node") -> Tensor:
    """Per unit, the attribution summed over the examples of one chunk."""
    names = output_hooks(model.cfg.n_layers)
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean, names_filter=names)
        _, corrupt_cache = model.run_with_cache(corrupt, names_filter=names)
    if method == "eap-ig-activations":
        grads = _layer_path_gradients(model, corrupt, metric, clean_cache, corrupt_cache, steps)
    else:
        grads = _interpolated_gradients(model, clean, corrupt, metric, names, method, steps)
    scores = []
    for layer in range(model.cfg.n_layers):
        z = block_hook(layer, "attn.hook_z")
        delta = clean_cache[z] - corrupt_cache[z]
        scores.append(_by_position((delta * grads[z]).sum((0, 3)), units))  # [pos, head]
        mlp = block_hook(layer, "hook_mlp_out")
        delta = clean_cache[mlp] - corrupt_cache[mlp]
        scores.append(_by_position((delta * grads[mlp]).sum((0, 2)).unsqueeze(-1), units))
    return torch.cat(scores).detach()


def _edge_hooks(model: HookedClassifier) -> tuple[list[str], list[str]]:
    """(upstream output hooks, downstream input hooks) for edge attribution."""
    last = model.cfg.n_layers - 1
    outputs = ["blocks.0.hook_resid_pre"]
    inputs = []
    for layer in range(model.cfg.n_layers):
        outputs += [block_hook(layer, "attn.hook_result"), block_hook(layer, "hook_mlp_out")]
        inputs += [block_hook(layer, f"hook_{x}_input") for x in "qkv"]
        inputs.append(block_hook(layer, "hook_mlp_in"))
    inputs.append(block_hook(last, "hook_resid_post"))
    return outputs, inputs


def attribute_edges(
    model: HookedClassifier,
    clean: Batch,
    corrupt: Batch,
    metric: Metric,
    method: Method = "eap-ig",
    steps: int = 5,
    device: str | None = None,
    batch_size: int | None = None,
) -> tuple[EdgeScores, dict[str, float]]:
    """Edge scores (pre-norm models) and the node attribution of every downstream input.

    The second value maps each downstream input (`a2.h1.q`, `m1`, `logits`) to
    (input_clean - input_corrupt) . gradient, which equals the sum of its incoming edges.
    Streams over chunks of `batch_size` pairs.
    """
    if model.cfg.norm != "pre":
        raise InterpError(
            "edge attribution needs a pre-norm model (the residual stream as a sum of component "
            "outputs); this model is post-norm: use attribute_nodes"
        )
    model, clean, corrupt = prepare_pair(model, clean, corrupt, device)
    n = len(clean)
    saved_flags = (model.cfg.use_attn_result, model.cfg.use_split_qkv_input)
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    total, inputs_total = None, None
    try:
        for part in batch_chunks(model.cfg, clean, batch_size, f"edge attribution ({method})"):
            metric_part = metric_rows(metric, part, n)
            scores, node_inputs, up_names, down_names = _edge_sums(
                model, clean[part], corrupt[part], metric_part, method, steps
            )
            total = scores if total is None else total + scores
            inputs_total = (
                node_inputs
                if inputs_total is None
                else {k: inputs_total[k] + v for k, v in node_inputs.items()}
            )
    finally:
        model.set_use_attn_result(saved_flags[0])
        model.set_use_split_qkv_input(saved_flags[1])
    valid = torch.tensor(
        [[earlier(u, v) for v in down_names] for u in up_names], device=total.device
    )
    scores = torch.where(valid, total / n, torch.zeros_like(total))
    node_inputs = {name: float(value / n) for name, value in inputs_total.items()}
    return EdgeScores(scores.detach().cpu(), up_names, down_names), node_inputs


def _edge_sums(model, clean, corrupt, metric, method, steps):
    """Edge scores and downstream input attributions summed over one chunk's examples."""
    outputs, inputs = _edge_hooks(model)
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean, names_filter=outputs + inputs)
        _, corrupt_cache = model.run_with_cache(corrupt, names_filter=outputs + inputs)
    grads = _interpolated_gradients(model, clean, corrupt, metric, inputs, method, steps)
    heads = model.cfg.n_heads

    # Upstream deltas, each [batch, pos, d_model].
    up_names, up_deltas = ["embed"], [clean_cache[outputs[0]] - corrupt_cache[outputs[0]]]
    for layer in range(model.cfg.n_layers):
        result = block_hook(layer, "attn.hook_result")
        delta = clean_cache[result] - corrupt_cache[result]
        for h in range(heads):
            up_names.append(head_name(layer, h))
            up_deltas.append(delta[:, :, h])
        mlp = block_hook(layer, "hook_mlp_out")
        up_names.append(f"m{layer}")
        up_deltas.append(clean_cache[mlp] - corrupt_cache[mlp])

    # Downstream gradients and input deltas, each [batch, pos, d_model].
    down_names, down_grads, down_deltas = [], [], []
    for layer in range(model.cfg.n_layers):
        for x in "qkv":
            name = block_hook(layer, f"hook_{x}_input")
            delta = clean_cache[name] - corrupt_cache[name]
            for h in range(heads):
                down_names.append(f"{head_name(layer, h)}.{x}")
                down_grads.append(grads[name][:, :, h])
                down_deltas.append(delta[:, :, h])
        name = block_hook(layer, "hook_mlp_in")
        down_names.append(f"m{layer}")
        down_grads.append(grads[name])
        down_deltas.append(clean_cache[name] - corrupt_cache[name])
    final = block_hook(model.cfg.n_layers - 1, "hook_resid_post")
    down_names.append("logits")
    down_grads.append(grads[final])
    down_deltas.append(clean_cache[final] - corrupt_cache[final])

    up = torch.stack(up_deltas)  # [U, batch, pos, d]
    down = torch.stack(down_grads)  # [D, batch, pos, d]
    scores = torch.einsum("ubpd,vbpd->uv", up, down).detach()
    node_inputs = {
        name: (delta * grad).sum().detach()
        for name, delta, grad in zip(down_names, down_deltas, down_grads)
    }
    return scores, node_inputs, up_names, down_names
