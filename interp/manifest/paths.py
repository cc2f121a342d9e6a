"""Where checkpoints live: folders inside installed packages (`package://`), and file
hashes."""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

from interp.errors import CheckpointError
from interp.io import sha256_file

PACKAGE_SCHEME = "package://"


def package_path(path: str, model_id: str) -> Path:
    """Resolve `package://NAME/SUB/PATH` to a folder inside the installed package NAME."""
    package, _, inner = path[len(PACKAGE_SCHEME) :].partition("/")
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise CheckpointError(
            f"manifest entry '{model_id}': package '{package}' is not installed"
        ) from None
    return Path(str(root)) / inner


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such file to hash")
    return sha256_file(path)


def weights_digest(folder: Path) -> str | None:
    """One sha256 over the weight files (`*.safetensors`, by name) of a checkpoint folder, or
    None when it holds none: what a study records of each model it reads."""
    files = sorted(p for p in folder.glob("*.safetensors") if p.is_file() and not p.is_symlink())
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()
