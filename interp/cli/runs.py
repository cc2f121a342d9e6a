"""`interp train`, `eval`, `study`, `sweep`, `findings` and `demo`: the commands that build,
evaluate and report on the manifest's models.

lazy: each command imports what it needs when it runs (no torch for `--help`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from interp.errors import InterpError


def cmd_train(args: argparse.Namespace) -> int:
    from interp.train.zoo import build_zoo

    started = time.perf_counter()
    report = build_zoo(
        args.manifest,
        only=args.only,
        tags=args.tag,
        seed=args.seed,
        jobs=args.jobs,
        device=args.device,
        executor=args.executor,
        address=args.address,
        storage=args.storage,
        rebuild_outdated=args.rebuild_outdated,
    )
    print(f"built {len(report.built)} model(s) in {time.perf_counter() - started:.0f} s")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import pandas as pd

    from interp.evaluate import evaluate_manifest, table_records
    from interp.io import atomic_write_json, atomic_write_text, csv_text, write_folder
    from interp.manifest import Manifest
    from interp.outputs import output_lock
    from interp.results import EvaluationResults
    from interp.train.outdated import refuse_outdated
    from interp.train.zoo import build_order, select
    from probes.nli import read_hans, read_mnli

    manifest = Manifest.load(args.manifest)
    ids = [m for m in select(manifest, args.only, args.tag, args.seed) if manifest.exists(m)]
    refuse_outdated(manifest, build_order(manifest, ids))
    files = [read_hans(path) for path in args.hans or []]
    files += [read_mnli(path, name=Path(path).stem) for path in args.mnli or []]
    out = Path(args.out)
    with output_lock(out, EVAL_OPTION):
        check_evaluation_folder(out)
        tables = evaluate_manifest(
            manifest,
            ids,
            device=args.device,
            n_bootstrap=args.bootstrap,
            extra_suites={"nli": files},
            suites=args.suites,
        )
        results = EvaluationResults.model_validate(
            {name: table_records(frame) for name, frame in tables.items() if name != "examples"}
        )

        def write(folder: Path) -> None:
            for name, frame in tables.items():
                atomic_write_text(folder / f"{name}.csv", csv_text(frame))
            atomic_write_json(folder / "results.json", results.to_data())

        # staged and moved into place whole: never new tables beside old ones
        write_folder(out, write)
    with pd.option_context(
        "display.width", 160, "display.max_columns", 20, "display.float_format", "{:.3f}".format
    ):
        accuracy = tables["suites"].pivot(index="model", columns="suite", values="accuracy")
        print(accuracy.to_string(na_rep="n/a"))
        print("\nin-distribution accuracy; per bias type, aligned / conflicting accuracy and gap:")
        print(tables["validity"].to_string(index=False, na_rep="n/a"))
        if not tables["distillability"].empty:
            columns = [
                c
                for c in tables["distillability"].columns
                if c.endswith(("_mean", "_low", "_high")) or c in ("group", "bias_type")
            ]
            print(tables["distillability"][columns].to_string(index=False, na_rep="n/a"))
    print(f"tables written to {out}/")
    return 0


EVAL_OPTION = "pass another --out"


def check_evaluation_folder(out: Path) -> None:
    """An InterpError unless `out` is absent, empty, or holds an earlier evaluation's tables
    (a study's run folder or a user's folder is never replaced by an evaluation)."""
    from interp.outputs import EVALUATION_FILES, check_replaceable
    from interp.results import EvaluationResults

    check_replaceable(out, EVALUATION_FILES, "interp eval", EVAL_OPTION)
    if (out / "results.json").exists():
        EvaluationResults.read(out / "results.json")


def cmd_demo(args: argparse.Namespace) -> int:
    from interp.demo import run_demo

    run_demo(device=args.device, n_examples=args.examples, seed=args.seed)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from interp.report.page import summary_lines
    from interp.results import StudyResults
    from interp.study import StudyConfig, run_study

    cfg = StudyConfig(
        manifest=args.manifest,
        tags=args.tag,
        seeds=args.seeds,
        suites=args.suites,
        out=args.out,
        run=args.run,
        device=args.device,
        n_pairs=args.pairs,
        target=args.target,
        min_separation=args.min_separation,
        ig_steps=args.ig_steps,
        batch_size=args.batch_size,
        attribution=args.attribution,
        units=args.units,
        time_budget_s=args.time_budget_s,
        chance_samples=args.chance_samples,
        specificity=not args.no_specificity,
        localise=not args.no_localise,
        bootstrap=args.bootstrap,
        build=not args.no_build,
        jobs=args.jobs,
        executor=args.executor,
        address=args.address,
        storage=args.storage,
        force=args.force,
    )
    path = run_study(cfg)
    results = StudyResults.read(path.parent / "results.json")
    print()
    for line in summary_lines(results):
        print(f"- {line}")
    print(f"\nreport: {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from interp.manifest import Manifest
    from interp.sweep import SweepConfig, plan, run_sweep

    manifest = Manifest.load(args.manifest)
    sweep = manifest.sweep(args.name)
    if args.dry_run:
        info = plan(manifest, sweep)
        roles = ", ".join(f"{n} {role}(s)" for role, n in sorted(info["roles"].items()))
        print(
            f"sweep {sweep.id}: {len(info['models'])} models ({roles}), {info['pairs']} "
            f"comparisons; {len(info['existing'])} exist, "
            f"{len(info['models']) - len(info['existing'])} to build"
        )
        for model_id in info["models"]:
            state = "exists" if model_id in info["existing"] else "to build"
            print(f"  {model_id}: {state}")
        return 0
    cfg = SweepConfig(
        manifest=args.manifest,
        name=args.name,
        out=args.out,
        device=args.device,
        jobs=args.jobs,
        executor=args.executor,
        address=args.address,
        storage=args.storage,
        bootstrap=args.bootstrap,
    )
    started = time.perf_counter()
    path = run_sweep(cfg, build=not args.report)
    print(f"sweep {sweep.id} in {time.perf_counter() - started:.0f} s; report: {path}")
    return 0


def cmd_findings(args: argparse.Namespace) -> int:
    from interp.findings import findings_markdown
    from interp.io import atomic_write_text
    from interp.results import StudyResults, read_results

    page = Path(args.page)
    if page.is_dir():
        raise InterpError(
            f"--out {page}: is a folder; give the page's file (e.g. {page}/findings.md)"
        )
    studies = []
    for item in args.results:
        title, _, path = item.rpartition("=")
        results = read_results(path)
        if isinstance(results, StudyResults):
            run = results.run
        else:
            run = results.sweep.get("id")
            if not results.distillability:
                raise InterpError(f"{path}: a sweep's results.json without comparisons")
        studies.append((title or str(run), results))
    atomic_write_text(page, findings_markdown(studies))
    print(f"written to {args.page}")
    return 0
