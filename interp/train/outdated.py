"""Built checkpoints that no longer match the manifest: their recipe or benchmark settings
changed since they were built, or a model they were built from was rebuilt.

`interp train` builds what is missing and would otherwise keep such a checkpoint silently, and
every later table would carry the new description over the old model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from interp.errors import ManifestError
from interp.manifest import Manifest, Recipe, sha256_of
from probes.tasks import get_task

RECORD = "train.json"


def dependencies(manifest: Manifest, model_id: str) -> list[str]:
    """The entries a recipe is built from (bias model, teacher, assistant)."""
    recipe = manifest.entry(model_id).recipe
    if recipe is None:
        return []
    return [ref for ref in (recipe.bias_model, recipe.teacher, recipe.assistant) if ref]


def input_hashes(manifest: Manifest, model_id: str) -> dict[str, str]:
    """sha256 of the weights of each entry `model_id` is built from (recorded at build time)."""
    return {
        dep: sha256_of(manifest.location(dep) / "model.safetensors")
        for dep in dependencies(manifest, model_id)
    }


def _record(folder: Path) -> dict | None:
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _normalised(value):
    return json.loads(json.dumps(value))


def changes(manifest: Manifest, model_id: str) -> list[str]:
    """How a built recipe entry differs from what the manifest asks for now; [] when it
    matches, is not built, has no recipe, or carries no build record to compare with."""
    entry = manifest.entry(model_id)
    folder = manifest.location(model_id)
    if entry.recipe is None or not manifest.exists(model_id):
        return []
    record = _record(folder)
    if record is None or not isinstance(record.get("recipe"), dict):
        return []
    found = []
    built_recipe = record["recipe"]
    for key, wanted in _normalised(entry.recipe.model_dump()).items():
        if key in built_recipe:
            built = built_recipe[key]
        else:  # a field added after the build: the checkpoint has its default
            built = _normalised(Recipe.model_fields[key].get_default(call_default_factory=True))
        if built != wanted:
            found.append(f"recipe.{key} {built!r} -> {wanted!r}")
    if isinstance(record.get("data"), dict):
        settings = get_task(entry.task).make_settings(manifest.data_for(entry))
        for key, wanted in _normalised(asdict(settings)).items():
            built = record["data"].get(key, wanted)
            if built != wanted:
                found.append(f"data.{key} {built!r} -> {wanted!r}")
    for dep, built_hash in (record.get("inputs") or {}).items():
        if manifest.exists(dep):
            if sha256_of(manifest.location(dep) / "model.safetensors") != built_hash:
                found.append(f"'{dep}' was rebuilt since")
    return found


def outdated(manifest: Manifest, order: Sequence[str]) -> dict[str, list[str]]:
    """The outdated checkpoints among `order` (dependencies first, as `build_order` gives),
    with why; an entry built from an outdated one is outdated too."""
    found: dict[str, list[str]] = {}
    for model_id in order:
        reasons = changes(manifest, model_id)
        reasons += [
            f"built from '{dep}', which is outdated"
            for dep in dependencies(manifest, model_id)
            if dep in found and manifest.exists(model_id)
        ]
        if reasons:
            found[model_id] = reasons
    return found


def describe(found: dict[str, list[str]]) -> str:
    return "; ".join(f"{model_id} ({', '.join(reasons)})" for model_id, reasons in found.items())


def refuse_outdated(manifest: Manifest, order: Sequence[str]) -> None:
    """A ManifestError naming every outdated checkpoint among `order`, and how to rebuild."""
    found = outdated(manifest, order)
    if found:
        raise ManifestError(
            f"{len(found)} checkpoint(s) no longer match the manifest: {describe(found)}; "
            "`interp train --rebuild-outdated` rebuilds them (the old folders are kept as "
            "<folder>.outdated)"
        )


def set_aside(manifest: Manifest, model_ids: Sequence[str]) -> list[Path]:
    """Move each checkpoint folder to <folder>.outdated (<folder>.outdated.2, .3, ... when an
    older copy is there), so that it is rebuilt and no old model is lost."""
    moved = []
    for model_id in model_ids:
        folder = manifest.location(model_id)
        target = folder.with_name(folder.name + ".outdated")
        number = 1
        while target.exists():
            number += 1
            target = folder.with_name(f"{folder.name}.outdated.{number}")
        folder.rename(target)
        moved.append(target)
    return moved
