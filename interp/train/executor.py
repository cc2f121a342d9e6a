"""The executor: one scheduler of the recipe dependency graph, run inline, in local worker
processes, or on Ray.

Every training run goes through `run_graph`: a task starts when the tasks it depends on are
built, a failed task is retried once and then reported, and the tasks that do not depend on it
still run. Each task trains with a fixed number of torch threads (the manifest's
`train_threads`), so the weights depend on the recipe and seed only, not on how many tasks run
at once. Checkpoint folders appear whole (see `interp.train.trainer`), so a build that is
interrupted, by Ctrl-C or by killing the process, leaves each model built or absent, and the
next run resumes the interrupted ones from their last saved training state.

Backends:
- `InlineBackend`: one task at a time in this process (`--jobs 1`);
- `ProcessBackend`: up to `jobs` long-lived worker processes (`interp.train.worker`); they
  ignore Ctrl-C, which the scheduler turns into stopping them all (SIGTERM, then SIGKILL after a
  grace period), and they die with their parent if it is killed (Linux `PR_SET_PDEATHSIG`);
- `RayBackend`: tasks on a Ray cluster (`address`) or a local Ray instance. With
  `storage="shared"` every worker writes into the manifest's checkpoint folder, which must be
  visible to all of them; with `storage="ship"` the dependencies' files travel to the worker and
  the new checkpoint's files come back to the driver, which writes them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for
from pathlib import Path

from interp.errors import InterpError
from interp.io import write_folder
from interp.manifest import Manifest
from interp.train.task import build_task, describe_error
from interp.train.worker import serve

GRACE_SECONDS = 5.0  # after SIGTERM, before SIGKILL
POLL_SECONDS = 0.5


@dataclass
class Outcome:
    model_id: str
    error: str | None  # one line; None when the task succeeded
    seconds: float | None = 0.0  # None: another process built it meanwhile
    detail: str = ""  # the traceback of a failure


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)  # in completion order
    failed: dict[str, str] = field(default_factory=dict)  # id -> error after the retry
    blocked: dict[str, list[str]] = field(default_factory=dict)  # id -> failed dependencies
    seconds: dict[str, float | None] = field(default_factory=dict)  # None: built elsewhere
    details: dict[str, str] = field(default_factory=dict)  # id -> traceback

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked


def _built(seconds: float | None) -> str:
    if seconds is None:
        return "built by another process meanwhile"
    return f"built in {seconds:.0f} s"


def _failure(model_id: str, err: BaseException) -> Outcome:
    return Outcome(model_id, describe_error(err), 0.0, traceback.format_exc())


# ---------------------------------------------------------------------------- backends
class InlineBackend:
    """One task at a time, in this process."""

    slots = 1

    def __init__(self, manifest: Manifest, device: str, threads: int):
        self.manifest, self.device, self.threads = manifest, device, threads
        self.finished: list[Outcome] = []

    def start(self, model_id: str) -> None:
        try:
            seconds = build_task(self.manifest, model_id, self.device, self.threads)
            self.finished.append(Outcome(model_id, None, seconds))
        except Exception as err:  # noqa: BLE001 (reported, retried, never swallowed silently)
            self.finished.append(_failure(model_id, err))

    def poll(self, timeout: float) -> list[Outcome]:
        finished, self.finished = self.finished, []
        return finished

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: object
    task: str | None = None


class ProcessBackend:
    """Up to `jobs` long-lived worker processes (`interp.train.worker`), one task at a time each:
    a worker imports torch and generates the benchmark once, not once per model."""

    def __init__(self, manifest: Manifest, device: str, threads: int, jobs: int):
        self.manifest, self.device, self.threads = manifest, device, threads
        self.slots = jobs
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []

    def _idle_worker(self) -> _Worker:
        for worker in self.workers:
            if worker.task is None:
                return worker
        ours, theirs = self.context.Pipe(duplex=True)
        args = (theirs, self.manifest, self.device, self.threads, os.getpid())
        process = self.context.Process(target=serve, args=args, name="interp-worker")
        process.start()
        theirs.close()
        self.workers.append(_Worker(process, ours))
        return self.workers[-1]

    def start(self, model_id: str) -> None:
        worker = self._idle_worker()
        worker.conn.send(model_id)
        worker.task = model_id

    def poll(self, timeout: float) -> list[Outcome]:
        busy = [w for w in self.workers if w.task is not None]
        if not busy:
            return []
        wait_for([x for w in busy for x in (w.conn, w.process.sentinel)], timeout)
        finished = []
        for worker in busy:
            message = None
            if worker.conn.poll():
                with contextlib.suppress(EOFError, OSError):
                    message = worker.conn.recv()
            if message is not None:
                model_id, error, seconds, detail = message
                finished.append(Outcome(model_id, error, seconds, detail))
                worker.task = None
            elif not worker.process.is_alive():
                error = f"the worker process exited with code {worker.process.exitcode}"
                finished.append(Outcome(worker.task, error))
                worker.conn.close()
                self.workers.remove(worker)
        return finished

    def stop(self) -> None:
        """Terminate every worker: SIGTERM, then SIGKILL for those alive after a grace period."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + GRACE_SECONDS
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers.clear()

    def close(self) -> None:
        """Let idle workers finish on their own, then stop any that remain."""
        for worker in self.workers:
            if worker.task is None:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        deadline = time.monotonic() + GRACE_SECONDS
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        self.stop()


# ---------------------------------------------------------------------------- Ray
def read_folder(folder: Path) -> dict[str, bytes]:
    """The regular files of a checkpoint folder, by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _write_files(files: dict[str, bytes]) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        for name, data in files.items():
            (folder / name).write_bytes(data)

    return write


def _ray_task(manifest, model_id, device, threads, shipped):
    """A Ray task. `shipped`: None (shared storage) or the dependencies' files; then the entry
    is built in a scratch folder and its files are returned."""
    try:
        if shipped is None:
            return None, build_task(manifest, model_id, device, threads), "", None
        with tempfile.TemporaryDirectory(prefix="interp-ray-") as scratch:
            local = manifest.model_copy(update={"checkpoint_dir": scratch})
            for dep_id, files in shipped.items():
                write_folder(Path(scratch) / dep_id, _write_files(files))
            seconds = build_task(local, model_id, device, threads)
            return None, seconds, "", read_folder(local.location(model_id))
    except Exception as err:  # noqa: BLE001 (returned to the driver, which reports it)
        return describe_error(err), 0.0, traceback.format_exc(), None


class RayBackend:
    """Tasks on Ray: a cluster at `address`, or a local instance started (and stopped) here."""

    def __init__(
        self,
        manifest: Manifest,
        device: str,
        threads: int,
        jobs: int,
        address: str | None = None,
        storage: str = "shared",
        dependencies: Callable[[str], list[str]] | None = None,
    ):
        try:
            import ray  # lazy: an optional dependency, `pip install .[ray]`
        except ImportError:
            raise InterpError(
                "--executor ray needs Ray: pip install 'interp-distill[ray]'"
            ) from None
        if storage not in ("shared", "ship"):
            raise ValueError(f"unknown Ray storage '{storage}': shared or ship")
        self.ray = ray
        self.manifest, self.device, self.threads = manifest, device, threads
        self.storage = storage
        self.dependencies = dependencies or (lambda model_id: [])
        self.owns_instance = not ray.is_initialized()
        if self.owns_instance:
            options = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=jobs * threads, **options)
        cpus = int(ray.cluster_resources().get("CPU", threads))
        self.slots = max(1, cpus // threads) if address else max(1, jobs)
        gpus = 1 if device.startswith("cuda") else 0
        self.remote = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=0)(_ray_task)
        self.running: dict = {}  # object ref -> model id

    def _shipped(self, model_id: str):
        if self.storage == "shared":
            return None
        return {
            dep: read_folder(self.manifest.location(dep))
            for dep in self.dependencies(model_id)
            if self.manifest.entry(dep).recipe is not None
        }

    def start(self, model_id: str) -> None:
        ref = self.remote.remote(
            self.manifest, model_id, self.device, self.threads, self._shipped(model_id)
        )
        self.running[ref] = model_id

    def poll(self, timeout: float) -> list[Outcome]:
        if not self.running:
            return []
        done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=timeout)
        finished = []
        for ref in done:
            model_id = self.running.pop(ref)
            try:
                error, seconds, detail, files = self.ray.get(ref)
            except Exception as err:  # noqa: BLE001 (a worker that died: reported)
                finished.append(_failure(model_id, err))
                continue
            if error is None and files is not None:
                write_folder(self.manifest.location(model_id), _write_files(files))
            finished.append(Outcome(model_id, error, seconds, detail))
        return finished

    def stop(self) -> None:
        for ref in list(self.running):
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
        self.running.clear()

    def close(self) -> None:
        self.stop()
        if self.owns_instance and self.ray.is_initialized():
            self.ray.shutdown()


# ---------------------------------------------------------------------------- the scheduler
def run_graph(
    order: Sequence[str],
    dependencies: Callable[[str], list[str]],
    backend,
    retries: int = 1,
    log: Callable[[str], None] = print,
) -> BuildReport:
    """Run every task of `order` (dependencies first) once its dependencies are built.

    A failed task is retried `retries` times, then reported; tasks that depend on it are not
    started (reported as blocked) and all others still run. On Ctrl-C (or any exception here)
    every running task is stopped before the exception goes on.
    """
    to_build = set(order)
    pending = list(order)
    running: set[str] = set()
    attempts: dict[str, int] = {}
    report = BuildReport()
    total = len(order)
    try:
        while pending or running:
            for model_id in list(pending):
                bad = [
                    d for d in dependencies(model_id) if d in report.failed or d in report.blocked
                ]
                if bad:
                    pending.remove(model_id)
                    report.blocked[model_id] = bad
                    log(f"  {model_id}: not built, it needs {', '.join(bad)}")
            ready = [
                m
                for m in pending
                if all(d not in to_build or d in report.built for d in dependencies(m))
            ]
            for model_id in ready[: max(0, backend.slots - len(running))]:
                pending.remove(model_id)
                running.add(model_id)
                attempts[model_id] = attempts.get(model_id, 0) + 1
                again = " (retry)" if attempts[model_id] > 1 else ""
                log(f"  {model_id}: training{again} ...")
                backend.start(model_id)
            if not running:
                break
            for outcome in backend.poll(POLL_SECONDS):
                model_id = outcome.model_id
                running.discard(model_id)
                if outcome.error is None:
                    report.built.append(model_id)
                    report.seconds[model_id] = outcome.seconds
                    done = len(report.built)
                    log(f"  {model_id}: {_built(outcome.seconds)} [{done}/{total}]")
                elif attempts[model_id] <= retries:
                    log(f"  {model_id}: failed ({outcome.error}); retrying once")
                    pending.insert(0, model_id)
                else:
                    report.failed[model_id] = outcome.error
                    report.details[model_id] = outcome.detail
                    log(f"  {model_id}: failed again ({outcome.error})")
    except BaseException:
        backend.stop()
        raise
    finally:
        backend.close()
    return report
