"""Share the machine's cores between analyses that run at once.

Each analysis process (a study, a sweep's evaluation, `interp circuit` ...) takes, when it
starts, its share of the cores: the cores divided by the number of analyses running, itself
included. Without this, two studies at once each run as many torch threads as there are cores
and fight over them (two runs took 5.7 times one run's time on 2 cores). The share is fixed
when the process starts, so nothing changes under a running analysis; the numbers an analysis
produces do not depend on its thread count (tested on the study). `INTERP_THREADS` sets the
count by hand. Training tasks keep the manifest's `train_threads`, which fixes their weights.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import tempfile
from pathlib import Path

import torch

REGISTRY = Path(tempfile.gettempdir()) / "interp-analyses"
_held: list = []  # this process's registration, kept open (and locked) until it exits


def _alive(path: Path) -> bool:
    """Whether another process holds the registration at `path`; a stale one is removed."""
    try:
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            path.unlink(missing_ok=True)  # its process is gone
            return False
    except OSError:
        return False


def running_analyses() -> int:
    """Analyses registered by other live processes."""
    if not REGISTRY.is_dir():
        return 0
    mine = f"{os.getpid()}.lock"
    return sum(_alive(p) for p in REGISTRY.glob("*.lock") if p.name != mine)


def share_cores(cores: int | None = None) -> int:
    """Register this process as a running analysis and set torch's thread count to its share
    of the cores; returns the count."""
    wanted = os.environ.get("INTERP_THREADS", "")
    if wanted:
        threads = int(wanted) if wanted.isdigit() else 0
        if threads < 1:
            raise ValueError(f"INTERP_THREADS must be a positive integer, got {wanted!r}")
    else:
        cores = cores or len(os.sched_getaffinity(0))
        threads = max(1, cores // (1 + running_analyses()))
    if not _held:
        REGISTRY.mkdir(parents=True, exist_ok=True)
        handle = open(REGISTRY / f"{os.getpid()}.lock", "w")  # noqa: SIM115 (held until exit)
        fcntl.flock(handle, fcntl.LOCK_EX)
        _held.append(handle)
        atexit.register(handle.close)
    torch.set_num_threads(threads)
    return threads
