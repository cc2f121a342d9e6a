"""What the controls of a circuit cost: the zoo study's analysis with and without them.

The analysis of the zoo's pairs (seed 0 by default, as `interp study --tag zoo` analyses them)
at node units without controls, with the chance baseline and specificity, and at the units the
study picks (`auto`) with both; the three settings run in turn in one process, models loaded
beforehand, and the ratio to the first is reported. Needs the built zoo (`interp train --tag
zoo`); `python -m bench.controls [--seeds 0 1 2]`.
"""

from __future__ import annotations

import argparse
import time

from bench.common import write_results
from interp.manifest import Manifest
from interp.study import AnalysisCache, StudyConfig, analyse_comparison, selected_comparisons

SETTINGS = {
    "node units, no controls": dict(units="node", chance_samples=0, specificity=False),
    "node units, chance + specificity": dict(units="node", chance_samples=200, specificity=True),
    "auto units, chance + specificity": dict(units="auto", chance_samples=200, specificity=True),
}


def run(seeds=(0,), device: str = "cpu") -> None:
    manifest = Manifest.load("checkpoints_manifest.yaml")
    rows = []
    for name, settings in SETTINGS.items():
        cfg = StudyConfig(tags=["zoo"], seeds=list(seeds), device=device, **settings)
        pairs = selected_comparisons(manifest, cfg)
        cache = AnalysisCache(manifest, cfg)
        for pair in pairs:  # loading is not analysis
            cache.model(pair.teacher), cache.model(pair.student)
        start = time.perf_counter()
        for pair in pairs:
            analyse_comparison(manifest, pair, cfg, None, cache)
        rows.append({"setting": name, "pairs": len(pairs), "seconds": time.perf_counter() - start})
        print(rows[-1], flush=True)
    base = rows[0]["seconds"]
    lines = [
        f"The zoo study's analysis of its {rows[0]['pairs']} pairs (seeds "
        f"{', '.join(map(str, seeds))}), three settings in turn. `python -m bench.controls`.",
        "",
        "| setting | seconds | ratio |",
        "|---|---|---|",
    ]
    for row in rows:
        row["ratio"] = row["seconds"] / base
        lines.append(f"| {row['setting']} | {row['seconds']:.1f} | {row['ratio']:.2f}x |")
    write_results("circuit_controls_cost", rows, "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.controls")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    run(args.seeds, args.device)


if __name__ == "__main__":
    main()
