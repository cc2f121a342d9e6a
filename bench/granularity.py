"""Circuit size at each unit granularity, with its chance baseline, on trained models.

For each model and suite: the pairs the model separates (as the study selects them), the
smallest circuit reaching faithfulness 0.8 at node units (heads and MLPs) and at position units
(each at [CLS] and elsewhere), ranked by EAP-IG or, where EAP-IG is unreliable (Spearman with
exact patching below 0.6), by exact patching; its share of the units, its percentile among
200 random circuits of its shape, MIB's CPR and CMD, and the analysis time.

Two sections: `circuit_granularity`, the MiniLM teachers (post-norm: node and position units;
`interp train --tag real-backbone`), and `edge_granularity`, pre-norm teachers of the embedded
zoo and the vision zoo, where edges between the units are circuit units too (`--edges`). Models
that do not exist yet are skipped with a note.
`python -m bench.granularity [--edges] [--models ID ...] [--suites S ...]`.
"""

from __future__ import annotations

import argparse
import time

from bench.common import write_results
from interp.analysis import analyse_model
from interp.contrast import teacher_selected_pairs
from interp.manifest import Manifest
from interp.models import load
from interp.report.verdicts import DISTRIBUTED_SHARE, circuit_status
from interp.units import unit_names
from probes.tasks import get_task

DEFAULT_MODELS = ["minilm-erm-teacher-s0", "minilm-poe-teacher-s0"]
EDGE_MODELS = ["erm-teacher-s0", "augment-teacher-s0", "vit-augment-teacher-s0"]
DEFAULT_SUITES = ["lexical_overlap", "negation", "colour_conflicting", "marker_conflicting"]


def measure(
    model_id: str, manifest: Manifest, suites, n_pairs: int, device: str, units_list
) -> list[dict]:
    model = load(model_id, manifest=manifest, device=device)
    entry = manifest.entry(model_id)
    bench = get_task(entry.task).benchmark(manifest.data_for(entry))
    rows = []
    for suite in [s for s in suites if s in bench.suites]:
        pairs, selection = teacher_selected_pairs(model, bench.suites[suite], n_pairs, 0.5, device)
        for units in units_list:
            start = time.perf_counter()
            a = analyse_model(model, model_id, suite, pairs, target=0.8, units=units)
            seconds = time.perf_counter() - start
            total = len(unit_names(a.n_layers, a.n_heads, units))
            chance = a.chance or {}
            rows.append(
                {
                    "model": model_id,
                    "suite": suite,
                    "pairs": len(pairs),
                    "separated": selection["separated_by_teacher"],
                    "units": units,
                    "n_units": total,
                    "circuit": len(a.circuit["nodes"]),
                    "share": len(a.circuit["nodes"]) / total,
                    "faithfulness": a.circuit["meta"].get("faithfulness"),
                    "reached": a.circuit["meta"].get("reached"),
                    "ranking": a.ranking,
                    "spearman": a.spearman,
                    "chance_percentile": chance.get("percentile"),
                    "chance_p": chance.get("p_value"),
                    "status": circuit_status(a.__dict__),
                    "cpr": a.curve["mib"]["cpr"],
                    "cmd": a.curve["mib"]["cmd"],
                    "seconds": seconds,
                }
            )
            print(rows[-1])
    return rows


def _cell(value, digits: int = 2) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def run(
    models=None,
    suites=DEFAULT_SUITES,
    n_pairs: int = 64,
    device: str = "cpu",
    edges: bool = False,
):
    manifest = Manifest.load("checkpoints_manifest.yaml")
    units_list = ("node", "position", "edge") if edges else ("node", "position")
    models = models or (EDGE_MODELS if edges else DEFAULT_MODELS)
    rows, skipped = [], []
    for model_id in models:
        try:
            rows += measure(model_id, manifest, suites, n_pairs, device, units_list)
        except Exception as err:  # noqa: BLE001 (a missing checkpoint is a note, not a failure)
            skipped.append(f"{model_id}: {err}")
    head = (
        "| model | suite | pairs | units | circuit / units | share | faithfulness | ranked by "
        "(Spearman) | chance percentile (p) | status | CPR | CMD | seconds |"
    )
    lines = [
        "Smallest circuit reaching faithfulness 0.8 at each unit granularity, on the pairs the "
        f"model separates; status 'distributed' when it beats chance but takes more than "
        f"{DISTRIBUTED_SHARE:.0%} of the units. Node and position circuits patch units "
        "(the embeddings stay clean); edge circuits patch edges, the embeddings' included. "
        f"`python -m bench.granularity{' --edges' if edges else ''}`.",
        "",
        head,
        "|" + "---|" * 13,
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['suite']} | {r['pairs']} | {r['units']} | {r['circuit']} / "
            f"{r['n_units']} | {r['share']:.0%} | {_cell(r['faithfulness'])} | {r['ranking']} "
            f"({_cell(r['spearman'])}) | {_cell(r['chance_percentile'], 1)} "
            f"({_cell(r['chance_p'], 3)}) | {r['status']} | {_cell(r['cpr'])} | "
            f"{_cell(r['cmd'])} | {r['seconds']:.0f} |"
        )
    lines += [f"- skipped {note}" for note in skipped]
    write_results("edge_granularity" if edges else "circuit_granularity", rows, "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.granularity")
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--suites", nargs="+", default=DEFAULT_SUITES)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--edges", action="store_true", help="pre-norm models at node, position and edge units"
    )
    args = parser.parse_args()
    run(args.models, args.suites, args.pairs, args.device, args.edges)


if __name__ == "__main__":
    main()
