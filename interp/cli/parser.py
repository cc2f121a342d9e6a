"""The options of every `interp` command, one `_add_<command>_command` each, with their defaults
from `interp.defaults`.

lazy: `_version` reads the installed version only when asked.
"""

from __future__ import annotations

import argparse

from interp import defaults
from interp.cli.analyses import cmd_attention, cmd_circuit, cmd_diff
from interp.cli.models import cmd_inspect, cmd_models_list, cmd_models_show
from interp.cli.runs import cmd_demo, cmd_eval, cmd_findings, cmd_study, cmd_sweep, cmd_train
from interp.cli.types import (
    Unique,
    count,
    count_up_to,
    fraction,
    non_negative,
    positive,
    run_folder,
    seed,
)


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


def _add_executor_args(parser: argparse.ArgumentParser, jobs: int) -> None:
    parser.add_argument(
        "--jobs",
        type=count_up_to(defaults.MAX_JOBS, "worker processes"),
        default=jobs,
        help=f"models trained at once (default: {jobs})",
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
    parser.add_argument(
        "--ig-steps",
        type=count_up_to(defaults.MAX_IG_STEPS, "interpolation steps"),
        default=defaults.IG_STEPS,
        help="EAP-IG interpolation steps",
    )
    parser.add_argument(
        "--batch-size",
        type=count_up_to(defaults.MAX_BATCH, "pairs per chunk"),
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
        type=count_up_to(defaults.MAX_CHANCE_SAMPLES, "random circuits", least=0),
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
    parser.add_argument(
        "--pairs",
        type=count_up_to(defaults.MAX_PAIRS, "pairs"),
        default=pairs,
        help="minimal pairs (or examples)",
    )
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
        "--bootstrap",
        type=count_up_to(defaults.MAX_BOOTSTRAP, "resamples"),
        default=defaults.N_BOOTSTRAP,
        help="bootstrap resamples",
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
        "--pairs",
        type=count_up_to(defaults.MAX_PAIRS, "pairs"),
        default=defaults.N_PAIRS,
        help="minimal pairs per suite",
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
        "--bootstrap",
        type=count_up_to(defaults.MAX_BOOTSTRAP, "resamples"),
        default=defaults.N_BOOTSTRAP,
        help="bootstrap resamples",
    )
    _add_executor_args(study, jobs=defaults.JOBS)
    study.add_argument(
        "--no-localise",
        action="store_true",
        help="do not locate where each student loses its teacher's robustness (stitching, "
        "probes, seed baselines)",
    )
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
        "--bootstrap",
        type=count_up_to(defaults.MAX_BOOTSTRAP, "resamples"),
        default=defaults.N_BOOTSTRAP,
        help="bootstrap resamples",
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
    diff.add_argument(
        "--localise",
        action="store_true",
        help="also locate where the student loses the teacher's robustness on the suite's bias "
        "type (stitching, probes, knock-outs)",
    )
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
