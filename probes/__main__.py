"""`python -m probes stats`: size, label balance and bias-aligned share of every suite."""

from __future__ import annotations

import argparse
import sys


def add_stats_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=["nli", "digits"], default="nli")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=20_000, help="NLI training examples")
    parser.add_argument("--n-per-subcase", type=int, default=100, help="NLI challenge examples")
    parser.add_argument("--overlap-bias", type=float, default=0.9)
    parser.add_argument("--negation-bias", type=float, default=0.85)
    parser.add_argument("--colour-bias", type=float, default=0.95)
    parser.add_argument("--marker-bias", type=float, default=0.9)
    parser.add_argument("--csv", help="also write the table to this CSV file")


def run_stats(args: argparse.Namespace) -> int:
    # lazy: `interp --help` builds this command's parser; generation needs pandas and the grammar
    import pandas as pd

    from probes.core import stats_frame
    from probes.tasks import get_task

    if args.task == "nli":
        settings = dict(
            seed=args.seed,
            n_train=args.n_train,
            n_per_subcase=args.n_per_subcase,
            overlap_bias=args.overlap_bias,
            negation_bias=args.negation_bias,
        )
    else:
        settings = dict(seed=args.seed, colour_bias=args.colour_bias, marker_bias=args.marker_bias)
    bench = get_task(args.task).benchmark(settings)
    sets = [
        bench.train,
        *bench.suites.values(),
        *([bench.augment] if hasattr(bench, "augment") else []),
    ]
    table = stats_frame(sets)
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probes")
    sub = parser.add_subparsers(dest="command", required=True)
    stats = sub.add_parser("stats", help="size, label balance and bias-aligned share per subcase")
    add_stats_arguments(stats)
    stats.set_defaults(func=run_stats)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
