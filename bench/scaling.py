"""Scaling of exact head patching and EAP-IG with layers, heads, sequence length and pairs.

Each point runs in a fresh process, so its peak memory (the kernel's peak resident set, reset
before the run, on CPU; the allocator peak on CUDA) belongs to that measurement alone; the
time is the median of a few runs. The fitted exponent is the slope of log(time) against
log(size) along each axis. Also: EAP-IG (m = 5) against exact per-position head patching at the
BERT-base size, the latter estimated from measured sweeps of the first and the last layer (its
cost falls linearly with the layer).
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import (
    RESULTS_DIR,
    bert_base_config,
    in_fresh_process,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    write_results,
)

BASE = dict(n_layers=4, n_heads=8, seq_len=32, pairs=16)
AXES = {
    "n_layers": [1, 2, 4, 8],
    "n_heads": [2, 4, 8, 16],
    "seq_len": [16, 32, 64, 128],
    "pairs": [8, 16, 32, 64],
}
D_HEAD = 16
METHODS = ("exact head patching", "EAP-IG (m=5)")


def _point(args: tuple) -> dict:
    """One measurement in a fresh process: (method, sizes, device, repeats) -> time and memory."""
    method, sizes, device, repeats = args
    import torch

    from bench.common import median_time
    from bench.patching import pairs as make_pairs
    from interp.attribution import attribute_nodes
    from interp.models import ClassifierConfig, HookedClassifier
    from interp.patching import logit_diff, patch_components

    torch.manual_seed(0)
    cfg = ClassifierConfig(
        labels=["a", "b", "c"],
        vocab_size=1000,
        max_positions=256,
        n_layers=sizes["n_layers"],
        n_heads=sizes["n_heads"],
        d_model=sizes["n_heads"] * D_HEAD,
    )
    model = HookedClassifier(cfg, seed=0).to(device).eval()
    clean, corrupt = (b.to(device) for b in make_pairs(sizes["pairs"], sizes["seq_len"], 1000))
    n = sizes["pairs"]
    metric = logit_diff(
        torch.zeros(n, dtype=torch.long, device=device),
        torch.ones(n, dtype=torch.long, device=device),
    )
    if method == "exact head patching":

        def fn():
            return patch_components(model, clean, corrupt, metric, "head", chunk_size=cfg.n_heads)
    else:

        def fn():
            return attribute_nodes(model, clean, corrupt, metric, method="eap-ig", steps=5)

    fn()  # warm-up, and the allocations of later runs are then reused
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        reset_peak_rss()
        base = rss_bytes()
        fn()
        peak = max(0, peak_rss_bytes() - base)
    seconds = median_time(fn, repeats, warmup=0, device=device)
    return {"method": method, **sizes, "seconds": seconds, "peak_mb": peak / 2**20}


def _run_points(jobs: list[tuple]) -> list[dict]:
    return [in_fresh_process(_point, job) for job in jobs]


def fit_exponent(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def bert_base_comparison(device: str) -> dict:
    """EAP-IG (m = 5) vs exact per-position head patching, 12 x 12 x 768, 64 tokens, 1 pair."""
    import torch

    from bench.common import median_time
    from bench.patching import pairs as make_pairs
    from interp.attribution import attribute_nodes
    from interp.models import HookedClassifier
    from interp.patching import logit_diff, patch_sweep, run_cache

    cfg = bert_base_config()
    model = HookedClassifier(cfg, seed=0).to(device).eval()
    clean, corrupt = (b.to(device) for b in make_pairs(1, 64, 1000))
    metric = logit_diff(
        torch.zeros(1, dtype=torch.long, device=device),
        torch.ones(1, dtype=torch.long, device=device),
    )
    t_ig = median_time(
        lambda: attribute_nodes(model, clean, corrupt, metric, method="eap-ig", steps=5),
        repeats=3,
        warmup=1,
        device=device,
    )
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(12)]
    _, source = run_cache(model, clean, names)
    per_layer = {}
    for layer in (0, 11):
        per_layer[layer] = median_time(
            lambda layer=layer: patch_sweep(
                model,
                corrupt,
                source,
                "head",
                metric,
                per_position=True,
                chunk_size=64,
                layers=[layer],
            ),
            repeats=1,
            warmup=0,
            device=device,
        )
    first, last = per_layer[0], per_layer[11]
    t_exact = sum(last + (first - last) * (11 - layer) / 11 for layer in range(12))
    return {
        "model": "12 layers x 12 heads x 768, 64 tokens, 1 pair",
        "eap_ig_s": t_ig,
        "exact_per_position_s_estimated": t_exact,
        "exact_layer0_s": first,
        "exact_layer11_s": last,
        "speedup": t_exact / t_ig,
    }


def write_plot(rows: list[dict]) -> None:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(AXES), subplot_titles=list(AXES))
    for col, (axis, _values) in enumerate(AXES.items(), start=1):
        for method, colour in zip(METHODS, ("#1f77b4", "#d62728")):
            points = [r for r in rows if r["axis"] == axis and r["method"] == method]
            fig.add_scatter(
                x=[r[axis] for r in points],
                y=[r["seconds"] for r in points],
                mode="lines+markers",
                name=method,
                line=dict(color=colour),
                showlegend=col == 1,
                row=1,
                col=col,
            )
        fig.update_xaxes(type="log", title_text=axis, row=1, col=col)
        fig.update_yaxes(type="log", row=1, col=col)
    fig.update_yaxes(title_text="seconds", row=1, col=1)
    fig.update_layout(height=380, title="Scaling (log-log)")
    fig.write_html(RESULTS_DIR / "scaling.html", include_plotlyjs=True)


def run(device: str = "cpu", repeats: int = 3) -> dict:
    jobs, labels = [], []
    for axis, values in AXES.items():
        for value in values:
            for method in METHODS:
                jobs.append((method, {**BASE, axis: value}, device, repeats))
                labels.append(axis)
    rows = [{**r, "axis": a} for r, a in zip(_run_points(jobs), labels)]
    exponents = {
        (axis, method): fit_exponent(
            [r[axis] for r in rows if r["axis"] == axis and r["method"] == method],
            [r["seconds"] for r in rows if r["axis"] == axis and r["method"] == method],
        )
        for axis in AXES
        for method in METHODS
    }
    comparison = bert_base_comparison(device)
    write_plot(rows)
    base = ", ".join(f"{k} {v}" for k, v in BASE.items())
    lines = [
        f"Around a base of {base} (d_head {D_HEAD}); one axis varies at a time; median of "
        f"{repeats} runs per point, each point in a fresh process (peak memory: the kernel's "
        "peak resident set, reset before the run, above the resident set before it on CPU; the "
        "allocator peak on CUDA). "
        "Plot: `bench/scaling.html`.",
        "",
        "| axis | method | sizes | seconds | peak MB | fitted exponent |",
        "|---|---|---|---|---|---|",
    ]
    for axis in AXES:
        for method in METHODS:
            points = [r for r in rows if r["axis"] == axis and r["method"] == method]
            sizes = ", ".join(str(r[axis]) for r in points)
            seconds = ", ".join("{:.3f}".format(r["seconds"]) for r in points)
            memory = ", ".join("{:.0f}".format(r["peak_mb"]) for r in points)
            lines.append(
                f"| {axis} | {method} | {sizes} | {seconds} | {memory} "
                f"| {exponents[(axis, method)]:.2f} |"
            )
    c = comparison
    lines += [
        "",
        f"EAP-IG (m = 5) vs exact per-position head patching, {c['model']} on {device}: "
        f"EAP-IG {c['eap_ig_s']:.2f} s; exact {c['exact_per_position_s_estimated']:.0f} s "
        f"(estimated from the measured sweeps of layer 0, {c['exact_layer0_s']:.1f} s, and "
        f"layer 11, {c['exact_layer11_s']:.1f} s); EAP-IG is {c['speedup']:.0f}x faster.",
    ]
    out = {
        "points": rows,
        "exponents": [{"axis": a, "method": m, "exponent": e} for (a, m), e in exponents.items()],
        "eap_ig_vs_exact_per_position": comparison,
    }
    write_results("scaling", [out], "\n".join(lines))
    print("\n".join(lines))
    return out


def main(argv=None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    run(args.device, args.repeats)


if __name__ == "__main__":
    main()
