"""Expansion of a raw manifest before validation: every sweep into its grid of entries and
comparisons (`Sweep`), and every entry or comparison with `seeds` into one copy per seed."""

from __future__ import annotations

from pydantic import ValidationError

from interp.errors import ManifestError
from interp.manifest.schema import Comparison, ModelEntry, Sweep, describe_validation
from probes.tasks import get_task


def sweep_entries(sweep: Sweep) -> tuple[list[dict], list[dict]]:
    """The manifest entries and pairs (as raw dicts, with `seeds`) of a sweep's grid."""
    tags = [sweep.id, *sweep.tags]
    suites = sweep.suites or list(get_task(sweep.task).analysed)
    models, pairs = [], []

    def add(model_id: str, role: str, seeded: bool = True, **recipe) -> str:
        seeds = {"seeds": sweep.seeds} if seeded else {}
        entry = {"id": model_id, "role": role, "task": sweep.task, "tags": tags, **seeds}
        models.append({**entry, "recipe": recipe})
        return model_id

    for size in sweep.train_sizes:
        data = {**sweep.data, "n_train": size}
        bias = add(
            f"{sweep.id}-bias-n{size}",
            "bias_model",
            seeded=False,
            arch="features",
            loss="erm",
            params=sweep.bias_params,
            data=data,
        )
        for method in sweep.methods:
            params = {**sweep.params, **sweep.method_params.get(method, {})}
            # augmentation is cross-entropy on the training set plus the bias-conflicting
            # augment examples, for the teacher and for the student without KD alike
            augment = method == "augment"
            debias = {"fix": "augment"} if augment else {}
            if method not in ("erm", "augment"):
                debias = {"bias_model": bias}
            teacher_loss = "erm" if augment else method
            alone = "erm" if method in ("erm", "augment") else f"nokd+{method}"
            baselines = {
                s_name: add(
                    f"{sweep.id}-nokd-{method}-{s_name}-n{size}",
                    "student",
                    arch=s_arch,
                    loss=alone,
                    steps=sweep.student_steps,
                    params=params,
                    data=data,
                    **debias,
                )
                for s_name, s_arch in sweep.students.items()
            }
            for t_name, t_arch in sweep.teachers.items():
                teacher = add(
                    f"{sweep.id}-{method}-{t_name}-n{size}",
                    "teacher",
                    arch=t_arch,
                    loss=teacher_loss,
                    steps=sweep.teacher_steps,
                    params=params,
                    data=data,
                    **debias,
                )
                for s_name, s_arch in sweep.students.items():
                    student = add(
                        f"{sweep.id}-{method}-{t_name}-{s_name}-n{size}",
                        "student",
                        arch=s_arch,
                        loss="kd",
                        teacher=teacher,
                        steps=sweep.student_steps,
                        params=sweep.params,
                        data=data,
                    )
                    pairs.append(
                        {
                            "id": student,
                            "teacher": teacher,
                            "student": student,
                            "baseline": baselines[s_name],
                            "suites": suites,
                            "tags": tags,
                            "seeds": sweep.seeds,
                            "factors": {
                                "method": method,
                                "teacher": t_name,
                                "student": s_name,
                                "train_size": size,
                            },
                        }
                    )
    return models, pairs


MAX_ENTRIES = 20_000  # models and pairs of one manifest after expansion


def sweep_size(sweep: Sweep) -> int:
    """How many models and pairs a sweep expands to, counted before anything is built:
    per combination a teacher, a KD student, a non-KD student and a pair, plus a bias model
    per training-set size, each in every seed."""
    grid = len(sweep.methods) * len(sweep.teachers) * len(sweep.students) * len(sweep.train_sizes)
    return (4 * grid + len(sweep.train_sizes)) * len(sweep.seeds)


def expand_sweeps(raw: dict) -> dict:
    """Add every sweep's grid of entries and pairs to the raw manifest (see `Sweep`)."""
    sweeps = raw.get("sweeps") or []
    if not isinstance(sweeps, list) or not sweeps:
        return raw
    models = list(raw.get("models") or []) if isinstance(raw.get("models"), list) else []
    pairs = list(raw.get("pairs") or []) if isinstance(raw.get("pairs"), list) else []
    for index, item in enumerate(sweeps):
        try:
            sweep = Sweep.model_validate(item)
        except ValidationError as err:
            name = item.get("id") if isinstance(item, dict) else None
            where = f"sweep '{name}'" if name else f"sweep #{index + 1}"
            problems = describe_validation(err, {}).replace("top level: ", "")
            raise ManifestError(f"{where}: {problems}") from None
        size = sweep_size(sweep)
        if size > MAX_ENTRIES:
            raise ManifestError(
                f"sweep '{sweep.id}' expands to {size:,} models and pairs, more than "
                f"{MAX_ENTRIES:,}: split it into several sweeps"
            )
        new_models, new_pairs = sweep_entries(sweep)
        models += new_models
        pairs += new_pairs
    return {**raw, "models": models, "pairs": pairs}


def seeded_id(group: str, seed: int | str) -> str:
    """The id of an entry's or pair's copy for one seed (with "": the prefix of every copy)."""
    return f"{group}-s{seed}"


def copy_seed(item: ModelEntry | Comparison) -> int | None:
    """The seed of a seeded copy (`poe-s1` -> 1); None for an unseeded entry or pair."""
    if item.seed_group is None:
        return None
    return int(item.id[len(seeded_id(item.seed_group, "")) :])


def expand_seeds(raw: dict) -> dict:
    """Replace every entry and pair that has `seeds` by one copy per seed (see module doc)."""
    models = raw.get("models") or []
    pairs = raw.get("pairs") or []
    if not isinstance(models, list) or not isinstance(pairs, list):
        return raw  # the schema reports the wrong type
    seeded = {
        m["id"]
        for m in models
        if isinstance(m, dict) and "seeds" in m and isinstance(m.get("id"), str)
    }

    def rename(ref, seed):
        return seeded_id(ref, seed) if ref in seeded else ref

    def copies(item: dict, refs: dict) -> list[dict]:
        if not isinstance(item, dict) or "seeds" not in item:
            return [item]
        if not isinstance(item.get("id"), str):
            raise ManifestError(
                f"an entry with 'seeds' has no 'id' (it has {sorted(map(str, item))}); "
                "seeded copies are named <id>-s<seed>"
            )
        seeds = item["seeds"]
        # bool is an int in Python: `seeds: [true]` is not a seed
        if (
            not isinstance(seeds, list)
            or not seeds
            or not all(type(s) is int and s >= 0 for s in seeds)
        ):
            raise ManifestError(
                f"'{item.get('id')}': field 'seeds' must be a non-empty list of whole numbers "
                f">= 0, got {seeds!r}"
            )
        if len(set(seeds)) != len(seeds):
            raise ManifestError(f"'{item.get('id')}': field 'seeds' repeats a seed: {seeds}")
        out = []
        for seed in seeds:
            copy = {k: v for k, v in item.items() if k != "seeds"}
            copy["id"], copy["seed_group"] = seeded_id(item["id"], seed), item["id"]
            for container, fields in refs.items():
                target = copy if container is None else dict(copy.get(container) or {})
                for field in fields:
                    if isinstance(target.get(field), str):
                        target[field] = rename(target[field], seed)
                    elif isinstance(target.get(field), list):
                        target[field] = [
                            rename(r, seed) if isinstance(r, str) else r for r in target[field]
                        ]
                if container is not None and container in copy:
                    if container == "recipe":
                        target["seed"] = seed
                    copy[container] = target
            out.append(copy)
        return out

    model_refs = {"recipe": ("teacher", "bias_model", "assistant")}
    pair_refs = {None: ("teacher", "student", "baseline", "controls")}
    return {
        **raw,
        "models": [c for m in models for c in copies(m, model_refs)],
        "pairs": [c for p in pairs for c in copies(p, pair_refs)],
    }
