"""One build task: build a manifest entry with a fixed number of torch threads, after clearing
what an earlier, killed build of it left behind. Run inline, by a local worker or by Ray.

Builds that share a checkpoint folder (two `interp train`, `study` or `sweep` processes) take a
lock per model first: the second waits while the first trains that model, then finds it built
and skips it. The lock is an advisory `flock` on `.partial/<folder>.lock` (beside the saved
training states), which the kernel releases when its holder exits, however it exits, so a
killed build leaves no lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import sys
import time
from collections.abc import Iterator

import torch

from interp.errors import InterpError
from interp.io import clear_staging
from interp.manifest import Manifest
from interp.train.recipes import build_entry
from interp.train.trainer import PARTIAL_DIR


def describe_error(err: BaseException) -> str:
    """One line: the message of the toolkit's and input errors, type and message otherwise."""
    if isinstance(err, (InterpError, ValueError, OSError)):
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return f"{type(err).__name__}: {err}".splitlines()[0]


@contextlib.contextmanager
def torch_threads(threads: int):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def build_lock(manifest: Manifest, model_id: str) -> Iterator[None]:
    """Hold the build lock of one entry (waiting, with a line saying so, while another process
    holds it)."""
    target = manifest.location(model_id)
    folder = target.parent / PARTIAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{target.name}.lock", "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            print(f"  {model_id}: being built by {holder}; waiting for it", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {platform.node()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_task(manifest: Manifest, model_id: str, device: str, threads: int) -> float | None:
    """Build one entry with `threads` torch threads; returns the seconds it took, or None when
    another process built it while this one waited for its lock."""
    with build_lock(manifest, model_id):
        if manifest.exists(model_id):
            return None
        return _build(manifest, model_id, device, threads)


def _build(manifest: Manifest, model_id: str, device: str, threads: int) -> float:
    started = time.perf_counter()
    clear_leftovers(manifest, model_id)
    with torch_threads(threads):
        environment = {
            "torch": torch.__version__,
            "threads": threads,
            "device": device,
            # float32 kernels differ by instruction set: weights are byte-identical on machines
            # of one kind, not across kinds (an AVX-512 and an AVX2 machine differ)
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "machine": platform.machine(),
        }
        build_entry(manifest, model_id, device=device, progress=False, environment=environment)
    return time.perf_counter() - started


def clear_leftovers(manifest: Manifest, model_id: str) -> None:
    """Remove what an earlier, killed build of this entry left behind: its staging folders
    and temporary files (never its saved training state, from which it resumes)."""
    target = manifest.location(model_id)
    clear_staging(target)
    partial = target.parent / PARTIAL_DIR
    for leftover in partial.glob(f".{target.name}.safetensors.*.tmp") if partial.is_dir() else ():
        leftover.unlink(missing_ok=True)
