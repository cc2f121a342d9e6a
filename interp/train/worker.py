"""A local worker process of the executor: builds the manifest entries its parent sends.

This module imports nothing heavy at the top, so that a freshly spawned worker sets up its
signals before it spends seconds importing torch: Ctrl-C belongs to the parent (which stops the
workers), SIGTERM unwinds the current build (removing its temporary files), and the kernel
sends SIGTERM when the parent dies, so no worker outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """SIGTERM when the parent dies (Linux); leave at once if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        os._exit(1)


def _exit_on_term(signum, frame):
    raise SystemExit(128 + signum)


def serve(conn, manifest, device: str, threads: int, parent_pid: int) -> None:
    """Build each entry id received on `conn` and answer (id, error, seconds, traceback);
    None ends the worker."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)
    # lazy: the signals above must be in place before the slow imports (torch, transformers)
    import traceback

    from interp.train.task import build_task, describe_error

    while True:
        model_id = conn.recv()
        if model_id is None:
            break
        try:
            seconds = build_task(manifest, model_id, device, threads)
            conn.send((model_id, None, seconds, ""))
        except Exception as err:  # noqa: BLE001 (sent to the parent, which reports it)
            conn.send((model_id, describe_error(err), 0.0, traceback.format_exc()))
    conn.close()
