"""`interp circuit`, `attention` and `diff`: one model's circuit or attention statistics, or a
teacher-student diff, on one suite, printed and written as JSON.

lazy: each command imports what it needs when it runs (no torch for `--help`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.errors import InterpError


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
    if args.localise:
        localisation = _localise_pair(args, teacher, student)
        for part in localisation.bias.values():
            print(f"  where: {part.verdict}")
        data["localisation"] = localisation.to_data()
    path = _write_json(args.out, f"diff-{args.teacher}-{args.student}-{args.suite}.json", data)
    print(f"written to {path}")
    return 0


def _localise_pair(args: argparse.Namespace, teacher, student):
    """Where the student loses the teacher's robustness on the bias type of `--suite`
    (interp.localise; the study's localisation of one pair, without seed baselines)."""
    from interp.localise import LocaliseModels, localise
    from interp.manifest import Manifest
    from probes.tasks import get_task

    manifest = Manifest.load(args.manifest)
    entry = manifest.entry(args.teacher)
    task = get_task(entry.task)
    bias_suites = {b: s for b, s in task.bias_types.items() if args.suite in s}
    if not bias_suites:
        raise InterpError(f"--localise: suite '{args.suite}' measures no bias type")
    models = LocaliseModels(args.teacher, teacher, args.student, student)
    bench = task.benchmark(manifest.data_for(entry))
    return localise(models, bench, bias_suites, key=f"{args.teacher}-{args.student}")


def _cell(value: float, width: int = 10) -> str:
    """A printed number, or n/a where it is undefined (never nan)."""
    text = f"{value:.3f}" if value == value else "n/a"
    return f"{text:>{width}s}"
