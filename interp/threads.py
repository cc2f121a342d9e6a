"""Threads of the analysis commands: a fixed count, and idle threads that do not spin.

An analysis's numbers depend on its torch thread count (float sums are split between threads
differently), so the count is fixed by the machine alone: every core, or `INTERP_THREADS`;
never by what else is running, which would make a study's numbers depend on it. What made two
analyses at once slow (145 s each against 22 s alone on 2 cores) was OpenMP's idle threads
spinning for the cores the other process needed; a short spin (`GOMP_SPINCOUNT`, set before
torch loads unless the user set it) keeps a run alone nearly as fast (24 s) and two at once at
about twice one (44 s each). Training tasks keep the manifest's `train_threads`.
"""

from __future__ import annotations

import os

from interp.defaults import MAX_THREADS

SPIN_COUNT = "10000"  # OpenMP busy-wait iterations before an idle thread sleeps (default 300k)


def quiet_spinning() -> None:
    """Shorten OpenMP's busy wait; must run before torch is imported to take effect."""
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


def thread_setting() -> int | None:
    """The thread count `INTERP_THREADS` asks for, or None (torch's default: every core)."""
    wanted = os.environ.get("INTERP_THREADS", "")
    if not wanted:
        return None
    if not wanted.isdigit() or not 1 <= int(wanted) <= MAX_THREADS:
        raise ValueError(
            f"INTERP_THREADS must be a whole number from 1 to {MAX_THREADS}, got {wanted!r}"
        )
    return int(wanted)


def apply_thread_setting() -> None:
    threads = thread_setting()
    if threads is not None:
        import torch  # lazy: only when a command analyses models

        torch.set_num_threads(threads)
