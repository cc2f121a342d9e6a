"""Timing helpers and the machine description shared by the benchmarks."""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS_DIR = Path(__file__).resolve().parent


def in_fresh_process(target: Callable, job: tuple):
    """`target(job)` in a new spawned process, so that its peak memory is its own."""
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        return pool.apply(target, (job,))
    finally:
        # Let the worker exit by itself: terminating it leaves its semaphores to the tracker,
        # which warns about them at shutdown.
        pool.close()
        pool.join()


def bert_base_config(**settings):
    """A random classifier of BERT-base size (12 layers x 12 heads x 768), 64-token inputs."""
    from interp.models import ClassifierConfig

    return ClassifierConfig(
        labels=["a", "b", "c"],
        vocab_size=1000,
        max_positions=128,
        n_layers=12,
        n_heads=12,
        d_model=768,
        **settings,
    )


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> None:
    """Start the kernel's peak-RSS mark (VmHWM) afresh (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def median_time(
    fn: Callable[[], object], repeats: int = 15, warmup: int = 3, device="cpu"
) -> float:
    """Median wall time of `fn` in seconds over `repeats` runs, after `warmup` runs."""
    return interleaved_times({"fn": fn}, repeats, warmup, device)[0]["fn"]


def interleaved_times(
    fns: dict[str, Callable[[], object]], repeats: int = 15, warmup: int = 3, device="cpu"
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Median wall time of each function, timed in turn within every repeat, and the per-repeat
    times: ratios taken repeat by repeat cancel the drift of a shared, noisy machine."""

    def sync():
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}, times


def median_ratio(times: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """Median over repeats of time(numerator) / time(denominator) in the same repeat."""
    return statistics.median(a / b for a, b in zip(times[numerator], times[denominator]))


def write_results(name: str, rows: list[dict], markdown: str) -> None:
    """Merge `rows` under `name` into results.json and rewrite results.md (atomically)."""
    json_path, md_path = RESULTS_DIR / "results.json", RESULTS_DIR / "results.md"
    data = json.loads(json_path.read_text()) if json_path.exists() else {}
    data["machine"] = machine()
    data[name] = rows
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(json_path)
    sections = {}
    if md_path.exists():
        current = None
        for line in md_path.read_text().splitlines():
            if line.startswith("## "):
                current = line[3:].strip()
                sections[current] = []
            elif current is not None:
                sections[current].append(line)
    sections[name] = markdown.strip().splitlines()
    machine_line = ", ".join(f"{k}: {v}" for k, v in data["machine"].items())
    body = ["# Benchmark results", "", f"Machine: {machine_line}", ""]
    for section, lines in sections.items():
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        body += [f"## {section}", *lines, ""]
    tmp = md_path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(body).rstrip() + "\n")
    tmp.replace(md_path)
