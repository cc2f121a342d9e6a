"""Checks across entries that the schema cannot make alone: ids defined once and named
references defined, a student's teacher of the same task, labels and tokenizer, a bias model of
the student's task, and a comparison's models and suites of one task."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from interp.errors import CheckpointError
from interp.manifest.schema import ModelEntry
from probes.tasks import check_suites, get_task

if TYPE_CHECKING:
    from interp.manifest import Manifest


def reference_problems(manifest: "Manifest") -> list[str]:
    """Every problem across the entries and comparisons, as messages."""
    problems = []
    ids = [m.id for m in manifest.models]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"manifest entry '{dup}' is defined {ids.count(dup)} times")
    known = set(ids)
    for entry in manifest.models:
        if (entry.path is None) == (entry.recipe is None):
            problems.append(f"manifest entry '{entry.id}': give exactly one of 'path' and 'recipe'")
        if entry.sha256 is not None and entry.path is None:
            problems.append(f"manifest entry '{entry.id}': 'sha256' needs a 'path'")
        if entry.recipe is not None:
            for field in ("teacher", "bias_model", "assistant"):
                ref = getattr(entry.recipe, field)
                if ref is not None and ref not in known:
                    problems.append(
                        f"manifest entry '{entry.id}': field 'recipe.{field}' names "
                        f"'{ref}', which is not defined"
                    )
                if ref == entry.id:
                    problems.append(
                        f"manifest entry '{entry.id}': field 'recipe.{field}' names itself"
                    )
    by_id = {m.id: m for m in manifest.models}
    for entry in manifest.models:
        recipe = entry.recipe
        if recipe is None:
            continue
        for field in ("teacher", "assistant"):
            other = by_id.get(getattr(recipe, field) or "")
            if other is not None and other.id != entry.id:
                problems += _kd_problems(entry, other, field, manifest)
        bias = by_id.get(recipe.bias_model or "")
        if bias is not None and (bias.role != "bias_model" or bias.task != entry.task):
            problems.append(
                f"manifest entry '{entry.id}': field 'recipe.bias_model' names "
                f"'{bias.id}', which is a {bias.task} {bias.role}, not a {entry.task} "
                "bias model"
            )
    pair_ids = [p.id for p in manifest.pairs]
    for dup in sorted({i for i in pair_ids if pair_ids.count(i) > 1}):
        problems.append(f"pair '{dup}' is defined {pair_ids.count(dup)} times")
    for pair in manifest.pairs:
        named = [(f, getattr(pair, f)) for f in ("teacher", "student", "baseline")]
        for field, ref in named + [("controls", ref) for ref in pair.controls]:
            if ref is not None and ref not in known:
                problems.append(
                    f"pair '{pair.id}': field '{field}' names '{ref}', which is not defined"
                )
        if pair.teacher in by_id:
            task = by_id[pair.teacher].task
            try:
                check_suites(task, pair.suites)
            except ValueError as err:
                problems.append(f"pair '{pair.id}': field 'suites': {err}")
            others = [(f, getattr(pair, f)) for f in ("student", "baseline")]
            for field, ref in others + [("controls", ref) for ref in pair.controls]:
                other = by_id.get(ref or "")
                if other is not None and other.task != task:
                    problems.append(
                        f"pair '{pair.id}': teacher '{pair.teacher}' is a {task} model but "
                        f"{field} '{other.id}' a {other.task} one"
                    )
    return problems


def declared_labels(entry: ModelEntry, manifest: "Manifest") -> list[str] | None:
    """The label names an entry's model will have: its task's for a recipe, those of its
    config.json (through `label_map`) for an existing checkpoint; None when not yet known."""
    if entry.recipe is not None:
        return list(get_task(entry.task).labels)
    try:
        config = json.loads((manifest.location(entry.id) / "config.json").read_text())
    except (OSError, ValueError, CheckpointError):
        return None
    if not isinstance(config, dict):
        return None
    if isinstance(config.get("labels"), list):
        labels = [str(x) for x in config["labels"]]
    elif isinstance(config.get("id2label"), dict):
        id2label = config["id2label"]
        try:
            labels = [str(id2label[k]) for k in sorted(id2label, key=int)]
        except ValueError:
            return None
    else:
        return None
    return [entry.label_map.get(label, label) for label in labels]


def _kd_problems(student: ModelEntry, teacher: ModelEntry, field: str, manifest) -> list[str]:
    """A student distils from its teacher's logits: same task and the same labels in order."""
    if student.task != teacher.task:
        return [
            f"manifest entry '{student.id}' ({student.task}) distils from {field} "
            f"'{teacher.id}' ({teacher.task}): a student and its teacher need the same task"
        ]
    problems = []
    ours, theirs = declared_labels(student, manifest), declared_labels(teacher, manifest)
    if ours is not None and theirs is not None and ours != theirs:
        problems.append(
            f"manifest entry '{student.id}' (labels {ours}) distils from {field} "
            f"'{teacher.id}' (labels {theirs}): the label sets must be the same, in order "
            "(a label_map on the teacher's entry can rename them)"
        )
    mine, yours = _vocabulary(student), _vocabulary(teacher)
    if mine is not None and yours is not None and mine != yours:
        problems.append(
            f"manifest entry '{student.id}' ({mine} tokenizer) distils from {field} "
            f"'{teacher.id}' ({yours} tokenizer): both must read the same token ids"
        )
    return problems


def _vocabulary(entry: ModelEntry) -> str | None:
    """Which tokenizer a recipe's model gets: the pretrained encoder's, or its task's."""
    if entry.recipe is None or get_task(entry.task).modality != "text":
        return None
    arch = entry.recipe.arch
    if isinstance(arch, str) and arch.startswith("minilm-"):
        return "MiniLM"
    return f"{entry.task} word-level"
