"""Write files atomically: a temporary file beside the target, then a rename.

Readers never see half a file, and an interrupted write leaves the old file (or none) in place.
Everything the toolkit writes (checkpoints, results, reports, tables) goes through here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


FILE_MODE = 0o644  # temporary files are private (0600); the files they become are not


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def defined(value: Any) -> bool:
    """Whether a number is defined: neither None (null in results.json) nor NaN."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def finite(value: Any) -> Any:
    """NaN and infinities -> None, recursively, so that the value is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def atomic_write_json(path: str | Path, data: Any, indent: int = 1) -> None:
    """Strict JSON (undefined numbers as null), keys sorted, written atomically."""
    text = json.dumps(finite(data), indent=indent, sort_keys=True, allow_nan=False)
    atomic_write_text(path, text + "\n")


def write_folder(target: str | Path, write) -> Path:
    """Call `write(folder)` on a new staging folder, then move it into place as `target`.

    After any interruption `target` is either complete or as it was before: never half written.
    """
    target = Path(target)
    staging = staging_folder(target)
    try:
        write(staging)
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def replace_folder(staging: Path, target: Path) -> None:
    """Move a completely written folder into place: `target` is either the old or the new one.

    A stale `target` (an incomplete folder from an earlier run) is moved aside first and removed.
    """
    if target.exists():
        aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
        os.replace(target, aside / target.name)
        os.replace(staging, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(staging, target)


def staging_folder(target: Path) -> Path:
    """A new empty folder beside `target`, to write into before `replace_folder`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp."))
    folder.chmod(0o755)  # mkdtemp makes it private; the checkpoint it becomes is not
    return folder


def clear_staging(target: Path) -> None:
    """Remove what an interrupted `write_folder` of `target` left beside it: its staging
    (`.<name>.tmp.*`) and set-aside (`.<name>.old.*`) folders. Links are removed, never
    followed. Call it only while no other process can be writing `target`."""
    for pattern in (f".{target.name}.tmp.*", f".{target.name}.old.*"):
        for leftover in target.parent.glob(pattern):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(frame) -> str:
    """A pandas frame as CSV text in which no text cell can act as a spreadsheet formula: text
    that begins with =, +, -, @, a tab or a carriage return gets a leading apostrophe (numbers
    stay numbers)."""

    from pandas.api.types import is_numeric_dtype  # lazy: pandas is slow to import

    def neutral(value):
        if isinstance(value, str) and value.startswith(FORMULA_START):
            return "'" + value
        return value

    safe = frame.copy()
    for column in safe.columns:
        if not is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(neutral)
    return safe.to_csv(index=False)


def read_text_bounded(path: str | Path, max_bytes: int, what: str = "file") -> str:
    """A regular file's UTF-8 text, refused (ValueError naming it) when it is not a regular
    file (a FIFO or device would block) or larger than `max_bytes` (checked before reading)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: not a regular file; give a {what}")
    size = path.stat().st_size  # FileNotFoundError for a missing file, as read_text gives
    if size > max_bytes:
        raise ValueError(
            f"{path}: {size:,} bytes, more than a {what} may hold ({max_bytes:,}); is it the "
            "right file?"
        )
    return path.read_text(encoding="utf-8")
