"""Accuracy per suite, heuristic, subcase and label; distillability and contribution tables.

For a metric M (default: accuracy on bias-conflicting examples of a bias type), a teacher T, its
KD student S and the student trained without KD B:
    distillability D = M(S) - M(T)   (negative: the student lost the teacher's debiasing)
    contribution   C = M(S) - M(B)   (what distillation added over training alone)
Seeds are aggregated with mean and standard deviation; a bootstrap that resamples seeds and
examples (the same draws for every model) gives a 95% interval.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from interp import defaults
from interp.checks import repeated
from interp.inputs import predict_labels
from interp.models import HookedClassifier, load
from interp.seeding import rng_for
from probes.core import ProbeSet
from probes.tasks import all_bias_types, get_task

BIAS_TYPES = all_bias_types()  # bias type -> suites whose bias-conflicting examples count


def correctness_frame(
    model_id: str, probe_set: ProbeSet, predictions: Sequence[str]
) -> pd.DataFrame:
    """One row per example: identity, annotations, prediction and whether it is right."""
    frame = probe_set.to_frame()[
        ["id", "suite", "heuristic", "subcase", "label", "bias_type", "bias_aligned"]
    ].copy()
    frame.insert(0, "model", model_id)
    frame["prediction"] = list(predictions)
    frame["correct"] = (frame["prediction"] == frame["label"]).astype(float)
    return frame


def evaluate_model(
    model: HookedClassifier,
    model_id: str,
    suites: Iterable[ProbeSet],
    encodings: dict | None = None,
) -> pd.DataFrame:
    """Per-example correctness of one model on every suite (concatenated). Suites are encoded
    in chunks; `encodings`, shared between models, keeps one encoding per tokenizer."""
    return pd.concat(
        [correctness_frame(model_id, s, predict_labels(model, s, cache=encodings)) for s in suites],
        ignore_index=True,
    )


def accuracy_tables(examples: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Accuracy by suite; by heuristic/subcase/label; bias-aligned vs bias-conflicting and gap."""
    by_suite = examples.groupby(["model", "suite"], as_index=False)["correct"].agg(
        accuracy="mean", n="size"
    )
    by_subcase = examples.groupby(
        ["model", "suite", "heuristic", "subcase", "label"], as_index=False
    )["correct"].agg(accuracy="mean", n="size")
    known = examples.dropna(subset=["bias_aligned"])
    aligned = (
        known.assign(aligned=known["bias_aligned"].astype(bool))
        .groupby(["model", "suite", "aligned"])["correct"]
        .mean()
        .unstack("aligned")
        .rename(columns={True: "bias_aligned", False: "bias_conflicting"})
        .reset_index()
    )
    if {"bias_aligned", "bias_conflicting"} <= set(aligned.columns):
        aligned["gap"] = aligned["bias_aligned"] - aligned["bias_conflicting"]
    return {"suites": by_suite, "subcases": by_subcase, "bias_gap": aligned}


def table_records(frame: pd.DataFrame) -> list[dict]:
    """A table's rows as JSON-ready dicts (NaN as None)."""
    return json.loads(frame.to_json(orient="records"))


def validity_table(examples: pd.DataFrame) -> pd.DataFrame:
    """Per model: in-distribution accuracy and, per bias type, accuracy on its bias-aligned
    and bias-conflicting examples and the gap between them (one row per model)."""
    rows = []
    for model_id, part in examples.groupby("model", sort=False):
        row = {"model": model_id}
        held = part[part["suite"] == "in_distribution"]
        row["in_distribution"] = held["correct"].mean() if len(held) else float("nan")
        for bias_type, suites in BIAS_TYPES.items():
            rows_of_type = part[part["suite"].isin(suites)].dropna(subset=["bias_aligned"])
            if rows_of_type.empty:
                continue
            aligned = rows_of_type[rows_of_type["bias_aligned"] == True]["correct"].mean()  # noqa: E712
            conflicting = rows_of_type[rows_of_type["bias_aligned"] == False]["correct"].mean()  # noqa: E712
            row[f"{bias_type}_aligned"] = aligned
            row[f"{bias_type}_conflicting"] = conflicting
            row[f"{bias_type}_gap"] = aligned - conflicting
        rows.append(row)
    return pd.DataFrame(rows)


def conflicting_mask(examples: pd.DataFrame, bias_type: str) -> pd.Series:
    """The examples that the metric of `bias_type` averages over."""
    return examples["suite"].isin(BIAS_TYPES[bias_type]) & (examples["bias_aligned"] == False)  # noqa: E712


def metric_matrix(examples: pd.DataFrame, models: Sequence[str], bias_type: str) -> np.ndarray:
    """[model, example] correctness on the metric's examples, same example order for all."""
    mask = conflicting_mask(examples, bias_type)
    rows = []
    for model_id in models:
        part = examples[mask & (examples["model"] == model_id)].sort_values(["suite", "id"])
        rows.append(part["correct"].to_numpy())
    lengths = {len(r) for r in rows}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            f"models {list(models)} were not evaluated on the same {bias_type} examples"
        )
    return np.stack(rows)


def _bootstrap_means(matrix: np.ndarray, n_bootstrap: int, rng) -> np.ndarray:
    """[role, replicate] means of a [role, seed, example] matrix over resampled seeds and
    examples (the same draws for every role, so differences between roles are paired)."""
    n_seeds, n_examples = matrix.shape[1], matrix.shape[2]
    out = np.empty((matrix.shape[0], n_bootstrap))
    for b in range(n_bootstrap):
        seeds = rng.integers(0, n_seeds, size=n_seeds) if n_seeds > 1 else np.zeros(1, int)
        examples = rng.integers(0, n_examples, size=n_examples)
        out[:, b] = matrix[:, seeds][:, :, examples].mean((1, 2))
    return out


def distillability_table(
    examples: pd.DataFrame,
    pairs: Sequence[dict],
    bias_types: Sequence[str],
    n_bootstrap: int = defaults.N_BOOTSTRAP,
    seed: int = 0,
) -> pd.DataFrame:
    """D and C per pair group (pairs sharing `group` are seeds of one comparison) and bias type.

    `pairs`: dicts with `group`, `teacher`, `student` and optionally `baseline` model ids.
    Output columns: metric values of teacher / student / baseline (mean and std over seeds),
    D and C (mean, std, bootstrap 95% interval), number of seeds and of examples.
    """
    rows = []
    groups: dict[str, list[dict]] = {}
    for pair in pairs:
        groups.setdefault(pair["group"], []).append(pair)
    for group, members in groups.items():
        for bias_type in bias_types:
            if not conflicting_mask(examples, bias_type).any():
                continue
            roles = ["teacher", "student"] + (["baseline"] if members[0].get("baseline") else [])
            # [role, seed, example]
            models = [m[role] for role in roles for m in members]
            matrix = metric_matrix(examples, models, bias_type)
            matrix = matrix.reshape(len(roles), len(members), -1)
            n_examples = matrix.shape[-1]
            means = matrix.mean(-1)  # [role, seed]
            row = {"group": group, "bias_type": bias_type, "seeds": len(members), "n": n_examples}
            for r, role in enumerate(roles):
                row[f"{role}_mean"] = means[r].mean()
                row[f"{role}_std"] = means[r].std(ddof=1) if len(members) > 1 else 0.0
            # Each group draws from its own generator: its interval does not depend on which
            # other pairs the manifest holds or in which order.
            rng = rng_for(seed, group, bias_type)
            boot = _bootstrap_means(matrix, n_bootstrap, rng)  # [role, boot]
            contrasts = {"D": (1, 0)}
            if "baseline" in roles:
                contrasts["C"] = (1, 2)
            for name, (a, b) in contrasts.items():
                per_seed = means[a] - means[b]
                row[f"{name}_mean"] = per_seed.mean()
                row[f"{name}_std"] = per_seed.std(ddof=1) if len(members) > 1 else 0.0
                low, high = np.percentile(boot[a] - boot[b], [2.5, 97.5])
                row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
            rows.append(row)
    return pd.DataFrame(rows)


def evaluate_manifest(
    manifest,
    model_ids: Sequence[str],
    device: str = "cpu",
    n_bootstrap: int = defaults.N_BOOTSTRAP,
    extra_suites: dict[str, Sequence[ProbeSet]] | None = None,
    suites: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Evaluate existing models of the manifest on every suite of their task, plus
    `extra_suites` per task (e.g. a HANS file for NLI); `suites` keeps only those names.

    Returns the per-example frame, the accuracy tables, and the distillability table of every
    pair whose models were all evaluated.
    """
    frames = []
    tasks = {}
    encodings: dict = {}  # one encoding of each suite per tokenizer, shared by the models
    for model_id in model_ids:
        entry = manifest.entry(model_id)
        if entry.role == "bias_model":
            continue
        model = load(model_id, manifest=manifest, device=device)
        task_suites = get_task(entry.task).benchmark(manifest.data_for(entry)).suites
        chosen = [*task_suites.values(), *(extra_suites or {}).get(entry.task, [])]
        repeats = repeated([s.name for s in chosen])
        if repeats:
            raise ValueError(
                f"suite name {', '.join(repeats)} given twice (a file's suite is named after the "
                "file: rename a file whose name is a built-in suite's or another file's)"
            )
        if suites is not None:
            chosen = [s for s in chosen if s.name in suites]
        if not chosen:
            raise ValueError(f"{model_id}: none of the suites {list(suites)} to evaluate on")
        frames.append(evaluate_model(model, model_id, chosen, encodings))
        tasks[model_id] = entry.task
    if not frames:
        raise ValueError("no trained model to evaluate among the selection")
    examples = pd.concat(frames, ignore_index=True)
    tables = accuracy_tables(examples)
    tables["validity"] = validity_table(examples)
    evaluated = set(tasks)
    pairs = [
        {
            "group": p.seed_group or p.id,
            "teacher": p.teacher,
            "student": p.student,
            "baseline": p.baseline,
        }
        for p in manifest.pairs
        if {p.teacher, p.student, *([p.baseline] if p.baseline else [])} <= evaluated
    ]
    bias_types = [b for b in BIAS_TYPES if conflicting_mask(examples, b).any()]
    tables["distillability"] = (
        distillability_table(examples, pairs, bias_types, n_bootstrap) if pairs else pd.DataFrame()
    )
    tables["examples"] = examples
    return tables
