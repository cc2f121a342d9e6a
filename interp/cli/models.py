"""`interp models list|show` and `interp inspect`: what the manifest defines and what a model
folder or id holds.

lazy: each command imports what it needs when it runs (no torch for `--help`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_models_list(args: argparse.Namespace) -> int:
    from interp.manifest import Manifest
    from interp.train.outdated import outdated
    from interp.train.zoo import build_order

    manifest = Manifest.load(args.manifest)
    stale = outdated(manifest, build_order(manifest, [m.id for m in manifest.models]))
    rows = [("id", "role", "task", "source", "checkpoint")]
    for entry in manifest.models:
        source = "path" if entry.path else f"recipe ({entry.recipe.loss})"
        state = "present" if manifest.exists(entry.id) else "missing"
        if entry.id in stale:
            state = "outdated"
        rows.append((entry.id, entry.role, entry.task, source, state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if manifest.pairs:
        print()
        for comparison in manifest.pairs:
            suites = ", ".join(comparison.suites)
            print(f"pair {comparison.id}: {comparison.teacher} -> {comparison.student} on {suites}")
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


def cmd_inspect(args: argparse.Namespace) -> int:
    import warnings

    from interp.checks import printable
    from interp.manifest import Manifest
    from interp.models import is_model_id, load
    from interp.models.selfcheck import inspect_folder

    is_id = is_model_id(args.source)
    manifest = Manifest.load(args.manifest) if is_id else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load(args.source, device=args.device, manifest=manifest)
    path = manifest.location(args.source) if is_id else Path(args.source)
    report = inspect_folder(path, model, check=not args.no_parity)
    report.notes += [str(w.message) for w in caught]
    # labels, paths and notes come from the user's files: escape codes are shown, not obeyed
    print("\n".join(printable(line) for line in report.lines()))
    if report.parity and not report.parity_holds:
        worst = max(report.parity, key=report.parity.get)
        print(
            f"error: {path}: our conversion differs from the Hugging Face forward by "
            f"{report.parity[worst]:.1e} ({worst}); do not analyse it",
            file=sys.stderr,
        )
        return 2
    return 0
