"""EAP and EAP-IG node scores vs exact patching on trained models: Spearman and time ratio.

Two pair selections per model and suite: any pairs of the suite, and the pairs the model itself
separates (its logit difference moves by >= 0.5 between clean and corrupt, what the study
analyses). On pairs a model does not tell apart every exact effect is near zero, and a rank
correlation over them mostly ranks noise.

Uses the manifest's trained checkpoints (build them with `interp train --tag demo --seed 0`);
models that do not exist yet are skipped with a note.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from scipy.stats import spearmanr

from bench.common import write_results
from interp.attribution import NodeScores, attribute_nodes, node_names
from interp.circuits import circuit_from_curve, faithfulness_curve
from interp.contrast import contrast_pairs, separated_pairs
from interp.manifest import Manifest
from interp.models import load
from interp.patching import patch_components
from probes.tasks import get_task

DEFAULT_MODELS = [
    "erm-teacher-s0",
    "poe-teacher-s0",
    "kd-student-erm-s0",
    "kd-student-poe-s0",
    # post-norm: the real-backbone teachers (interp train --tag real-backbone)
    "minilm-erm-teacher",
    "minilm-poe-teacher",
]


def exact_node_effects(model, clean, corrupt, metric) -> torch.Tensor:
    heads = patch_components(model, clean, corrupt, metric, "head")
    mlps = patch_components(model, clean, corrupt, metric, "mlp")
    with torch.no_grad():
        base = metric(model(corrupt)).mean()
    rows = [torch.cat([heads[layer], mlps[layer : layer + 1]]) for layer in range(len(mlps))]
    return torch.cat(rows) - base


METHODS = (("eap", 1), ("eap-ig", 5), ("eap-ig", 10), ("eap-ig-activations", 5))
MIN_SEPARATION = 0.5
MIN_PAIRS = 8
CIRCUIT_TARGET = 0.8


def measure(model_id: str, manifest: Manifest, n_pairs: int, device: str) -> list[dict]:
    model = load(model_id, manifest=manifest, device=device)
    task = manifest.entry(model_id).task
    bench = get_task(task).benchmark(manifest.data_for(manifest.entry(model_id)))
    rows = []
    for suite in ("lexical_overlap", "subsequence", "constituent"):
        separated = separated_pairs(model, bench.suites[suite], MIN_SEPARATION)
        selections = {"all": None, "separated": separated}
        if model.cfg.norm == "post":  # the larger real-backbone models: separated pairs only
            selections = {"separated": separated}
        for selection, only in selections.items():
            if only is not None and len(only) < MIN_PAIRS:
                continue
            pairs = contrast_pairs(model, bench.suites[suite], n_pairs, device, only=only)
            clean, corrupt, metric = pairs.clean, pairs.corrupt, pairs.metric()
            started = time.perf_counter()
            exact = exact_node_effects(model, clean, corrupt, metric)
            t_exact = time.perf_counter() - started
            reference = NodeScores(exact, node_names(model))
            exact_size = _circuit_size(model, pairs, reference)
            for method, steps in METHODS:
                started = time.perf_counter()
                scores = attribute_nodes(model, clean, corrupt, metric, method=method, steps=steps)
                seconds = time.perf_counter() - started
                rows.append(
                    {
                        "model": model_id,
                        "norm": model.cfg.norm,
                        "suite": suite,
                        "pairs_selected": selection,
                        "method": f"{method} (m={steps})" if method != "eap" else method,
                        "pairs": len(pairs),
                        "largest_exact_effect": float(exact.abs().max()),
                        "spearman": float(spearmanr(exact.numpy(), scores.scores.numpy())[0]),
                        "circuit_size": _circuit_size(model, pairs, scores),
                        "exact_circuit_size": exact_size,
                        "seconds": seconds,
                        "exact_seconds": t_exact,
                        "speedup": t_exact / seconds,
                    }
                )
    return rows


def _circuit_size(model, pairs, scores: NodeScores) -> int | None:
    """Nodes in the smallest top-k circuit of this ranking with faithfulness >= 0.8 (None where
    the model does not separate the pairs, or no circuit short of all nodes reaches it)."""
    curve = faithfulness_curve(model, pairs.clean, pairs.corrupt, pairs.metric(), scores)
    circuit = circuit_from_curve(curve, scores, CIRCUIT_TARGET)
    value = circuit.meta["faithfulness"]
    if value != value or value < CIRCUIT_TARGET:  # NaN, or not reached
        return None
    return len(circuit.nodes)


def _summary(rows: list[dict]) -> list[str]:
    """Per method and selection: median Spearman, how many model-suite cells reach 0.8, and the
    total size of the smallest 0.8-faithful circuits its ranking finds (where any is found)."""
    lines = [
        "| layout | pairs | method | median Spearman | cells >= 0.8 | circuit nodes (exact "
        "ranking) |",
        "|---|---|---|---|---|---|",
    ]
    for norm, selection in [(n, s) for n in ("pre", "post") for s in ("all", "separated")]:
        for method in dict.fromkeys(r["method"] for r in rows):
            cells = [
                r
                for r in rows
                if r["method"] == method
                and r["pairs_selected"] == selection
                and r.get("norm", "pre") == norm
            ]
            if not cells:
                continue
            values = [r["spearman"] for r in cells]
            sized = [r for r in cells if r["circuit_size"] and r["exact_circuit_size"]]
            nodes = sum(r["circuit_size"] for r in sized)
            reference = sum(r["exact_circuit_size"] for r in sized)
            lines.append(
                f"| {norm}-norm | {selection} | {method} | {statistics.median(values):.2f} "
                f"| {sum(v >= 0.8 for v in values)} of {len(values)} "
                f"| {nodes} ({reference}) in {len(sized)} cells |"
            )
    return lines


def _size(value: int | None) -> str:
    return "-" if value is None else str(value)


def run(models=DEFAULT_MODELS, n_pairs: int = 48, device: str = "cpu") -> list[dict]:
    manifest = Manifest.load()
    rows, skipped = [], []
    for model_id in models:
        if not manifest.exists(model_id):
            skipped.append(model_id)
            continue
        rows += measure(model_id, manifest, n_pairs, device)
    lines = [
        f"Node scores (heads and MLPs) on up to {n_pairs} minimal pairs per suite vs exact "
        "denoising patching of each node; Spearman over nodes. Pairs: `all` = any of the "
        f"suite's pairs; `separated` = those the model separates by >= {MIN_SEPARATION} logits "
        f"(cells with fewer than {MIN_PAIRS} such pairs are left out). Largest effect: the "
        "largest exact effect of one node (logits). Circuit: nodes in the smallest top-k circuit "
        "of the method's ranking with faithfulness >= 0.8 (in brackets: ranking nodes by their "
        "exact effects); '-' where the model does not separate the pairs or only all nodes "
        "reach it.",
        "",
        *_summary(rows),
        "",
        "| model | suite | pairs | n | largest effect | method | Spearman | circuit (exact) "
        "| time (s) | exact (s) | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['suite']} | {r['pairs_selected']} | {r['pairs']} "
            f"| {r['largest_exact_effect']:.2f} | {r['method']} | {r['spearman']:.2f} "
            f"| {_size(r['circuit_size'])} ({_size(r['exact_circuit_size'])}) "
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
