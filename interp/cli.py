"""The `interp` command: inspect the manifest and models, describe probe suites, run the demo.

lazy: each command imports what it needs when it runs, so that `interp --help` and argument
errors come back at once, without importing torch.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from interp import defaults
from interp.cli_types import (
    Unique,
    count,
    count_or_zero,
    fraction,
    non_negative,
    positive,
    run_folder,
    seed,
)
from interp.errors import InterpError
from interp.threads import apply_thread_setting, quiet_spinning


def _add_manifest_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest",
        default=defaults.MANIFEST,
        help=f"manifest file (default: ./{defaults.MANIFEST})",
    )


def _add_selection_args(parser: argparse.ArgumentParser) -> None:
    _add_manifest_arg(parser)
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="ID",
        help="these entries and their needs (a seeded entry's name: all its seeds)",
    )
    parser.add_argument("--tag", nargs="+", help="entries carrying one of these tags")
    parser.add_argument("--seed", type=seed, help="only this seed's copies of seeded entries")


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
    print("\n".join(report.lines()))
    if report.parity and not report.parity_holds:
        worst = max(report.parity, key=report.parity.get)
        print(
            f"error: {path}: our conversion differs from the Hugging Face forward by "
            f"{report.parity[worst]:.1e} ({worst}); do not analyse it",
            file=sys.stderr,
        )
        return 2
    return 0


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

    from interp.evaluate import evaluate_manifest
    from interp.io import atomic_write_text, csv_text
    from interp.manifest import Manifest
    from interp.train.outdated import refuse_outdated
    from interp.train.zoo import build_order, select
    from probes.nli import read_hans, read_mnli

    manifest = Manifest.load(args.manifest)
    ids = [m for m in select(manifest, args.only, args.tag, args.seed) if manifest.exists(m)]
    refuse_outdated(manifest, build_order(manifest, ids))
    files = [read_hans(path) for path in args.hans or []]
    files += [read_mnli(path, name=Path(path).stem) for path in args.mnli or []]
    tables = evaluate_manifest(
        manifest,
        ids,
        device=args.device,
        n_bootstrap=args.bootstrap,
        extra_suites={"nli": files},
        suites=args.suites,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        atomic_write_text(out / f"{name}.csv", csv_text(frame))
    summary = {
        name: frame.to_dict(orient="records")
        for name, frame in tables.items()
        if name != "examples"
    }
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2, default=float))
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


def _load_for_analysis(args: argparse.Namespace, model_id: str):
    from interp.manifest import Manifest
    from interp.models import load
    from probes.tasks import get_task

    manifest = Manifest.load(args.manifest)
    entry = manifest.entry(model_id)
    suites = get_task(entry.task).benchmark(manifest.data_for(entry)).suites
    if args.suite not in suites:
        raise InterpError(f"unknown suite '{args.suite}'; suites: {', '.join(sorted(suites))}")
    return load(model_id, manifest=manifest, device=args.device), suites[args.suite]


def _write_json(out: str, name: str, data: dict) -> Path:
    from interp.io import atomic_write_json

    path = Path(out) / name
    atomic_write_json(path, data)
    return path


def _analyse(args: argparse.Namespace, model, model_id: str, pairs):
    """`analyse_model` with the command's settings and, unless --no-specificity, controls."""
    from interp.analysis import AnalysisSettings, analyse_model
    from interp.controls import manifest_controls
    from interp.manifest import Manifest

    controls = None
    if not args.no_specificity:
        manifest = Manifest.load(args.manifest)
        controls = manifest_controls(manifest, model_id, model, args.suite, args.pairs)
    settings = AnalysisSettings.of(args)
    return analyse_model(model, model_id, args.suite, pairs, settings, controls)


def circuit_lines(analysis) -> list[str]:
    """The circuit of an analysis in words: its units, faithfulness, the ranking that built
    it, its chance baseline and its specificity."""
    from interp.report.verdicts import circuit_sentences

    return circuit_sentences(analysis)


def cmd_circuit(args: argparse.Namespace) -> int:
    from interp.study import chosen_minimal_pairs

    model, suite = _load_for_analysis(args, args.model)
    pairs, _, selection = chosen_minimal_pairs(
        model, None, suite, args.pairs, args.min_separation, args.device
    )
    print(f"pairs: {selection['rule']} ({selection['separated_by_teacher']} separated)")
    analysis = _analyse(args, model, args.model, pairs)
    print(
        f"{args.model} on {args.suite} ({len(pairs)} pairs): clean logit diff "
        f"{analysis.clean_metric:.3f}, corrupt {analysis.corrupt_metric:.3f}; Spearman of "
        f"{args.attribution} with exact patching {_cell(analysis.spearman, 0)}"
    )
    for line in circuit_lines(analysis):
        print(line)
    path = _write_json(args.out, f"circuit-{args.model}-{args.suite}.json", analysis.to_data())
    print(f"written to {path}")
    return 0


def cmd_attention(args: argparse.Namespace) -> int:
    from interp.analysis import negation_ids, special_ids
    from interp.attention import head_statistics
    from interp.units import head_name

    model, suite = _load_for_analysis(args, args.model)
    examples = suite.examples[: args.pairs]
    batch = model.encode([e.premise for e in examples], [e.hypothesis for e in examples])
    stats = head_statistics(
        model, batch, special_ids(model), negation_ids(model), batch_size=args.batch_size
    )
    heads = model.cfg.n_heads
    rows = [
        {"head": head_name(layer, head), **{k: float(v[layer, head]) for k, v in stats.items()}}
        for layer in range(model.cfg.n_layers)
        for head in range(heads)
    ]
    key = args.sort
    rows.sort(key=lambda r: -(r[key] if r[key] == r[key] else float("-inf")))
    print(f"{'head':8s}" + "".join(f"{k:>10s}" for k in stats))
    for row in rows[: args.top]:
        print(f"{row['head']:8s}" + "".join(_cell(row[k]) for k in stats))
    path = _write_json(args.out, f"attention-{args.model}-{args.suite}.json", {"heads": rows})
    print(f"written to {path}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from interp.diff import compare_models
    from interp.study import chosen_minimal_pairs

    teacher, suite = _load_for_analysis(args, args.teacher)
    student, _ = _load_for_analysis(args, args.student)
    t_pairs, s_pairs, selection = chosen_minimal_pairs(
        teacher, student, suite, args.pairs, args.min_separation, args.device
    )
    print(f"pairs: {selection['rule']} ({selection['separated_by_teacher']} separated)")
    t_analysis = _analyse(args, teacher, args.teacher, t_pairs)
    args.units = t_analysis.units  # the student in the units chosen for the teacher
    s_analysis = _analyse(args, student, args.student, s_pairs)
    diff = compare_models(
        teacher, student, t_analysis, s_analysis, t_pairs, s_pairs, batch_size=args.batch_size
    )
    cross = diff.extra.cross_faithfulness
    print(f"{args.teacher} -> {args.student} on {args.suite}:")
    print(f"  shared       {', '.join(diff.shared) or '-'}")
    print(f"  teacher only {', '.join(diff.teacher_only) or '-'}")
    print(f"  student only {', '.join(diff.student_only) or '-'}")
    print(
        f"  weighted overlap {diff.weighted_overlap:.3f}; teacher circuit on student "
        f"{cross.teacher_circuit_on_student:.3f}, student circuit on teacher "
        f"{cross.student_circuit_on_teacher:.3f}"
    )
    mechanism = diff.extra.mechanism
    print(f"  mechanism: {mechanism.verdict} ({mechanism.why})")
    for role, analysis in (("teacher", t_analysis), ("student", s_analysis)):
        for line in circuit_lines(analysis):
            print(f"  {role} {line}")
    for row in diff.extra.diverging_heads[:5]:
        print(
            f"  diverging: student {row.student} ~ teacher {row.teacher} "
            f"(pattern divergence {row.pattern_divergence:.3f})"
        )
    data = {
        "teacher": t_analysis.to_data(),
        "student": s_analysis.to_data(),
        "diff": diff.to_data(),
    }
    path = _write_json(args.out, f"diff-{args.teacher}-{args.student}-{args.suite}.json", data)
    print(f"written to {path}")
    return 0


def _add_executor_args(parser: argparse.ArgumentParser, jobs: int) -> None:
    parser.add_argument(
        "--jobs", type=count, default=jobs, help=f"models trained at once (default: {jobs})"
    )
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local worker processes (default) or Ray (pip install 'interp-distill[ray]')",
    )
    parser.add_argument(
        "--address", help="with --executor ray: the cluster to join (default: a local instance)"
    )
    parser.add_argument(
        "--storage",
        choices=["shared", "ship"],
        default="shared",
        help="with --executor ray: the checkpoint folder is shared by all workers (default), "
        "or checkpoint files travel between workers and this machine",
    )


def _add_attribution_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ig-steps", type=count, default=5, help="EAP-IG interpolation steps")
    parser.add_argument(
        "--batch-size",
        type=count,
        help="minimal pairs per chunk of analysis (default: from the model size; memory does "
        "not grow with the number of pairs)",
    )
    parser.add_argument(
        "--attribution",
        choices=["eap", "eap-ig", "eap-ig-activations"],
        default=defaults.ATTRIBUTION,
        help=f"node ranking for circuit discovery (default: {defaults.ATTRIBUTION})",
    )
    parser.add_argument(
        "--units",
        choices=["auto", "node", "position", "edge"],
        default=defaults.UNITS,
        help="circuit units: heads and MLPs (node), each of them at [CLS] and at the other "
        "positions (position: twice the units), or the edges between them (edge: pre-norm "
        "models only); auto (default): node or position, the finest whose estimated analysis "
        "time per model fits --time-budget",
    )
    parser.add_argument(
        "--time-budget",
        dest="time_budget_s",
        type=positive,
        default=defaults.TIME_BUDGET_S,
        help="with --units auto: seconds one model's analysis may take (default: 600)",
    )
    parser.add_argument(
        "--chance-samples",
        type=count_or_zero,
        default=defaults.CHANCE_SAMPLES,
        help="random circuits of the same shape each circuit is compared with (default: 200; "
        "0: no chance baseline)",
    )
    parser.add_argument(
        "--no-specificity",
        action="store_true",
        help="do not ablate circuits on control examples (in-distribution, other bias types)",
    )


def _add_analysis_args(parser: argparse.ArgumentParser, pairs: int = defaults.N_PAIRS) -> None:
    _add_manifest_arg(parser)
    parser.add_argument("--suite", default="lexical_overlap", help="probe suite to analyse")
    parser.add_argument("--pairs", type=count, default=pairs, help="minimal pairs (or examples)")
    parser.add_argument("--device", default=defaults.DEVICE, help="torch device")
    parser.add_argument("--out", default=defaults.OUT, help="folder for the JSON result")
    parser.add_argument(
        "--target",
        type=fraction,
        default=defaults.TARGET,
        help="faithfulness the circuit must reach",
    )
    _add_attribution_args(parser)
    parser.add_argument(
        "--min-separation",
        type=non_negative,
        default=defaults.MIN_SEPARATION,
        help="use the pairs whose logit difference the (teacher) model moves by at least this",
    )


MAX_RESULTS_BYTES = 1 << 30  # a study's results.json (the zoo's is tens of megabytes)


def _cell(value: float, width: int = 10) -> str:
    """A printed number, or n/a where it is undefined (never nan)."""
    text = f"{value:.3f}" if value == value else "n/a"
    return f"{text:>{width}s}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("interp-distill")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog.split()[-1]}: {message} (see {self.prog} --help)\n")


def _add_models_command(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="what the checkpoints manifest holds")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="every model and pair, and whether it exists")
    _add_manifest_arg(listing)
    listing.set_defaults(func=cmd_models_list)
    show = models_sub.add_parser("show", help="one model entry in full")
    show.add_argument("id", help="the model's id in the manifest")
    _add_manifest_arg(show)
    show.set_defaults(func=cmd_models_show)


def _add_inspect_command(sub: argparse._SubParsersAction) -> None:
    inspect = sub.add_parser(
        "inspect",
        help="what a checkpoint is, and a parity check against the Hugging Face forward",
        description="Family, layers, heads, width, parameters, labels and inputs of a "
        "checkpoint folder or manifest id; for a Hugging Face folder, our conversion checked "
        "against the Hugging Face eager forward on generated inputs. Exit 2 with one line when "
        "the family or an option is not supported, or parity fails.",
    )
    inspect.add_argument("source", help="a checkpoint folder (./name or a/b) or a manifest id")
    inspect.add_argument("--no-parity", action="store_true", help="skip the parity check")
    inspect.add_argument("--device", default=defaults.DEVICE)
    _add_manifest_arg(inspect)
    inspect.set_defaults(func=cmd_inspect)


def _add_probes_command(sub: argparse._SubParsersAction) -> None:
    probes = sub.add_parser("probes", help="the embedded probe suites")
    probes_sub = probes.add_subparsers(dest="probes_command", required=True)
    stats = probes_sub.add_parser("stats", help="size, label balance, bias-aligned share")
    from probes.__main__ import add_stats_arguments, run_stats  # lazy: light, argparse only

    add_stats_arguments(stats)
    stats.set_defaults(func=run_stats)


def _add_train_command(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train", help="build the manifest's recipe entries that are missing, in dependency order"
    )
    _add_selection_args(train)
    _add_executor_args(train, jobs=1)
    train.add_argument("--device", default=defaults.DEVICE)
    train.add_argument(
        "--rebuild-outdated",
        action="store_true",
        help="rebuild checkpoints whose recipe or data changed since they were built (or whose "
        "teacher, bias model or assistant was rebuilt); the old folders are kept as "
        "<folder>.outdated",
    )
    train.set_defaults(func=cmd_train)


def _add_evaluate_command(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser(
        "eval", help="accuracy tables and distillability of every trained model and pair"
    )
    _add_selection_args(evaluate)
    evaluate.add_argument("--device", default=defaults.DEVICE)
    evaluate.add_argument("--out", default="reports/eval", help="folder for CSV and JSON tables")
    evaluate.add_argument(
        "--bootstrap", type=count, default=defaults.N_BOOTSTRAP, help="bootstrap resamples"
    )
    evaluate.add_argument("--hans", nargs="+", metavar="FILE", help="also a HANS file (suite hans)")
    evaluate.add_argument(
        "--mnli", nargs="+", metavar="FILE", help="also MNLI JSON lines (suite: the file's name)"
    )
    evaluate.add_argument("--suites", nargs="+", help="only these suites (e.g. hans)")
    evaluate.set_defaults(func=cmd_eval)


def _add_study_command(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser(
        "study",
        help="the main job: build the default zoo if missing, evaluate, diff every pair's "
        "circuits, write reports/<run>/index.html",
        description="Build missing models of the selected pairs, evaluate them on every suite, "
        "analyse teacher and student of each pair (EAP-IG, exact patching, circuits, attention) "
        "and write an HTML report with results.json and CSV tables.",
    )
    _add_manifest_arg(study)
    study.add_argument("--tag", nargs="+", default=["demo"], help="pairs carrying these tags")
    study.add_argument(
        "--seeds",
        nargs="+",
        type=seed,
        action=Unique,
        default=[0],
        help="seeds to evaluate (distillability over them); the first is analysed",
    )
    study.add_argument(
        "--suites",
        nargs="+",
        action=Unique,
        help="suites whose minimal pairs are analysed (default: the task's, for NLI "
        "lexical_overlap and negation)",
    )
    study.add_argument("--out", default=defaults.OUT, help="parent folder of the run's report")
    study.add_argument(
        "--run",
        type=run_folder,
        help="run folder under --out (default: study-<tags>-s<seeds>, e.g. study-demo-s0)",
    )
    study.add_argument(
        "--force",
        action="store_true",
        help="replace the results of another study in the run folder (default: refuse)",
    )
    study.add_argument("--device", default=defaults.DEVICE, help="torch device")
    study.add_argument(
        "--pairs", type=count, default=defaults.N_PAIRS, help="minimal pairs per suite"
    )
    study.add_argument(
        "--target", type=fraction, default=defaults.TARGET, help="circuit faithfulness target"
    )
    _add_attribution_args(study)
    study.add_argument(
        "--min-separation",
        type=non_negative,
        default=defaults.MIN_SEPARATION,
        help="analyse the pairs whose logit difference the teacher moves by at least this",
    )
    study.add_argument(
        "--bootstrap", type=count, default=defaults.N_BOOTSTRAP, help="bootstrap resamples"
    )
    _add_executor_args(study, jobs=defaults.JOBS)
    study.add_argument("--no-build", action="store_true", help="fail instead of training")
    study.set_defaults(func=cmd_study)


def _add_findings_command(sub: argparse._SubParsersAction) -> None:
    findings = sub.add_parser(
        "findings", help="write the findings page (markdown) from studies' results.json"
    )
    findings.add_argument(
        "results", nargs="+", metavar="[TITLE=]RESULTS_JSON", help="studies, in page order"
    )
    findings.add_argument(
        "--out", dest="page", default="docs/findings.md", help="the page (a markdown file)"
    )
    findings.set_defaults(func=cmd_findings)


def _add_sweep_command(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="build, evaluate and report a sweep of the manifest (method x teacher size x "
        "student size x training-set size x seeds)",
    )
    sweep.add_argument("name", help="the sweep's id in the manifest")
    _add_manifest_arg(sweep)
    sweep.add_argument(
        "--dry-run", action="store_true", help="list its models and which exist; build nothing"
    )
    sweep.add_argument(
        "--report", action="store_true", help="only evaluate and report the models that exist"
    )
    sweep.add_argument("--out", default=defaults.OUT, help="parent folder of reports/sweep-<id>")
    sweep.add_argument("--device", default=defaults.DEVICE)
    sweep.add_argument(
        "--bootstrap", type=count, default=defaults.N_BOOTSTRAP, help="bootstrap resamples"
    )
    _add_executor_args(sweep, jobs=defaults.JOBS)
    sweep.set_defaults(func=cmd_sweep)


def _add_circuit_command(sub: argparse._SubParsersAction) -> None:
    circuit = sub.add_parser(
        "circuit", help="one model's circuit on a suite: EAP-IG, exact patching, faithfulness"
    )
    circuit.add_argument("--model", required=True, help="model id in the manifest")
    _add_analysis_args(circuit)
    circuit.set_defaults(func=cmd_circuit)


def _add_attention_command(sub: argparse._SubParsersAction) -> None:
    attention = sub.add_parser(
        "attention", help="per-head attention statistics of one model on a suite"
    )
    attention.add_argument("--model", required=True, help="model id in the manifest")
    _add_analysis_args(attention, pairs=256)
    attention.add_argument(
        "--sort", default="overlap", choices=["overlap", "negation", "special", "entropy"]
    )
    attention.add_argument("--top", type=count, default=10, help="heads to print")
    attention.set_defaults(func=cmd_attention)


def _add_diff_command(sub: argparse._SubParsersAction) -> None:
    diff = sub.add_parser("diff", help="teacher-vs-student circuit diff on one suite")
    diff.add_argument("--teacher", required=True, help="teacher id in the manifest")
    diff.add_argument("--student", required=True, help="student id in the manifest")
    _add_analysis_args(diff)
    diff.set_defaults(func=cmd_diff)


def _add_demo_command(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="end-to-end check on the shipped MiniLM: HF parity and overlap-detector heads",
    )
    demo.add_argument("--device", default=defaults.DEVICE, help="torch device")
    demo.add_argument("--examples", type=count, default=64, help="probe examples per suite")
    demo.add_argument("--seed", type=seed, default=0)
    demo.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """The `interp` parser: one `_add_<command>_command` function per command."""
    parser = Parser(
        prog="interp",
        description="Attention and circuit analysis of debiased teachers and their students.",
        epilog="--debug (anywhere on the line) or INTERP_DEBUG=1 shows the traceback of an error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_models_command,
        _add_inspect_command,
        _add_probes_command,
        _add_train_command,
        _add_evaluate_command,
        _add_study_command,
        _add_findings_command,
        _add_sweep_command,
        _add_circuit_command,
        _add_attention_command,
        _add_diff_command,
        _add_demo_command,
    ):
        add(sub)
    return parser


# Commands that analyse models in this process (INTERP_THREADS sets their thread count).
ANALYSES = ("eval", "study", "sweep", "circuit", "attention", "diff", "demo", "inspect")


def _stop_when_asked() -> None:
    """Ctrl-C (SIGINT) and SIGTERM both stop a command cleanly, even when the launcher started it
    with SIGINT ignored (a background job of a non-interactive shell)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _check_arguments(args: argparse.Namespace) -> None:
    """What can be checked before any work: the device, and that the output folder can be
    written (a report written after an hour of training must not fail for want of a folder)."""
    from interp.checks import check_device, writable_folder

    if getattr(args, "device", None):
        check_device(args.device)
    if getattr(args, "out", None):
        writable_folder(args.out)


def one_line(err: BaseException) -> str:
    """The error as one line: a file error names the file, others their first line."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or type(err).__name__}"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def main(argv: list[str] | None = None) -> int:
    quiet_spinning()  # before anything loads torch
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line, before or after the command
    debug = "--debug" in argv or os.environ.get("INTERP_DEBUG", "") not in ("", "0")
    try:
        args = build_parser().parse_args([a for a in argv if a != "--debug"])
    except SystemExit as done:  # --help, --version, or a bad argument (one line, code 2)
        return int(done.code or 0)
    _stop_when_asked()
    try:
        _check_arguments(args)
        if args.command in ANALYSES:
            apply_thread_setting()
        return args.func(args)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: what was finished is kept; run the command again to resume",
            file=sys.stderr,
        )
        return 130
    except (InterpError, ValueError, OSError) as err:
        if debug:
            traceback.print_exc()
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
