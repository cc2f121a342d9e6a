"""One build task: build a manifest entry with a fixed number of torch threads, after clearing
what an earlier, killed build of it left behind. Run inline, by a local worker or by Ray."""

from __future__ import annotations

import contextlib
import platform
import shutil
import time

import torch

from interp.errors import InterpError
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


def build_task(manifest: Manifest, model_id: str, device: str, threads: int) -> float:
    """Build one entry with `threads` torch threads; returns the seconds it took."""
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
    patterns = [
        (target.parent, f".{target.name}.tmp.*"),  # interp.io.staging_folder
        (target.parent, f".{target.name}.old.*"),  # interp.io.replace_folder
        (target.parent / PARTIAL_DIR, f".{target.name}.safetensors.*.tmp"),
    ]
    for folder, pattern in patterns:
        for leftover in folder.glob(pattern) if folder.is_dir() else ():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
