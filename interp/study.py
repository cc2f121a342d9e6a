"""The study: build the zoo, evaluate it, analyse each teacher-student comparison, report.

For every selected comparison (the manifest's `pairs:`) and every analysed suite, teacher and
student are each analysed on the suite's minimal pairs (interp.analysis), their components
matched and their circuits compared (interp.diff). Results go to `<out>/<run>/`: results.json
(the same bytes for the same models, seed and settings on CPU), CSV tables, index.html, and
timings.json (wall times, which differ between runs and are kept out of results.json).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from interp import defaults
from interp.analysis import AnalysisSettings, analyse_model
from interp.attention import word_patterns
from interp.checks import check_device, is_folder_name, repeated, writable_folder
from interp.contrast import ContrastPairs, contrast_pairs, teacher_selected_pairs
from interp.controls import manifest_controls
from interp.diff import compare_models, match_components, student_nodes_of
from interp.errors import InterpError, NotAnalysable
from interp.evaluate import evaluate_manifest, table_records
from interp.inputs import encoding_key
from interp.io import atomic_write_json, atomic_write_text, csv_text, write_folder
from interp.localise import LocaliseModels, localise
from interp.manifest import Comparison, Manifest, copy_seed, seeded_id
from interp.models import HookedClassifier, load
from interp.outputs import STUDY_FILES, check_replaceable, output_lock
from interp.report import write_report
from interp.results import ComparisonResult, SeedConsistency, StudyResults, SuiteResult
from interp.results.localise import Localisation
from interp.results.study import (
    GuidanceOutcome,
    GuidedComponent,
    ImageAttention,
    Rendering,
    StudySettings,
    TextAttention,
)
from interp.seeds import SeedDiff, seed_consistency
from interp.train.zoo import ensure_built
from interp.units import base_node, block_hook, parse_node
from probes.tasks import check_suites, get_task


@dataclass
class StudyConfig:
    manifest: str = defaults.MANIFEST
    tags: list[str] = field(default_factory=lambda: ["demo"])
    seeds: list[int] = field(default_factory=lambda: [0])  # each is evaluated and analysed
    suites: list[str] | None = None  # analysed suites; None: each task's default (registry)
    out: str = defaults.OUT
    run: str | None = None
    device: str = defaults.DEVICE
    n_pairs: int = defaults.N_PAIRS
    target: float = defaults.TARGET  # faithfulness a circuit must reach
    # logits; pairs the teacher tells apart (see chosen_minimal_pairs)
    min_separation: float = defaults.MIN_SEPARATION
    ig_steps: int = defaults.IG_STEPS
    attribution: str = defaults.ATTRIBUTION  # node ranking: eap, eap-ig or eap-ig-activations
    bootstrap: int = defaults.N_BOOTSTRAP
    # node, position (interp.units), or auto: the finest within the budget
    units: str = defaults.UNITS
    # with units="auto": seconds one model's analysis may take
    time_budget_s: float = defaults.TIME_BUDGET_S
    # random circuits of the same shape per circuit; 0: none
    chance_samples: int = defaults.CHANCE_SAMPLES
    specificity: bool = True  # ablate each circuit on control examples too
    localise: bool = True  # locate where each student loses its teacher's robustness
    batch_size: int | None = None  # pairs per chunk of analysis; None: from the model size
    build: bool = True
    jobs: int = defaults.JOBS
    executor: str = "local"  # or "ray"
    address: str | None = None  # Ray cluster address
    storage: str = "shared"  # Ray: shared checkpoint folder, or ship files

    force: bool = False  # replace the results of another study in the run folder

    @property
    def analysis(self) -> AnalysisSettings:
        """The settings every model of the study is analysed with."""
        return AnalysisSettings.of(self)

    @property
    def run_name(self) -> str:
        """The run folder's name: `--run`, or one that carries the tags and the seeds
        (`study-demo-s0`, `study-zoo-s0-1-2`), so that studies of other pairs do not meet."""
        if self.run:
            return self.run
        tags = "-".join(self.tags) if self.tags else "all"
        return f"study-{tags}-s" + "-".join(str(seed) for seed in self.seeds)


def executor_options(cfg) -> dict:
    """The build options of a study or sweep configuration, for `build_zoo`."""
    return {
        "jobs": cfg.jobs,
        "device": cfg.device,
        "executor": cfg.executor,
        "address": cfg.address,
        "storage": cfg.storage,
    }


def selected_comparisons(manifest: Manifest, cfg: StudyConfig) -> list[Comparison]:
    """Pairs carrying one of the tags (all pairs without tags), the copy of each study seed
    for seeded pairs, in manifest order."""
    chosen = []
    for comparison in manifest.pairs:
        if cfg.tags and not set(comparison.tags) & set(cfg.tags):
            continue
        if comparison.seed_group is not None and copy_seed(comparison) not in cfg.seeds:
            continue
        chosen.append(comparison)
    return chosen


def comparison_models(
    manifest: Manifest, comparisons: list[Comparison], seeds: list[int]
) -> list[str]:
    """Every model of the pairs (and their controls), in every evaluated seed, in a stable
    order."""
    ids: list[str] = []
    for comparison in comparisons:
        for model_id in (
            comparison.teacher,
            comparison.student,
            comparison.baseline,
            *comparison.controls,
        ):
            if model_id is None:
                continue
            group = manifest.entry(model_id).seed_group
            copies = [seeded_id(group, s) for s in seeds] if group else [model_id]
            ids += [m for m in copies if m not in ids]
    return ids


def _matched_heads(teacher_analysis, correspondence) -> tuple[str, str] | None:
    """The teacher's top circuit head (or top-ranked head) and the student head matched to it
    (or, when none maps there, the student's most similar head)."""
    heads = [base_node(n) for n in teacher_analysis.circuit.nodes if n.startswith("a")]
    ranking = [base_node(n) for n in teacher_analysis.curve.ranking if n.startswith("a")]
    teacher_head = (heads or ranking or [None])[0]
    if teacher_head is None:
        return None
    matches = student_nodes_of(correspondence).get(teacher_head)
    student_head = matches[0] if matches else None
    if student_head is None:
        student_head = max(correspondence.similarity, key=correspondence.similarity.get)
    return teacher_head, student_head


def _patterns(model: HookedClassifier, head: str, batch) -> torch.Tensor:
    """[batch, query, key] attention pattern of one head (`a{layer}.h{index}`)."""
    _, layer, index = parse_node(head)
    name = block_hook(layer, "attn.hook_pattern")
    with torch.no_grad():
        _, cache = model.run_with_cache(batch.to(model.cfg.device), names_filter=[name])
    return cache[name][:, index].cpu()


def common_rows(
    teacher: HookedClassifier, student: HookedClassifier, t_pairs, s_pairs
) -> list[tuple[int, int]] | None:
    """None when both models read the same tokens (their attention is compared on the
    teacher's batch); otherwise the (teacher row, student row) of each minimal pair both kept,
    in the teacher's order, each model reading its own encoding (compared word by word)."""
    if encoding_key(teacher) == encoding_key(student):
        return None
    s_rows = {clean.id: row for row, (clean, _) in enumerate(s_pairs.pairs)}
    both = [(row, s_rows[c.id]) for row, (c, _) in enumerate(t_pairs.pairs) if c.id in s_rows]
    if not both:
        raise NotAnalysable("teacher and student keep no minimal pair in common")
    return both


def _rounded(values) -> list:
    return [_rounded(v) for v in values] if isinstance(values, list) else round(float(values), 5)


def attention_example(
    teacher: HookedClassifier,
    student: HookedClassifier,
    teacher_analysis,
    correspondence,
    pairs: ContrastPairs,
    student_pairs: ContrastPairs | None = None,
    common: list[tuple[int, int]] | None = None,
) -> TextAttention | ImageAttention | None:
    """Patterns of the teacher's top circuit head and its student match on the first pair:
    token by token for text (word by word when the two tokenizers differ); for images, the
    [CLS] row over the patch grid of both renderings of the digit (with the images).
    `common` (`common_rows`) pairs the two models' rows when their tokenizers differ."""
    heads = _matched_heads(teacher_analysis, correspondence)
    if heads is None:
        return None
    teacher_head, student_head = heads
    if teacher.cfg.modality == "vision":
        return _image_attention(teacher, student, teacher_head, student_head, pairs)
    if teacher.tokenizer is None:
        return None
    if student_pairs is not None and common is not None:
        t_row, s_row = common[0]
        return _word_attention(
            teacher, student, teacher_head, student_head, pairs, student_pairs, t_row, s_row
        )
    row = pairs.clean[0:1]
    length = int(row.attention_mask.sum())
    tokens = [teacher.tokenizer.id_to_token(int(i)) for i in row.input_ids[0, :length]]

    def pattern(model: HookedClassifier, head: str) -> list[list[float]]:
        return _rounded(_patterns(model, head, row)[0, :length, :length].tolist())

    clean, _ = pairs.pairs[0]
    return TextAttention(
        kind="text",
        text=f"{clean.premise} / {clean.hypothesis}",
        tokens=tokens,
        teacher_head=teacher_head,
        student_head=student_head,
        teacher_pattern=pattern(teacher, teacher_head),
        student_pattern=pattern(student, student_head),
    )


def _word_attention(
    teacher, student, teacher_head, student_head, t_pairs, s_pairs, t_index, s_index
) -> TextAttention:
    """One pair's patterns pooled to words (rows [CLS], separators, then words), at row
    `t_index` of the teacher's minimal pairs and `s_index` of the student's."""
    t_row = t_pairs.clean[t_index : t_index + 1]
    s_row = s_pairs.clean[s_index : s_index + 1]
    t_words, counts = word_patterns(
        _patterns(teacher, teacher_head, t_row)[:, None], t_row.word_ids
    )
    s_words, _ = word_patterns(_patterns(student, student_head, s_row)[:, None], s_row.word_ids)
    clean = t_pairs.pairs[t_index][0]
    words = f"{clean.premise} {clean.hypothesis}".split()
    labels = ["[CLS]", "[SEP]", *words][: counts.shape[1]]
    return TextAttention(
        kind="text",
        text=f"{clean.premise} / {clean.hypothesis} (word by word: the tokenizers differ)",
        tokens=labels,
        teacher_head=teacher_head,
        student_head=student_head,
        teacher_pattern=_rounded(t_words[0, 0].tolist()),
        student_pattern=_rounded(s_words[0, 0].tolist()),
    )


def _image_attention(teacher, student, teacher_head, student_head, pairs) -> ImageAttention:
    clean, corrupt = pairs.pairs[0]
    renderings = {"clean": (clean, pairs.clean[0:1]), "corrupt": (corrupt, pairs.corrupt[0:1])}

    def cls_grid(model: HookedClassifier, head: str, batch) -> list[list[float]]:
        # [CLS] is position 0 (DeiT's distillation token 1); the patches follow, row-major.
        side = model.cfg.image_size // model.cfg.patch_size
        row = _patterns(model, head, batch)[0, 0, model.cfg.n_special :]
        return _rounded(row.reshape(side, side).tolist())

    return ImageAttention(
        kind="image",
        text=f"digit {clean.label}: {clean.subcase} rendering vs {corrupt.subcase} rendering",
        teacher_head=teacher_head,
        student_head=student_head,
        renderings=[
            Rendering(
                name=f"{role}: {example.subcase}",
                image=_rounded(example.image.transpose(1, 2, 0).tolist()),  # [H, W, RGB]
                teacher_cls=cls_grid(teacher, teacher_head, batch),
                student_cls=cls_grid(student, student_head, batch),
            )
            for role, (example, batch) in renderings.items()
        ],
    )


def chosen_minimal_pairs(
    teacher: HookedClassifier,
    student: HookedClassifier | None,
    suite,
    n_pairs: int,
    min_separation: float,
    device: str,
) -> tuple[ContrastPairs, ContrastPairs | None, dict]:
    """The same minimal pairs for teacher and student, chosen on the teacher
    (`interp.contrast.teacher_selected_pairs`); the selection is described in the returned
    dict."""
    t_pairs, selection = teacher_selected_pairs(teacher, suite, n_pairs, min_separation, device)
    s_pairs = same_minimal_pairs(student, suite, t_pairs, device) if student else None
    return t_pairs, s_pairs, selection


def same_minimal_pairs(model: HookedClassifier, suite, reference: ContrastPairs, device: str):
    """The minimal pairs of `reference` (chosen on the teacher), encoded for another model."""
    ids = {clean.id for clean, _ in reference.pairs}
    return contrast_pairs(model, suite, len(reference.pairs), device, ids)


class AnalysisCache:
    """Models and teacher analyses shared between pairs: a teacher that several students are
    compared with (PoE and its three fixes) is loaded and analysed once per suite."""

    def __init__(self, manifest: Manifest, cfg: StudyConfig):
        self.manifest, self.cfg = manifest, cfg
        self.models: dict[str, HookedClassifier] = {}
        self.teachers: dict[tuple[str, str], tuple] = {}
        self.localise_s = 0.0  # seconds spent localising (part of the analysis time)

    def model(self, model_id: str) -> HookedClassifier:
        if model_id not in self.models:
            self.models[model_id] = load(model_id, manifest=self.manifest, device=self.cfg.device)
        return self.models[model_id]

    def teacher(self, teacher_id: str, suite) -> tuple:
        """(contrast pairs, analysis, pair selection) of a teacher on a suite."""
        key = (teacher_id, suite.name)
        if key not in self.teachers:
            cfg, teacher = self.cfg, self.model(teacher_id)
            t_pairs, _, selection = chosen_minimal_pairs(
                teacher, None, suite, cfg.n_pairs, cfg.min_separation, cfg.device
            )
            analysis = self.analyse(teacher_id, suite.name, t_pairs)
            self.teachers[key] = (t_pairs, analysis, selection)
        return self.teachers[key]

    def analyse(self, model_id: str, suite: str, pairs: ContrastPairs, units: str | None = None):
        """`analyse_model` with the study's settings (or the given units), and the controls of
        its specificity."""
        cfg, model = self.cfg, self.model(model_id)
        controls = None
        if cfg.specificity:
            controls = manifest_controls(self.manifest, model_id, model, suite, cfg.n_pairs)
        settings = cfg.analysis if units is None else replace(cfg.analysis, units=units)
        return analyse_model(model, model_id, suite, pairs, settings, controls)


def analyse_comparison(
    manifest: Manifest,
    comparison: Comparison,
    cfg: StudyConfig,
    bar: tqdm | None = None,
    cache: AnalysisCache | None = None,
) -> ComparisonResult:
    """Teacher and student analyses, and their diff, on each analysed suite of the pair."""
    cache = cache or AnalysisCache(manifest, cfg)
    task = manifest.entry(comparison.teacher).task
    bench = get_task(task).benchmark(manifest.data_for(manifest.entry(comparison.teacher)))
    teacher, student = cache.model(comparison.teacher), cache.model(comparison.student)
    out = ComparisonResult(
        id=comparison.id,
        group=comparison.seed_group or comparison.id,
        seed=copy_seed(comparison),
        teacher=comparison.teacher,
        student=comparison.student,
        baseline=comparison.baseline,
        suites={},
        skipped={},
    )
    for suite_name in analysed_suites(manifest, comparison, cfg):
        if bar is not None:
            bar.set_postfix_str(f"{comparison.id} / {suite_name}")
        try:
            out.suites[suite_name] = _analyse_suite(
                comparison, teacher, student, bench.suites[suite_name], cfg, cache
            )
        except NotAnalysable as err:  # e.g. no usable minimal pair: the study goes on without it
            out.skipped[suite_name] = str(err)
            print(f"  {comparison.id} / {suite_name}: not analysed: {err}")
        if bar is not None:
            bar.update(1)
    if cfg.localise:
        mark = time.perf_counter()
        try:
            out.localisation = localise_comparison(manifest, comparison, cfg, cache, bench)
        except NotAnalysable as err:
            out.not_localised = str(err)
            print(f"  {comparison.id}: not localised: {err}")
        cache.localise_s += time.perf_counter() - mark
    return out


def localise_comparison(
    manifest: Manifest, comparison: Comparison, cfg: StudyConfig, cache: AnalysisCache, bench
) -> Localisation:
    """Where the comparison's KD student loses its teacher's robustness, on each bias type of
    its suites, with the seed baselines the study has: the teacher's recipe in the next seed
    of the study (`--seeds`) and the student trained without KD."""
    task = get_task(manifest.entry(comparison.teacher).task)
    bias_suites = {
        bias: suites
        for bias, suites in task.bias_types.items()
        if set(suites) & set(comparison.suites)
    }
    models = LocaliseModels(
        comparison.teacher,
        cache.model(comparison.teacher),
        comparison.student,
        cache.model(comparison.student),
    )
    group, seed = manifest.entry(comparison.teacher).seed_group, copy_seed(comparison)
    others = [s for s in cfg.seeds if s != seed]
    if group is not None and seed is not None and others:
        after = [s for s in others if s > seed] or others  # the next seed, cyclically
        models.seed_teacher_id = seeded_id(group, after[0])
        models.seed_teacher = cache.model(models.seed_teacher_id)
    if comparison.baseline is not None:
        models.nokd_id = comparison.baseline
        models.nokd = cache.model(comparison.baseline)
    return localise(models, bench, bias_suites, key=comparison.id, n_bootstrap=cfg.bootstrap)


def _analyse_suite(
    comparison: Comparison, teacher, student, suite, cfg: StudyConfig, cache
) -> SuiteResult:
    t_pairs, t_analysis, selection = cache.teacher(comparison.teacher, suite)
    s_pairs = same_minimal_pairs(student, suite, t_pairs, cfg.device)
    # The student in the teacher's units (with units="auto", those chosen for the teacher), so
    # that the two circuits are made of the same kind of unit.
    s_analysis = cache.analyse(comparison.student, suite.name, s_pairs, units=t_analysis.units)
    common = common_rows(teacher, student, t_pairs, s_pairs)
    t_batch, s_batch = t_pairs.clean, None
    if common is not None:
        t_batch = t_pairs.clean[[t for t, _ in common]]
        s_batch = s_pairs.clean[[s for _, s in common]]
    correspondence = match_components(
        teacher, student, t_batch, batch_size=cfg.batch_size, student_batch=s_batch
    )
    diff = compare_models(
        teacher,
        student,
        t_analysis,
        s_analysis,
        t_pairs,
        s_pairs,
        correspondence,
        batch_size=cfg.batch_size,
    )
    return SuiteResult(
        teacher=t_analysis,
        student=s_analysis,
        diff=diff,
        selection=selection,
        guidance=guided_components(student, comparison.teacher, correspondence, s_analysis),
        attention_example=attention_example(
            teacher, student, t_analysis, correspondence, t_pairs, s_pairs, common
        ),
    )


def guided_components(
    student, teacher_id: str, correspondence, s_analysis
) -> GuidanceOutcome | None:
    """For a student trained with circuit guidance from this teacher (its train.json records
    the assignment): per assigned pair, whether the student component is in the student's
    circuit here and whether the correspondence matches it back to its teacher component (for
    a head, the verdict of the pattern matching; for an MLP, true by construction when the
    layers are mapped as assigned)."""
    guidance = student.meta.get("guidance")
    if not guidance or guidance.get("teacher") != teacher_id:
        return None
    circuit = {base_node(n) for n in s_analysis.circuit.nodes}
    rows = [
        GuidedComponent(
            teacher_component=t_node,
            assigned_student_component=s_node,
            matched_to=correspondence.node_map.get(s_node),
            took_the_role=correspondence.node_map.get(s_node) == t_node,
            in_students_circuit=s_node in circuit,
        )
        for t_node, s_node in sorted(guidance["assignment"].items())
    ]
    return GuidanceOutcome(kind=guidance["kind"], suite=guidance["suite"], assigned=rows)


def consistency_across_seeds(analysed: list[ComparisonResult]) -> list[SeedConsistency]:
    """Per comparison (pair group) and suite, the circuits' agreement over the seeds analysed."""
    groups: dict[tuple[str, str], list[SeedDiff]] = {}
    for comparison in analysed:
        for suite, part in comparison.suites.items():
            key = (comparison.group, suite)
            groups.setdefault(key, []).append(SeedDiff.of(comparison.seed, part))
    return [seed_consistency(group, suite, records) for (group, suite), records in groups.items()]


def check_selection(manifest: Manifest, cfg: StudyConfig) -> list[Comparison]:
    """The selected pairs, after checking that the tags, seeds and suites asked for exist
    (before anything is trained or analysed)."""
    tagged = [p for p in manifest.pairs if not cfg.tags or set(p.tags) & set(cfg.tags)]
    if not tagged:
        known = sorted({t for p in manifest.pairs for t in p.tags})
        raise ValueError(
            f"no pair of {cfg.manifest} carries the tags {cfg.tags}; tags of its pairs: "
            f"{', '.join(known) or 'none'}"
        )
    comparisons = selected_comparisons(manifest, cfg)
    if not comparisons:
        seeds = sorted({copy_seed(p) for p in tagged if copy_seed(p) is not None})
        raise ValueError(
            f"the pairs tagged {cfg.tags} have no copy for the seeds {cfg.seeds}; their seeds: "
            f"{', '.join(map(str, seeds))}"
        )
    if cfg.suites is not None:
        for task in sorted({manifest.entry(p.teacher).task for p in comparisons}):
            try:
                check_suites(task, cfg.suites)
            except ValueError as err:
                raise ValueError(f"--suites: {err}") from None
    if not any(analysed_suites(manifest, p, cfg) for p in comparisons):
        listed = sorted({s for p in comparisons for s in p.suites})
        raise ValueError(
            f"none of the selected pairs lists the suites {cfg.suites}; they list "
            f"{', '.join(listed)}"
        )
    return comparisons


def analysed_suites(manifest: Manifest, comparison: Comparison, cfg: StudyConfig) -> list[str]:
    """The pair's suites that the study analyses (`cfg.suites`, or its task's default)."""
    wanted = cfg.suites or get_task(manifest.entry(comparison.teacher).task).analysed
    return [s for s in comparison.suites if s in wanted]


def check_circuit_settings(cfg: StudyConfig) -> None:
    """The circuit settings, checked before anything is built or analysed."""
    cfg.analysis.check()
    for name, value in (("--pairs", cfg.n_pairs), ("--bootstrap", cfg.bootstrap)):
        if not value >= 1:
            raise ValueError(f"{name} {value}: a whole number of at least 1")
    for name, values in (("--seeds", cfg.seeds), ("--suites", cfg.suites or [])):
        repeats = repeated(values)
        if repeats:
            raise ValueError(f"{name} repeats {', '.join(repeats)}")
    if cfg.run is not None and not is_folder_name(cfg.run):
        raise ValueError(f"--run {cfg.run!r}: one folder name inside --out")
    if not is_folder_name(cfg.run_name):
        raise ValueError(
            f"the run name made from the tags, {cfg.run_name!r}, is not one folder name inside "
            "--out; pass --run NAME"
        )


RUN_OPTION = "pass --run NAME to write this study elsewhere"


def check_run_folder(cfg: StudyConfig, comparisons: list[Comparison]) -> None:
    """An InterpError when the run folder holds anything but a study's files (a user's folder
    is never replaced, `--force` or not), or a ValueError when it holds the results of another
    study (other pairs or seeds), unless `cfg.force`; a rerun of the same study replaces its
    own results."""
    folder = Path(cfg.out) / cfg.run_name
    check_replaceable(folder, STUDY_FILES, "a study", RUN_OPTION)
    existing = folder / "results.json"
    if cfg.force or not existing.exists():
        return
    ours = (sorted(p.id for p in comparisons), list(cfg.seeds))
    try:
        held = StudyResults.read(existing)
        theirs = (sorted(p.id for p in held.comparisons), list(held.seeds))
    except InterpError:
        theirs = None
    if theirs != ours:
        what = (
            f"pairs {', '.join(theirs[0])}, seeds {theirs[1]}" if theirs else "unreadable results"
        )
        raise ValueError(
            f"{existing.parent} holds another study ({what}); pass --run NAME to write this "
            "one elsewhere, or --force to replace it"
        )


def run_study(cfg: StudyConfig, progress: bool = True) -> Path:
    """Build (if asked), evaluate, analyse and report; returns the path of index.html."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    check_device(cfg.device)
    check_circuit_settings(cfg)
    writable_folder(cfg.out)
    manifest = Manifest.load(cfg.manifest)
    comparisons = check_selection(manifest, cfg)
    # Held from the check of the run folder to the move of the new one into place: a second
    # study into the same folder is refused while this one runs.
    with output_lock(Path(cfg.out) / cfg.run_name, RUN_OPTION):
        check_run_folder(cfg, comparisons)
        return _run_checked_study(cfg, manifest, comparisons, timings, started, progress)


def _run_checked_study(
    cfg: StudyConfig,
    manifest: Manifest,
    comparisons: list[Comparison],
    timings: dict[str, float],
    started: float,
    progress: bool,
) -> Path:
    """The study after its settings and run folder were checked, under the folder's lock."""
    model_ids = comparison_models(manifest, comparisons, cfg.seeds)
    ensure_built(manifest, model_ids, cfg.build, "`interp train`", **executor_options(cfg))
    timings["build_s"] = time.perf_counter() - started
    weights = {m: manifest.weights_digest(m) for m in model_ids}

    mark = time.perf_counter()
    print(f"evaluating {len(model_ids)} model(s) ...")
    tables = evaluate_manifest(manifest, model_ids, cfg.device, cfg.bootstrap)
    timings["evaluate_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    total = sum(len(analysed_suites(manifest, p, cfg)) for p in comparisons)
    bar = tqdm(total=total, desc="analysing pairs", disable=not progress)
    cache = AnalysisCache(manifest, cfg)
    analysed = [
        analyse_comparison(manifest, comparison, cfg, bar, cache) for comparison in comparisons
    ]
    bar.close()
    timings["analyse_s"] = time.perf_counter() - mark
    timings["localise_s"] = cache.localise_s
    check_unchanged(manifest, weights)

    drafted = StudyResults(
        run=cfg.run_name,
        seeds=cfg.seeds,
        device=cfg.device,
        settings=StudySettings(
            n_pairs=cfg.n_pairs,
            target_faithfulness=cfg.target,
            min_separation=cfg.min_separation,
            ig_steps=cfg.ig_steps,
            attribution=cfg.attribution,
            suites=cfg.suites,
            units=cfg.units,
            time_budget_s=cfg.time_budget_s,
            chance_samples=cfg.chance_samples,
            specificity=cfg.specificity,
            localise=cfg.localise,
        ),
        models=model_ids,
        weights_sha256=weights,
        roles=[(m, manifest.entry(m).role) for m in model_ids],
        accuracy={name: table_records(tables[name]) for name in ("suites", "subcases", "bias_gap")},
        distillability=table_records(tables["distillability"]),
        validity=table_records(tables["validity"]),
        comparisons=analysed,
        seed_consistency=consistency_across_seeds(analysed),
    )
    # The report and the tables read what results.json holds (undefined numbers as None).
    data = drafted.to_data()
    results = StudyResults.model_validate(data)

    def write(folder: Path) -> None:
        atomic_write_json(folder / "results.json", data)
        for name in ("suites", "subcases", "bias_gap", "distillability", "validity"):
            atomic_write_text(folder / f"{name}.csv", csv_text(tables[name]))
        atomic_write_text(folder / "nodes.csv", _node_table(results.comparisons))
        write_report(results, folder)
        timings["total_s"] = time.perf_counter() - started
        atomic_write_json(folder / "timings.json", timings)

    # Written whole into a staging folder and moved into place: a run that fails while writing
    # leaves the previous run's report as it was, never new tables beside an old page.
    out_dir = write_folder(Path(cfg.out) / cfg.run_name, write)
    return out_dir / "index.html"


def check_unchanged(manifest: Manifest, weights: dict[str, str | None]) -> None:
    """An InterpError when a model's weights changed while the study read them (rebuilt by
    another process): its accuracies and circuits would come from different weights."""
    changed = [m for m, digest in weights.items() if manifest.weights_digest(m) != digest]
    if changed:
        raise InterpError(
            f"the weights of {', '.join(changed)} changed during the study (rebuilt meanwhile?); "
            "its evaluation and analysis would mix two models: run the study again"
        )


def _node_table(analysed: list[ComparisonResult]) -> str:
    lines = ["pair,suite,role,model,node,attribution,exact,in_circuit"]
    for comparison in analysed:
        for suite, part in comparison.suites.items():
            for role, a in (("teacher", part.teacher), ("student", part.student)):
                circuit = set(a.circuit.nodes)
                for node, value in a.attribution.items():
                    lines.append(
                        f"{comparison.id},{suite},{role},{a.model},{node},{value:.6g},"
                        f"{a.exact[node]:.6g},{int(node in circuit)}"
                    )
    return "\n".join(lines) + "\n"
