"""The `interp` command: inspect the manifest and models, describe probe suites, run the demo."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from interp.errors import InterpError


def _add_manifest_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest",
        default="checkpoints_manifest.yaml",
        help="manifest file (default: ./checkpoints_manifest.yaml)",
    )


def _add_selection_args(parser: argparse.ArgumentParser) -> None:
    _add_manifest_arg(parser)
    parser.add_argument("--only", nargs="+", metavar="ID", help="these entries (and their needs)")
    parser.add_argument("--tag", nargs="+", help="entries carrying one of these tags")
    parser.add_argument("--seed", type=int, help="only this seed's copies of seeded entries")


def cmd_models_list(args: argparse.Namespace) -> int:
    from interp.manifest import Manifest

    manifest = Manifest.load(args.manifest)
    rows = [("id", "role", "task", "source", "checkpoint")]
    for entry in manifest.models:
        source = "path" if entry.path else f"recipe ({entry.recipe.loss})"
        state = "present" if manifest.exists(entry.id) else "missing"
        rows.append((entry.id, entry.role, entry.task, source, state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if manifest.pairs:
        print()
        for pair in manifest.pairs:
            print(f"pair {pair.id}: {pair.teacher} -> {pair.student} on {', '.join(pair.suites)}")
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    from interp.manifest import Manifest

    manifest = Manifest.load(args.manifest)
    entry = manifest.entry(args.id)
    info = entry.model_dump(exclude_none=True)
    location = manifest.location(entry.id)
    info["checkpoint"] = str(location)
    info["present"] = manifest.exists(entry.id)
    if info["present"]:
        from interp.models import ClassifierConfig, is_hf_folder
        from interp.models.hf import config_from_hf

        if is_hf_folder(location):
            hf_config = json.loads((location / "config.json").read_text())
            cfg = config_from_hf(hf_config)
            info["format"] = f"huggingface ({hf_config['model_type']})"
        else:
            cfg = ClassifierConfig.from_file(location / "config.json")
            info["format"] = "interp"
        info["architecture"] = cfg.model_dump(exclude_none=True)
    print(json.dumps(info, indent=2, default=str))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from interp.train.zoo import build_zoo

    started = time.perf_counter()
    built = build_zoo(
        args.manifest,
        only=args.only,
        tags=args.tag,
        seed=args.seed,
        jobs=args.jobs,
        device=args.device,
    )
    print(f"built {len(built)} model(s) in {time.perf_counter() - started:.0f} s")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import pandas as pd

    from interp.evaluate import evaluate_manifest
    from interp.manifest import Manifest
    from interp.models.weights import atomic_write_text
    from interp.train.zoo import select

    manifest = Manifest.load(args.manifest)
    ids = [m for m in select(manifest, args.only, args.tag, args.seed) if manifest.exists(m)]
    tables = evaluate_manifest(manifest, ids, device=args.device, n_bootstrap=args.bootstrap)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False))
    summary = {
        name: frame.to_dict(orient="records")
        for name, frame in tables.items()
        if name != "examples"
    }
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2, default=float))
    with pd.option_context(
        "display.width", 160, "display.max_columns", 20, "display.float_format", "{:.3f}".format
    ):
        print(tables["suites"].pivot(index="model", columns="suite", values="accuracy"))
        if not tables["distillability"].empty:
            columns = [
                c
                for c in tables["distillability"].columns
                if c.endswith(("_mean", "_low", "_high")) or c in ("group", "bias_type")
            ]
            print(tables["distillability"][columns].to_string(index=False))
    print(f"tables written to {out}/")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from interp.demo import run_demo

    run_demo(device=args.device, n_examples=args.examples, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interp",
        description="Attention and circuit analysis of debiased teachers and their students.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="what the checkpoints manifest holds")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="every model and pair, and whether it exists")
    _add_manifest_arg(listing)
    listing.set_defaults(func=cmd_models_list)
    show = models_sub.add_parser("show", help="one model entry in full")
    show.add_argument("id", help="the model's id in the manifest")
    _add_manifest_arg(show)
    show.set_defaults(func=cmd_models_show)

    probes = sub.add_parser("probes", help="the embedded probe suites")
    probes_sub = probes.add_subparsers(dest="probes_command", required=True)
    stats = probes_sub.add_parser("stats", help="size, label balance, bias-aligned share")
    from probes.__main__ import add_stats_arguments, run_stats

    add_stats_arguments(stats)
    stats.set_defaults(func=run_stats)

    train = sub.add_parser(
        "train", help="build the manifest's recipe entries that are missing, in dependency order"
    )
    _add_selection_args(train)
    train.add_argument("--jobs", type=int, default=1, help="parallel training processes")
    train.add_argument("--device", default="cpu")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "eval", help="accuracy tables and distillability of every trained model and pair"
    )
    _add_selection_args(evaluate)
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--out", default="reports/eval", help="folder for CSV and JSON tables")
    evaluate.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    evaluate.set_defaults(func=cmd_eval)

    demo = sub.add_parser(
        "demo",
        help="end-to-end check on the shipped MiniLM: HF parity and overlap-detector heads",
    )
    demo.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    demo.add_argument("--examples", type=int, default=64, help="probe examples per suite")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InterpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
