"""Build the manifest's recipe entries in dependency order, skipping those that exist."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import torch

from interp.errors import ManifestError
from interp.manifest import Manifest
from interp.train.recipes import build_entry


def dependencies(manifest: Manifest, model_id: str) -> list[str]:
    recipe = manifest.entry(model_id).recipe
    if recipe is None:
        return []
    return [ref for ref in (recipe.bias_model, recipe.teacher, recipe.assistant) if ref]


def build_order(manifest: Manifest, targets: Sequence[str]) -> list[str]:
    """Targets and everything they depend on, dependencies first; cycles are an error."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(model_id: str, chain: list[str]) -> None:
        if state.get(model_id) == "done":
            return
        if state.get(model_id) == "visiting":
            raise ManifestError(f"recipes depend on each other in a cycle: {' -> '.join(chain)}")
        state[model_id] = "visiting"
        for dep in dependencies(manifest, model_id):
            visit(dep, chain + [dep])
        state[model_id] = "done"
        order.append(model_id)

    for target in targets:
        visit(target, [target])
    return order


def select(
    manifest: Manifest,
    only: Sequence[str] | None,
    tags: Sequence[str] | None,
    seed: int | None = None,
):
    """Entry ids named by `only`, or carrying one of `tags`, or all entries; with `seed`, only
    unseeded entries and the copies of that seed."""
    if only:
        for model_id in only:
            manifest.entry(model_id)  # clear error for an unknown id
        return list(only)
    chosen = [m for m in manifest.models if not tags or set(m.tags) & set(tags)]
    if seed is not None:
        chosen = [m for m in chosen if m.seed_group is None or m.id.endswith(f"-s{seed}")]
    return [m.id for m in chosen]


def _build_one(manifest: Manifest, model_id: str, device: str, threads: int) -> tuple[str, float]:
    torch.set_num_threads(threads)
    started = time.perf_counter()
    build_entry(manifest, model_id, device=device, progress=False)
    return model_id, time.perf_counter() - started


def build_zoo(
    manifest: Manifest | str | Path,
    only: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    seed: int | None = None,
    jobs: int = 1,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> list[str]:
    """Build every missing recipe entry among the selection and its dependencies.

    With `jobs` > 1, independent entries train in parallel processes of one thread each.
    Returns the ids built, in completion order.
    """
    if not isinstance(manifest, Manifest):
        manifest = Manifest.load(manifest)
    order = build_order(manifest, select(manifest, only, tags, seed))
    missing = [m for m in order if not manifest.exists(m)]
    without_recipe = [m for m in missing if manifest.entry(m).recipe is None]
    if without_recipe:
        raise ManifestError(f"no checkpoint and no recipe for {without_recipe}: check their 'path'")
    for model_id in order:
        if model_id not in missing:
            log(f"  {model_id}: exists, skipped")
    built: list[str] = []
    if not missing:
        return built
    threads = 1 if jobs > 1 else 0
    if jobs <= 1:
        threads = torch.get_num_threads()
        for model_id in missing:
            log(f"  {model_id}: training ...")
            _, seconds = _build_one(manifest, model_id, device, threads)
            log(f"  {model_id}: built in {seconds:.0f} s")
            built.append(model_id)
        return built
    pending = set(missing)
    running = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        while pending or running:
            done_ids = set(built) | {m for m in order if m not in missing}
            ready = [
                m
                for m in missing
                if m in pending and all(d in done_ids for d in dependencies(manifest, m))
            ]
            for model_id in ready[: jobs - len(running)]:
                pending.discard(model_id)
                log(f"  {model_id}: training ...")
                future = pool.submit(_build_one, manifest, model_id, device, 1)
                running[future] = model_id
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                model_id = running.pop(future)
                _, seconds = future.result()  # re-raises a failed build here
                log(f"  {model_id}: built in {seconds:.0f} s")
                built.append(model_id)
    return built
