"""Hooked classifier models: config, batch, our checkpoint format, Hugging Face conversion."""

from __future__ import annotations

import os
from pathlib import Path

from interp.errors import CheckpointError, ManifestError
from interp.manifest import Manifest, ModelEntry
from interp.models.batch import Batch
from interp.models.checkpoint import load_checkpoint, save_checkpoint
from interp.models.config import ClassifierConfig
from interp.models.hf import is_hf_folder, load_hf
from interp.models.hooked import HookedClassifier

__all__ = [
    "Batch",
    "ClassifierConfig",
    "HookedClassifier",
    "is_hf_folder",
    "is_model_id",
    "load",
    "load_checkpoint",
    "load_hf",
    "save_checkpoint",
]


def is_model_id(source: str | Path | ModelEntry) -> bool:
    """A string without a path separator names a manifest entry; anything else is a folder."""
    return isinstance(source, str) and "/" not in source and os.sep not in source


def load(
    source: str | Path | ModelEntry,
    device: str = "cpu",
    manifest: Manifest | None = None,
) -> HookedClassifier:
    """Load a model from a checkpoint folder (ours or Hugging Face), a manifest entry or its id.

    A string without a path separator is an id, looked up in `manifest` (by default the
    `checkpoints_manifest.yaml` of the current directory), even where a folder of that name
    exists here: a folder is a folder when given as a path (`./name`, `a/b`, or a `Path`).
    Manifest entries are checked for existence and, when they carry one, their sha256; their
    `label_map` renames the labels.
    """
    if is_model_id(source):
        manifest = manifest or Manifest.load()
        try:
            source = manifest.entry(source)
        except ManifestError as err:
            if Path(source).is_dir():  # the user may have meant the folder
                raise ManifestError(
                    f"{err}; for the folder of that name, give ./{source}"
                ) from None
            raise
    if isinstance(source, ModelEntry):
        manifest = manifest or Manifest.load()
        model = load(manifest.checkpoint_path(source.id, verify=True), device=device)
        if source.label_map:
            model.cfg.labels = [source.label_map.get(x, x) for x in model.cfg.labels]
        model.meta.setdefault("id", source.id)
        return model
    path = Path(source)
    if path.is_file():
        raise CheckpointError(
            f"{path}: is a file; give the checkpoint folder that holds it ({path.parent})"
        )
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint folder")
    if is_hf_folder(path):
        return load_hf(path, device=device)
    return load_checkpoint(path, device=device)
