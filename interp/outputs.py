"""Output folders that a command replaces whole: a study's run folder, an evaluation's tables.

Nothing a user keeps there is lost: a folder is replaced only when it holds nothing but the
files that kind of command writes (a folder named by `--out` or `--run` that holds anything
else is refused, never deleted), and only by one process at a time: an advisory `flock` on a
hidden file beside the folder, which the kernel releases when its holder exits, however it
exits. The holder of the lock also removes what an earlier, killed writer of the same folder
left behind (its staging and set-aside folders, `interp.io.clear_staging`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
from collections.abc import Iterator
from pathlib import Path

from interp.errors import InterpError
from interp.io import clear_staging

TABLES = ("suites", "subcases", "bias_gap", "distillability", "validity")
STUDY_FILES = frozenset(
    {"results.json", "index.html", "timings.json", "nodes.csv", *(f"{t}.csv" for t in TABLES)}
)
EVALUATION_FILES = frozenset({"results.json", "examples.csv", *(f"{t}.csv" for t in TABLES)})


def foreign_entries(folder: Path, ours: frozenset[str]) -> list[str]:
    """The names inside `folder` that are not plain files this kind of command writes."""
    return sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name not in ours or entry.is_symlink() or not entry.is_file()
    )


def check_replaceable(folder: str | Path, ours: frozenset[str], what: str, option: str) -> None:
    """An InterpError unless `folder` is absent, empty, or holds only files of `ours` (what
    `what` writes): a folder that holds anything else is the user's, and is never replaced."""
    folder = Path(folder)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InterpError(f"{folder}: not a folder {what} wrote; it is not replaced ({option})")
    if not folder.exists():
        return
    foreign = foreign_entries(folder, ours)
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise InterpError(
            f"{folder}: holds {shown}, which {what} did not write; it is not replaced: {option}"
        )


@contextlib.contextmanager
def output_lock(folder: str | Path, option: str) -> Iterator[None]:
    """Hold the write lock of an output folder for the whole command; refuse at once (one
    line naming the holder) when another process holds it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()[:200] or "another process"
            raise InterpError(
                f"{folder}: {holder} is writing it now; wait for it to finish, or {option}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {platform.node()}")
        handle.flush()
        try:
            clear_staging(folder)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
