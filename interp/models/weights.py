"""Read and write weight files (safetensors only) and other files atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from interp.errors import CheckpointError


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None):
    """Save tensors (made contiguous, on CPU) to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata
        )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
