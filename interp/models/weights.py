"""Read and write weight files: safetensors only, never a pickle."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from interp.errors import CheckpointError
from interp.io import FILE_MODE


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file on CPU; a missing or corrupt file is a CheckpointError."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # safetensors raises its own error types for bad headers/lengths
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({type(err).__name__}: {err}); "
            "the file may be truncated or corrupt"
        ) from None


def read_safetensors_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file (read from its header only)."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as err:
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({type(err).__name__}: {err})"
        ) from None


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None):
    """Save tensors (made contiguous, on CPU) to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata
        )
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safetensors_names(path: Path) -> set[str]:
    """The tensor names of a safetensors file (read from its header only)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return set(handle.keys())
    except Exception as err:
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({type(err).__name__}: {err})"
        ) from None
