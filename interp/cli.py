"""The `interp` command: inspect the manifest and models, describe probe suites, run the demo."""

from __future__ import annotations

import argparse
import json
import sys

from interp.errors import InterpError


def _add_manifest_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest",
        default="checkpoints_manifest.yaml",
        help="manifest file (default: ./checkpoints_manifest.yaml)",
    )


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
