"""Build the manifest's recipe entries in dependency order, skipping those that exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from interp.checks import writable_folder
from interp.errors import ManifestError, TrainingError
from interp.manifest import Manifest, copy_seed
from interp.train.executor import (
    BuildReport,
    InlineBackend,
    ProcessBackend,
    RayBackend,
    run_graph,
)
from interp.train.outdated import dependencies, outdated, refuse_outdated, set_aside
from interp.train.recipes import check_recipe


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
    """Entry ids named by `only` (a seeded entry's name meaning its copies), or carrying one of
    `tags`, or all entries but the sweeps'; with `seed`, only unseeded entries and the copies of
    that seed. Tags or a seed that select nothing are an error that lists what there is."""
    if only:  # a seeded entry's name stands for its copies (of `seed` only, if given)
        ids = []
        for model_id in only:
            copies = manifest.seed_copies(model_id, seed)
            if manifest.seed_copies(model_id) and not copies:
                raise ManifestError(f"'{model_id}' has no copy for seed {seed}")
            ids += copies or [manifest.entry(model_id).id]  # clear error for an unknown id
        return list(dict.fromkeys(ids))
    sweeps = {sweep.id for sweep in manifest.sweeps}
    if tags:
        chosen = [m for m in manifest.models if set(m.tags) & set(tags)]
    else:  # everything but the sweeps, which `interp sweep` (or their tag) builds
        chosen = [m for m in manifest.models if not set(m.tags) & sweeps]
    if tags and not chosen:
        known = sorted({t for m in manifest.models for t in m.tags})
        raise ManifestError(
            f"no manifest entry carries the tags {list(tags)}; tags: {', '.join(known) or 'none'}"
        )
    if seed is not None:
        seeds = {copy_seed(m) for m in chosen if m.seed_group is not None}
        if seeds and seed not in seeds:
            raise ManifestError(
                f"the selected entries have no copy for seed {seed}; their seeds: "
                f"{', '.join(map(str, sorted(seeds)))}"
            )
        chosen = [m for m in chosen if m.seed_group is None or copy_seed(m) == seed]
    return [m.id for m in chosen]


class BuildFailed(TrainingError):
    """Some entries could not be built; the others were. Carries the BuildReport."""

    def __init__(self, report: BuildReport):
        self.report = report
        parts = [
            f"{len(report.failed)} model(s) failed: "
            + "; ".join(f"{m} ({e})" for m, e in report.failed.items())
        ]
        if report.blocked:
            parts.append(
                f"{len(report.blocked)} not built for want of them: " + ", ".join(report.blocked)
            )
        parts.append(f"{len(report.built)} built; run the command again to retry")
        super().__init__("; ".join(parts))


def build_zoo(
    manifest: Manifest | str | Path,
    only: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    seed: int | None = None,
    jobs: int = 1,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    executor: str = "local",
    address: str | None = None,
    storage: str = "shared",
    rebuild_outdated: bool = False,
) -> BuildReport:
    """Build every missing recipe entry among the selection and its dependencies.

    A built checkpoint that no longer matches the manifest (`interp.train.outdated`) is an
    error naming it, or with `rebuild_outdated` is moved to <folder>.outdated and rebuilt.

    `executor="local"` trains inline (`jobs` 1) or in `jobs` worker processes; `"ray"` on a
    Ray cluster at `address` or a local Ray instance. Each task uses the manifest's
    `train_threads` torch threads, so the weights do not depend on `jobs` or the executor.
    Raises BuildFailed (after building everything that does not depend on a failure) when an
    entry fails twice.
    """
    if not isinstance(manifest, Manifest):
        manifest = Manifest.load(manifest)
    order = build_order(manifest, select(manifest, only, tags, seed))
    if rebuild_outdated:
        stale = outdated(manifest, order)
        for model_id, folder in zip(stale, set_aside(manifest, list(stale))):
            log(f"  {model_id}: outdated ({', '.join(stale[model_id])}); moved to {folder}")
    else:
        refuse_outdated(manifest, order)
    missing = [m for m in order if not manifest.exists(m)]
    without_recipe = [m for m in missing if manifest.entry(m).recipe is None]
    if without_recipe:
        raise ManifestError(f"no checkpoint and no recipe for {without_recipe}: check their 'path'")
    for model_id in missing:  # every recipe is checked before anything trains
        check_recipe(manifest.entry(model_id))
    for model_id in order:
        if model_id not in missing:
            log(f"  {model_id}: exists, skipped")
    if not missing:
        return BuildReport()
    for folder in sorted({manifest.location(m).parent for m in missing}):
        writable_folder(folder, "checkpoint_dir")  # before anything trains, not after
    log(f"building {len(missing)} model(s) ...")
    threads = manifest.train_threads

    def needs(model_id: str) -> list[str]:
        return dependencies(manifest, model_id)

    if executor == "ray":
        backend = RayBackend(manifest, device, threads, jobs, address, storage, needs)
    elif executor != "local":
        raise ValueError(f"unknown executor '{executor}': local or ray")
    elif jobs <= 1:
        backend = InlineBackend(manifest, device, threads)
    else:
        backend = ProcessBackend(manifest, device, threads, jobs)
    report = run_graph(missing, needs, backend, log=log)
    if not report.ok:
        raise BuildFailed(report)
    return report


def ensure_built(
    manifest: Manifest,
    model_ids: Sequence[str],
    build: bool,
    what: str,
    log: Callable[[str], None] = print,
    **executor,
) -> None:
    """Build the missing ones among `model_ids` (when `build`; `executor`: the build_zoo
    options jobs, device, executor, address, storage), then fail clearly if any is missing.
    Outdated checkpoints (and those built from them) are an error naming them."""
    refuse_outdated(manifest, build_order(manifest, model_ids))
    missing = [m for m in model_ids if not manifest.exists(m)]
    if missing and build:
        log(f"{len(missing)} of {len(model_ids)} model(s) missing")
        build_zoo(manifest, only=missing, log=log, **executor)
        missing = [m for m in model_ids if not manifest.exists(m)]
    if missing:
        raise ValueError(
            f"{len(missing)} model(s) not built, e.g. {missing[0]}; {what} builds them "
            "(or leave out --no-build / --report)"
        )
