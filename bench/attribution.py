"""EAP and EAP-IG node scores vs exact patching on trained models: Spearman and time ratio.

Uses the manifest's trained checkpoints (build them with `interp train --tag demo --seed 0`);
models that do not exist yet are skipped with a note.
"""

from __future__ import annotations

import argparse
import time

import torch
from scipy.stats import spearmanr

from bench.common import write_results
from interp.attribution import attribute_nodes
from interp.contrast import contrast_pairs
from interp.manifest import Manifest
from interp.models import load
from interp.patching import patch_components
from interp.train.recipes import task_data

DEFAULT_MODELS = ["erm-teacher-s0", "poe-teacher-s0", "kd-student-erm-s0", "kd-student-poe-s0"]


def exact_node_effects(model, clean, corrupt, metric) -> torch.Tensor:
    heads = patch_components(model, clean, corrupt, metric, "head")
    mlps = patch_components(model, clean, corrupt, metric, "mlp")
    with torch.no_grad():
        base = metric(model(corrupt)).mean()
    rows = [torch.cat([heads[layer], mlps[layer : layer + 1]]) for layer in range(len(mlps))]
    return torch.cat(rows) - base


def measure(model_id: str, manifest: Manifest, n_pairs: int, device: str) -> list[dict]:
    model = load(model_id, manifest=manifest, device=device)
    task = manifest.entry(model_id).task
    bench = task_data(task, manifest.data.get(task))
    rows = []
    for suite in ("lexical_overlap", "subsequence", "constituent"):
        pairs = contrast_pairs(model, bench.suites[suite], n_pairs, device)
        clean, corrupt, metric, n = pairs.clean, pairs.corrupt, pairs.metric(), len(pairs)
        started = time.perf_counter()
        exact = exact_node_effects(model, clean, corrupt, metric)
        t_exact = time.perf_counter() - started
        for method, steps in (("eap", 1), ("eap-ig", 5), ("eap-ig", 10), ("eap-ig-activations", 5)):
            started = time.perf_counter()
            scores = attribute_nodes(model, clean, corrupt, metric, method=method, steps=steps)
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "model": model_id,
                    "suite": suite,
                    "method": f"{method} (m={steps})" if method != "eap" else method,
                    "pairs": n,
                    "spearman": float(spearmanr(exact.numpy(), scores.scores.numpy())[0]),
                    "seconds": seconds,
                    "exact_seconds": t_exact,
                    "speedup": t_exact / seconds,
                }
            )
    return rows


def run(models=DEFAULT_MODELS, n_pairs: int = 48, device: str = "cpu") -> list[dict]:
    manifest = Manifest.load()
    rows, skipped = [], []
    for model_id in models:
        if not manifest.exists(model_id):
            skipped.append(model_id)
            continue
        rows += measure(model_id, manifest, n_pairs, device)
    lines = [
        f"Node scores (heads and MLPs) on {n_pairs} minimal pairs per suite vs exact denoising "
        "patching of each node; Spearman over nodes.",
        "",
        "| model | suite | method | Spearman | time (s) | exact (s) | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['suite']} | {r['method']} | {r['spearman']:.2f} "
            f"| {r['seconds']:.2f} | {r['exact_seconds']:.2f} | {r['speedup']:.1f}x |"
        )
    if skipped:
        lines += ["", f"Not built, skipped: {', '.join(skipped)} (`interp train --tag demo`)."]
    write_results("attribution_vs_exact", rows, "\n".join(lines))
    print("\n".join(lines))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--pairs", type=int, default=48)
    args = parser.parse_args(argv)
    run(args.models, args.pairs, args.device)


if __name__ == "__main__":
    main()
