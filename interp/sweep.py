"""Sweeps: build a grid of teachers and students, evaluate it, and report how distillability
moves with the debiasing method, the teacher's and the student's size and the training set.

A sweep (the manifest's `sweeps:` section, see `interp.manifest.Sweep`) expands into
ordinary manifest entries and pairs tagged with its id, so that it trains through the same
executor as everything else (locally or on Ray) and resumes the same way. Results go to
`<out>/sweep-<id>/`: results.json, distillability.csv (one row per comparison and bias type,
with the factors and parameter counts), validity.csv and index.html.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from safetensors import safe_open

from interp import defaults
from interp.checks import check_device, writable_folder
from interp.claims import (
    amplification,
    by_train_size,
    claim_sentence,
    seed_rows,
    similar_scale,
)
from interp.evaluate import evaluate_manifest, table_records
from interp.io import atomic_write_json, atomic_write_text, csv_text
from interp.manifest import Manifest, Sweep, copy_seed
from interp.report import write_report
from interp.report.sweep import render_sweep
from interp.results import Claim, SweepResults, Validity
from interp.study import executor_options
from interp.train.zoo import ensure_built
from probes.tasks import all_bias_types


@dataclass
class SweepConfig:
    manifest: str = defaults.MANIFEST
    name: str = "scale-demo"
    out: str = defaults.OUT
    device: str = defaults.DEVICE
    jobs: int = defaults.JOBS
    executor: str = "local"
    address: str | None = None
    storage: str = "shared"
    bootstrap: int = defaults.N_BOOTSTRAP


def sweep_models(manifest: Manifest, sweep: Sweep) -> list[str]:
    """Every entry id of the sweep, seeds expanded, in manifest order."""
    return [m.id for m in manifest.models if sweep.id in m.tags]


def plan(manifest: Manifest, sweep: Sweep) -> dict:
    """What the sweep consists of and which of its models exist."""
    ids = sweep_models(manifest, sweep)
    existing = [m for m in ids if manifest.exists(m)]
    roles: dict[str, int] = {}
    for model_id in ids:
        role = manifest.entry(model_id).role
        roles[role] = roles.get(role, 0) + 1
    pairs = [p for p in manifest.pairs if sweep.id in p.tags]
    return {"models": ids, "existing": existing, "roles": roles, "pairs": len(pairs)}


def parameter_count(folder: Path) -> int:
    """Parameters of a checkpoint, from its safetensors header (nothing is loaded)."""
    total = 0
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        for key in handle.keys():
            size = 1
            for dim in handle.get_slice(key).get_shape():
                size *= dim
            total += size
    return total


def test_claims(
    manifest: Manifest, sweep: Sweep, validity: list[Validity], factors: dict
) -> list[Claim]:
    """The two scale claims (`interp.claims`) per bias type, with their sentences."""
    comparisons = [
        {
            "group": p.seed_group or p.id,
            "seed": copy_seed(p) if copy_seed(p) is not None else 0,
            "teacher_id": p.teacher,
            "student_id": p.student,
            "baseline_id": p.baseline,
            "teacher": p.factors["teacher"],
            "train_size": p.factors["train_size"],
            "parameter_ratio": factors[p.seed_group or p.id]["parameter_ratio"],
        }
        for p in manifest.pairs
        if sweep.id in p.tags
    ]
    bias_types = sorted({b for r in validity for b in all_bias_types() if r.measures(b)})
    sizes = list(sweep.teachers)  # in the manifest's order: smallest first by convention
    out = []
    for train_size, rows in by_train_size(seed_rows(validity, comparisons, bias_types)).items():
        for bias in bias_types:
            for tests in ([similar_scale(rows, bias)], amplification(rows, bias, sizes)):
                for test in tests:
                    test.train_size = train_size
                out.append(Claim(tests=tests, sentence=claim_sentence(tests)))
    return out


def run_sweep(cfg: SweepConfig, build: bool = True, log=print) -> Path:
    """Build what is missing (unless `build` is False), evaluate, write tables and report."""
    check_device(cfg.device)
    writable_folder(cfg.out)
    started = time.perf_counter()
    manifest = Manifest.load(cfg.manifest)
    sweep = manifest.sweep(cfg.name)
    ids = sweep_models(manifest, sweep)
    command = f"`interp sweep {sweep.id}`"
    ensure_built(manifest, ids, build, command, log=log, **executor_options(cfg))
    build_seconds = time.perf_counter() - started
    log(f"evaluating {len(ids)} models ...")
    tables = evaluate_manifest(manifest, ids, cfg.device, cfg.bootstrap)
    params = {
        m: parameter_count(manifest.location(m))
        for m in ids
        if manifest.entry(m).role != "bias_model"
    }
    factors = {
        (p.seed_group or p.id): {
            **p.factors,
            "teacher_params": params[p.teacher],
            "student_params": params[p.student],
            "parameter_ratio": params[p.teacher] / params[p.student],
        }
        for p in manifest.pairs
        if sweep.id in p.tags
    }
    rows = []
    for row in table_records(tables["distillability"]):
        if row["group"] in factors:
            rows.append({**factors[row["group"]], **row})
    validity = [Validity.model_validate(r) for r in table_records(tables["validity"])]
    drafted = SweepResults(
        sweep=sweep.model_dump(),
        models=ids,
        distillability=rows,
        validity=validity,
        claims=test_claims(manifest, sweep, validity, factors),
        build_seconds=build_seconds,
        total_seconds=time.perf_counter() - started,
    )
    # The report reads what results.json holds (undefined numbers as None).
    data = drafted.to_data()
    results = SweepResults.model_validate(data)
    out_dir = Path(cfg.out) / f"sweep-{sweep.id}"
    atomic_write_json(out_dir / "results.json", data)
    atomic_write_text(out_dir / "distillability.csv", csv_text(pd.DataFrame(rows)))
    atomic_write_text(out_dir / "validity.csv", csv_text(tables["validity"]))
    return write_report(results, out_dir, render_sweep)
