"""The checkpoints manifest: loading, and the one place that resolves ids to entries and
entries to folders (`Manifest`). Its schema (`schema`), the expansion of sweeps and seeds
(`expansion`), the checks across entries (`references`) and checkpoint paths (`paths`) live in
the modules beside it, each with one job; their public names are re-exported here.

`checkpoints_manifest.yaml` lists every model a study knows (an existing checkpoint `path`, or a
`recipe` that `interp train` builds into `<checkpoint_dir>/<id>`) and the teacher/student `pairs`
a study compares. Relative paths are relative to the manifest's folder.

An entry or pair with `seeds: [0, 1, 2]` stands for one copy per seed, with ids `<id>-s<seed>`;
its recipe gets that seed, and its references to other seeded entries get the same suffix.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from interp import defaults
from interp.errors import CheckpointError, ManifestError
from interp.io import read_text_bounded
from interp.manifest.expansion import (
    MAX_ENTRIES,
    copy_seed,
    expand_seeds,
    expand_sweeps,
    seeded_id,
    sweep_entries,
    sweep_size,
)
from interp.manifest.paths import PACKAGE_SCHEME, package_path, sha256_of, weights_digest
from interp.manifest.references import declared_labels, reference_problems
from interp.manifest.schema import (
    ID_PATTERN,
    RECIPE_PARAMS,
    Comparison,
    ModelEntry,
    Recipe,
    Scalar,
    Sweep,
    _Strict,
    describe_validation,
)
from interp.yamlfile import MAX_BYTES, load_yaml
from probes.tasks import get_task

__all__ = [
    "ID_PATTERN",
    "MAX_ENTRIES",
    "PACKAGE_SCHEME",
    "RECIPE_PARAMS",
    "Comparison",
    "Manifest",
    "ModelEntry",
    "Recipe",
    "Scalar",
    "Sweep",
    "copy_seed",
    "declared_labels",
    "expand_seeds",
    "expand_sweeps",
    "known_names",
    "package_path",
    "seeded_id",
    "sha256_of",
    "sweep_entries",
    "sweep_size",
]


class Manifest(_Strict):
    version: Literal[1] = 1
    checkpoint_dir: str = "checkpoints"
    # Torch threads of every training task: part of what fixes the weights (float sums depend
    # on how work is split between threads), so it is set here, not by the number of jobs.
    train_threads: int = Field(default=1, ge=1)
    # Benchmark settings per task (NLIConfig / DigitsConfig fields), e.g. {nli: {seed: 0}}.
    data: dict[str, dict[str, Scalar]] = {}
    models: list[ModelEntry] = []
    pairs: list[Comparison] = []
    sweeps: list[Sweep] = []
    root: Path = Field(default=Path("."), exclude=True)

    @field_validator("data")
    @classmethod
    def _known_settings(cls, value: dict) -> dict:
        for task, settings in value.items():
            get_task(task).make_settings(settings)  # unknown names and bad values: ValueError
        return value

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path = defaults.MANIFEST) -> "Manifest":
        path = Path(path)
        if path.is_dir():
            raise ManifestError(f"{path}: is a folder; give the manifest file (a .yaml file)")
        try:
            raw = load_yaml(read_text_bounded(path, MAX_BYTES, "manifest file"))
        except FileNotFoundError:
            raise ManifestError(f"{path}: no such manifest file") from None
        except UnicodeDecodeError as err:
            raise ManifestError(f"{path}: not UTF-8 text (byte {err.start})") from None
        except OSError as err:
            raise ManifestError(f"{path}: cannot be read ({err.strerror or err})") from None
        except ValueError as err:  # not a regular file, or too large
            raise ManifestError(str(err)) from None
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            problem = getattr(err, "problem", None) or str(err) or type(err).__name__
            raise ManifestError(f"{path}: not valid YAML{line} ({problem})") from None
        return cls.from_dict(raw, root=path.resolve().parent, source=str(path))

    @classmethod
    def from_dict(cls, raw: Any, root: Path = Path("."), source: str = "manifest") -> "Manifest":
        if not isinstance(raw, dict):
            raise ManifestError(f"{source}: expected a mapping at the top level")
        try:
            raw = expand_seeds(expand_sweeps(raw))
        except ManifestError as err:
            raise ManifestError(f"{source}: {err}") from None
        try:
            manifest = cls.model_validate({**raw, "root": root})
        except ValidationError as err:
            raise ManifestError(f"{source}: {describe_validation(err, raw)}") from None
        problems = reference_problems(manifest)
        if problems:
            raise ManifestError(f"{source}: " + "; ".join(problems))
        return manifest

    # ------------------------------------------------------------------ queries
    def data_for(self, entry: ModelEntry) -> dict[str, Scalar]:
        """The benchmark settings an entry trains on: the manifest's, then its recipe's."""
        recipe_data = entry.recipe.data if entry.recipe is not None else {}
        return {**self.data.get(entry.task, {}), **recipe_data}

    def sweep(self, sweep_id: str) -> Sweep:
        for sweep in self.sweeps:
            if sweep.id == sweep_id:
                return sweep
        known = [s.id for s in self.sweeps]
        raise ManifestError(f"no sweep '{sweep_id}' ({known_names(sweep_id, known)})")

    def entry(self, model_id: str) -> ModelEntry:
        for entry in self.models:
            if entry.id == model_id:
                return entry
        copies = self.seed_copies(model_id)
        if copies:
            raise ManifestError(
                f"'{model_id}' has one entry per seed: {', '.join(copies)}; name one of them"
            )
        groups = sorted({m.seed_group for m in self.models if m.seed_group is not None})
        known = [m.id for m in self.models] + groups
        raise ManifestError(f"no manifest entry '{model_id}' ({known_names(model_id, known)})")

    def seed_copies(self, group: str, seed: int | None = None) -> list[str]:
        """The ids of a seeded entry's copies (`erm-teacher` -> erm-teacher-s0, ...), or only
        the given seed's; empty when `group` is not a seeded entry."""
        return [
            m.id
            for m in self.models
            if m.seed_group == group and (seed is None or copy_seed(m) == seed)
        ]

    def comparison(self, comparison_id: str) -> Comparison:
        """The teacher-student comparison of that id (the manifest's `pairs:` section)."""
        for comparison in self.pairs:
            if comparison.id == comparison_id:
                return comparison
        known = [c.id for c in self.pairs]
        raise ManifestError(f"no pair '{comparison_id}' ({known_names(comparison_id, known)})")

    def location(self, model_id: str) -> Path:
        """Where the entry's checkpoint lives (given path, or where its recipe writes it).

        `package://NAME/SUB/PATH` names a folder shipped inside an installed Python package.
        """
        entry = self.entry(model_id)
        if entry.path and entry.path.startswith(PACKAGE_SCHEME):
            return package_path(entry.path, model_id)
        relative = Path(entry.path) if entry.path else Path(self.checkpoint_dir) / entry.id
        return relative if relative.is_absolute() else self.root / relative

    def weights_digest(self, model_id: str) -> str | None:
        """One sha256 over the entry's weight files (None: none there)."""
        return weights_digest(self.location(model_id))

    def exists(self, model_id: str) -> bool:
        return (self.location(model_id) / "config.json").exists()

    def checkpoint_path(self, model_id: str, verify: bool = True) -> Path:
        """The entry's checkpoint folder; with `verify`, it must exist and match its sha256."""
        entry = self.entry(model_id)
        folder = self.location(model_id)
        if not verify:
            return folder
        if not (folder / "config.json").exists():
            how = "run `interp train` to build it" if entry.recipe else "check its 'path'"
            raise CheckpointError(f"manifest entry '{model_id}': no checkpoint at {folder} ({how})")
        if entry.sha256 is not None:
            actual = sha256_of(folder / "model.safetensors")
            if actual != entry.sha256:
                raise CheckpointError(
                    f"manifest entry '{model_id}': model.safetensors has sha256 {actual}, "
                    f"the manifest expects {entry.sha256}"
                )
        return folder


def known_names(name: str, known: list[str], limit: int = 20) -> str:
    """What to tell someone who named an unknown entry, pair or sweep: all the names when they
    are few, else the closest ones."""
    if len(known) <= limit:
        return f"known: {', '.join(known) or 'none'}"
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    nearest = f"closest: {', '.join(close)}; " if close else ""
    return f"{nearest}{len(known)} known, `interp models list` lists them"
