"""The localisation of one teacher-student comparison: for each bias type, where the teacher's
robustness still lives in its stream and from which student block on it is lost (stitching,
against self-stitch controls), whether each model decodes the label (probes, against shuffled
labels), and how far teacher and student differ against two seeds of the teacher (readout CKA).
Definitions: docs/definitions.md ("Where the robustness is lost")."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from interp import defaults
from interp.errors import NotAnalysable
from interp.inputs import BINARY, EncodedSet, encode_examples, encoding_key, label_index
from interp.io import defined
from interp.localise.knockout import KnockoutStitch, carrying_components
from interp.localise.probing import held_out_splits, probe_curve
from interp.localise.similarity import bootstrap_cka, linear_cka, r_squared
from interp.localise.stitching import (
    PairedSets,
    StitchedRun,
    StitchMaps,
    fit_maps,
    remove_offset,
    run_stitched,
    train_maps,
)
from interp.localise.streams import chunks, run_streams
from interp.models import HookedClassifier
from interp.results.localise import (
    BiasLocalisation,
    Estimate,
    Localisation,
    LocatedLayer,
    ProbeCurves,
)
from interp.seeding import rng_for
from probes.core import Example

N_FIT = 512  # in-distribution training examples the maps are fitted on
N_EVAL = 256  # held-out in-distribution examples, and bias-conflicting (and aligned) per type
MIN_JUMP = 0.25  # rise of the best recovery from one student stream to the next that locates
MIN_RECOVERY = 0.5  # a located stitch recovers at least this share of the lost robustness
BATCH = 64


@dataclass
class LocaliseModels:
    """The models of one comparison's localisation: teacher and KD student, and (for the
    baselines, when the study has them) the teacher's recipe in another seed and the same
    student trained without KD."""

    teacher_id: str
    teacher: HookedClassifier
    student_id: str
    student: HookedClassifier
    seed_teacher_id: str | None = None
    seed_teacher: HookedClassifier | None = None
    nokd_id: str | None = None
    nokd: HookedClassifier | None = None


def same_inputs(a: HookedClassifier, b: HookedClassifier) -> bool:
    """Whether two models read the same token (patch) sequence, so that a stream of one can
    stand in for the other's at every position."""
    if encoding_key(a) != encoding_key(b):
        return False
    if a.cfg.modality == "vision":
        return (a.cfg.patch_size, a.cfg.n_special) == (b.cfg.patch_size, b.cfg.n_special)
    return True


def paired_sets(source: HookedClassifier, target: HookedClassifier, examples) -> PairedSets:
    encoded = encode_examples(source, examples, with_labels=False)
    if same_inputs(source, target):
        return PairedSets(encoded, encoded, all_positions=True)
    return PairedSets(encoded, encode_examples(target, examples, with_labels=False), False)


def correct(model: HookedClassifier, logits: Tensor, examples: Sequence[Example]) -> np.ndarray:
    """Whether each example's prediction is its gold label (a three-way NLI model read in the
    binary scheme for non-entailment examples)."""
    labels = model.cfg.labels
    predicted = [labels[i] for i in logits.argmax(-1).tolist()]
    out = []
    for p, e in zip(predicted, examples, strict=True):
        if e.label in labels:
            out.append(p == e.label)
        elif e.label == BINARY[1]:
            out.append(p != BINARY[0])
        else:
            raise NotAnalysable(f"label {e.label!r} is not one the model has ({labels})")
    return np.array(out)


def _sample(examples: list[Example], n: int, rng: np.random.Generator) -> list[Example]:
    if len(examples) <= n:
        return list(examples)
    return [examples[i] for i in sorted(rng.choice(len(examples), n, replace=False))]


def _interval(samples: np.ndarray) -> tuple[float, float]:
    low, high = np.nanpercentile(samples, [2.5, 97.5], axis=0)
    return low, high


def _matrix(values: np.ndarray) -> list[list[float | None]]:
    return [[round(float(v), 5) if np.isfinite(v) else None for v in row] for row in values]


def _vector(values) -> list[float | None]:
    return [round(float(v), 5) if np.isfinite(v) else None for v in values]


def _cka_matrix(source: Tensor, target: Tensor) -> list[list[float | None]]:
    """Linear CKA of every source stream (rows) with every target stream (columns)."""
    return _matrix(np.array([[linear_cka(x, y) for y in target] for x in source]))


def localise(
    models: LocaliseModels,
    bench,
    bias_suites: dict[str, Sequence[str]],
    key: str,
    n_bootstrap: int = defaults.N_BOOTSTRAP,
    n_fit: int = N_FIT,
    n_eval: int = N_EVAL,
) -> Localisation:
    """Localise where `models.student` loses `models.teacher`'s robustness on each bias type
    (`bias_suites`: bias type -> suites of `bench` holding its aligned and conflicting
    examples). `key` names the comparison in the random draws."""
    teacher, student = models.teacher, models.student
    fit = _sample(list(bench.train.examples), n_fit, rng_for("localise-fit", key))
    held = _sample(list(bench.suites["in_distribution"].examples), n_eval, rng_for("id", key))
    half = slice(0, len(held) // 2)  # the logit offset is fitted here, accuracy on the rest
    bias_examples = {}
    for bias, suites in bias_suites.items():
        pool = [e for s in suites for e in bench.suites[s].examples if e.bias_aligned is not None]
        rng = rng_for("localise-bias", key, bias)
        conflicting = _sample([e for e in pool if not e.bias_aligned], n_eval, rng)
        aligned = _sample([e for e in pool if e.bias_aligned], n_eval, rng)
        if conflicting:
            bias_examples[bias] = conflicting + aligned
    if not bias_examples:
        raise NotAnalysable("no bias-conflicting examples to localise on")
    everything = [e for examples in bias_examples.values() for e in examples]

    pairs = [
        (a, b) for a in range(teacher.cfg.n_layers + 1) for b in range(student.cfg.n_layers + 1)
    ]
    # ridge maps, then fine-tuned with the task's loss; the self-stitch controls the same way
    rng = rng_for("localise-maps", key)
    seed = int(rng_for("localise-train", key).integers(2**31))
    fit_sets = paired_sets(teacher, student, fit)
    maps = fit_maps(teacher, student, fit_sets, pairs, rng, BATCH)
    ridge = copy.deepcopy(maps)
    train_maps(teacher, student, fit_sets, maps, label_index(fit, student.cfg.labels), BATCH, seed)
    own = {}
    for role, model in (("teacher", teacher), ("student", student)):
        same = [(a, a) for a in range(model.cfg.n_layers + 1)]
        own_sets = paired_sets(model, model, fit)
        own[role] = fit_maps(model, model, own_sets, same, rng, BATCH)
        gold = label_index(fit, model.cfg.labels)
        train_maps(model, model, own_sets, own[role], gold, BATCH, seed)

    id_sets = paired_sets(teacher, student, held)
    id_run = run_stitched(teacher, student, id_sets, maps, BATCH, keep_tokens=True)
    bias_sets = paired_sets(teacher, student, everything)
    bias_run = run_stitched(teacher, student, bias_sets, maps, BATCH)
    controls = {
        role: (
            run_stitched(model, model, paired_sets(model, model, held), own[role], BATCH),
            run_stitched(model, model, paired_sets(model, model, everything), own[role], BATCH),
        )
        for role, model in (("teacher", teacher), ("student", student))
    }

    out = Localisation(
        teacher=models.teacher_id,
        student=models.student_id,
        seed_teacher=models.seed_teacher_id,
        nokd_student=models.nokd_id,
        positions="all" if id_sets.all_positions else "readout",
        n_fit=len(fit),
        n_in_distribution=len(held),
        cka_readout=_cka_matrix(id_run.source_readout, id_run.target_readout),
        cka_all_positions=None
        if id_run.source_tokens is None
        else _cka_matrix(id_run.source_tokens, id_run.target_tokens),
        map_r2=_matrix(
            np.array(
                [
                    [
                        r_squared(ridge.readout[(a, b)](source), target)
                        for b, target in enumerate(id_run.target_readout)
                    ]
                    for a, source in enumerate(id_run.source_readout)
                ]
            )
        ),
        bias={},
    )

    # Logits of every stitch with its in-distribution offset removed (rows: held, then bias).
    def calibrated(run_id, run_bias, pair) -> Tensor:
        reference = torch.cat([run_id.target_logits, run_bias.target_logits])
        both = torch.cat([run_id.stitched[pair], run_bias.stitched[pair]])
        return remove_offset(reference, both, half)

    stitched = {pair: calibrated(id_run, bias_run, pair) for pair in pairs}
    self_stitched = {
        role: [calibrated(*controls[role], (a, a)) for a in range(model.cfg.n_layers + 1)]
        for role, model in (("teacher", teacher), ("student", student))
    }

    shared = _Shared(models, maps, held, half, bias_run, stitched, self_stitched, key, n_bootstrap)
    shared.extra = _baseline_readouts(models, everything)
    start = 0
    for bias, examples in bias_examples.items():
        rows = slice(start, start + len(examples))
        start += len(examples)
        out.bias[bias] = _bias_type(shared, bias, examples, rows)
    return out


@dataclass
class _Shared:
    """What every bias type of one localisation reads: the models and maps, the held-out
    in-distribution examples (the logit offset is fitted on their first half), the stitched
    run on the bias examples and its offset-removed logits (rows: held, then bias examples),
    the seed baselines' readouts."""

    models: LocaliseModels
    maps: StitchMaps
    held: list[Example]
    half: slice
    bias_run: StitchedRun
    stitched: dict
    self_stitched: dict
    key: str
    n_bootstrap: int
    extra: dict = field(default_factory=dict)


def _baseline_readouts(models: LocaliseModels, examples) -> dict[str, Tensor]:
    """[stream, n, d] readout rows of the seed teacher and the non-KD student on `examples`."""
    out = {}
    for role, model in (("seed_teacher", models.seed_teacher), ("nokd_student", models.nokd)):
        if model is None:
            continue
        encoded: EncodedSet = encode_examples(model, examples, with_labels=False)
        out[role] = torch.cat(
            [run_streams(model, encoded, index).readout for index in chunks(len(encoded), BATCH)],
            1,
        )
    return out


def _bias_type(shared: _Shared, bias: str, examples: list[Example], rows: slice):
    models, key, n_bootstrap = shared.models, shared.key, shared.n_bootstrap
    bias_run, stitched, self_stitched = shared.bias_run, shared.stitched, shared.self_stitched
    held, half, n_held = shared.held, shared.half, len(shared.held)
    teacher, student = models.teacher, models.student
    n_t, n_s = teacher.cfg.n_layers + 1, student.cfg.n_layers + 1
    conflicting = np.array([not e.bias_aligned for e in examples])
    in_bias = slice(n_held + rows.start, n_held + rows.stop)  # rows of the calibrated logits
    rest = slice(half.stop, n_held)

    def right(model, logits):
        return correct(model, logits, examples)

    teacher_right = right(teacher, bias_run.source_logits[rows])
    student_right = right(student, bias_run.target_logits[rows])
    stitch_right = np.stack([right(student, stitched[p][in_bias]) for p in stitched])
    controls = {
        role: np.stack([right(model, logits[in_bias]) for logits in self_stitched[role]])
        for role, model in (("teacher", teacher), ("student", student))
    }

    # resamples of the bias-conflicting rows, shared by every measure
    index = np.flatnonzero(conflicting)
    draws = rng_for("localise-bootstrap", key, bias).integers(
        0, len(index), (n_bootstrap, len(index))
    )
    resampled = index[draws]
    m_t, m_s = teacher_right[index].mean(), student_right[index].mean()
    diff_boot = teacher_right[resampled].mean(1) - student_right[resampled].mean(1)
    low, high = _interval(diff_boot)
    difference = Estimate(value=float(m_t - m_s), low=float(low), high=float(high))
    significant = low > 0

    stitched_conf = stitch_right[:, index].mean(1).reshape(n_t, n_s)
    recovery = recovery_low = recovery_high = None
    r_point = np.full((n_t, n_s), np.nan)
    if significant:
        with np.errstate(invalid="ignore", divide="ignore"):
            r_point = (stitched_conf - m_s) / (m_t - m_s)
            boot_t = teacher_right[resampled].mean(1)
            boot_s = student_right[resampled].mean(1)
            boot = (stitch_right[:, resampled].mean(2) - boot_s) / (boot_t - boot_s)
        r_low, r_high = _interval(boot.T)
        recovery = _matrix(r_point)
        recovery_low = _matrix(r_low.reshape(n_t, n_s))
        recovery_high = _matrix(r_high.reshape(n_t, n_s))

    def self_recovery(role):
        conf = controls[role][:, index].mean(1)
        return (conf - m_s) / (m_t - m_s) if significant else np.full(len(conf), np.nan)

    student_control = self_recovery("student")
    teacher_control = self_recovery("teacher")
    located, why = _locate(r_point, recovery_low, recovery_high, student_control, difference)

    # stitched accuracy on aligned and held-out in-distribution examples
    aligned = np.flatnonzero(~conflicting)
    stitched_aligned = stitch_right[:, aligned].mean(1).reshape(n_t, n_s) if len(aligned) else None
    stitched_id = (
        np.stack([correct(student, stitched[p][rest], held[rest]) for p in stitched])
        .mean(1)
        .reshape(n_t, n_s)
    )

    extra = shared.extra
    probes = _probes(models, bias, examples, rows, bias_run, extra, key)
    dissimilarity, beyond = _dissimilarity(models, rows, index, bias_run, extra, key, n_bootstrap)
    carriers = None
    if located is not None:
        conflicting_examples = [examples[i] for i in index]
        carriers = _carriers(shared, located, conflicting_examples, float(m_t), float(m_s), key)
    result = BiasLocalisation(
        n_conflicting=len(index),
        n_aligned=len(aligned),
        teacher_conflicting=float(m_t),
        student_conflicting=float(m_s),
        difference=difference,
        recovery=recovery,
        recovery_low=recovery_low,
        recovery_high=recovery_high,
        stitched_conflicting=_matrix(stitched_conf),
        stitched_aligned=_matrix(stitched_aligned) if stitched_aligned is not None else [],
        stitched_in_distribution=_matrix(stitched_id),
        student_self_control=_vector(student_control),
        teacher_self_control=_vector(teacher_control),
        located=located,
        not_located=why,
        carriers=carriers,
        probes=probes,
        readout_dissimilarity=dissimilarity,
        beyond_seed=beyond,
        verdict="",
    )
    result.verdict = verdict_sentence(bias, result, n_t, n_s)
    return result


def _carriers(shared: _Shared, located, conflicting, m_t: float, m_s: float, key: str):
    """The teacher components that carry the located stitch's recovery (interp.localise
    .knockout), on the calibration half of the held-out examples and the conflicting ones."""
    teacher, student = shared.models.teacher, shared.models.student
    calibration = shared.held[shared.half]
    stitch = KnockoutStitch(
        teacher=teacher,
        student=student,
        maps=shared.maps,
        pair=(located.teacher_stream, located.student_stream),
        sets=paired_sets(teacher, student, calibration + conflicting),
        n_calibration=len(calibration),
        right=lambda logits: correct(student, logits, conflicting),
        teacher_accuracy=m_t,
        student_accuracy=m_s,
        batch_size=BATCH,
    )
    reference = encode_examples(teacher, shared.held, with_labels=False).batch
    return carrying_components(stitch, reference, rng_for("localise-knockout", key))


def _locate(r_point, r_low, r_high, student_control, difference):
    """The located stitch (teacher stream, student stream) or why there is none."""
    if r_low is None:
        return None, (
            f"the teacher is not more robust than its student here (difference "
            f"{difference.value:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}]), so "
            "there is no lost robustness to locate"
        )
    low, high = (
        np.array([[np.nan if v is None else v for v in row] for row in m]) for m in (r_low, r_high)
    )
    best = np.nanmax(r_point, axis=0)  # per student stream, over teacher streams
    # rises are measured between recoveries clipped to [0, 1]: a stitch that does worse than
    # the student (R < 0) recovers nothing, and nothing more than all
    clipped = np.clip(best, 0.0, 1.0)

    def real(a, b):  # most of the loss, its interval above the control and above zero
        control = student_control[b] if np.isfinite(student_control[b]) else 0.0
        return r_point[a, b] >= MIN_RECOVERY and low[a, b] > max(control, 0.0)

    if r_point.shape[1] > 1:  # the student stream where the best recovery rises most
        b = 1 + int(np.argmax(np.diff(clipped)))
        a = int(np.nanargmax(r_point[:, b]))
        if clipped[b] - clipped[b - 1] >= MIN_JUMP and real(a, b):
            return _located(a, b, r_point, low, high, best), None
    a = int(np.nanargmax(r_point[:, 0]))
    if real(a, 0):
        return _located(a, 0, r_point, low, high, best), None
    b = int(np.nanargmax(best))
    a = int(np.nanargmax(r_point[:, b]))
    return None, (
        f"no stitch recovers at least {MIN_RECOVERY:g} of it beyond its control with a rise of "
        f"at least {MIN_JUMP:g} from one student stream to the next (best: teacher stream {a} "
        f"into student stream {b}, R = {r_point[a, b]:.2f} [{low[a, b]:.2f}, {high[a, b]:.2f}])"
    )


def _located(a, b, r_point, low, high, best) -> LocatedLayer:
    column = np.clip(r_point[:, b], 0.0, 1.0)  # R along the teacher's depth, into stream b
    rise = int(np.argmax(np.diff(column))) if len(column) > 1 else None
    teacher_block = rise if rise is not None and column[rise + 1] > column[rise] else None
    return LocatedLayer(
        teacher_block=teacher_block,
        recovery_before_teacher_block=None
        if teacher_block is None
        else float(r_point[teacher_block, b]),
        teacher_stream=a,
        student_stream=b,
        student_block=b - 1 if b > 0 else None,
        recovery=Estimate(value=float(r_point[a, b]), low=float(low[a, b]), high=float(high[a, b])),
        recovery_one_stream_earlier=float(best[b - 1]) if b > 0 else None,
    )


def _groups(examples: Sequence[Example]) -> list[str]:
    """Templates (text) or source digits (images): what a probe must generalise across."""
    return [e.template or str(e.extra.get("digit_index", e.subcase)) or e.id for e in examples]


def _probes(models, bias, examples, rows, bias_run, extra, key) -> ProbeCurves:
    labels = [e.label for e in examples]
    splits = held_out_splits(_groups(examples), rng_for("localise-probe-split", key, bias))
    readouts = {
        "teacher": bias_run.source_readout[:, rows],
        "student": bias_run.target_readout[:, rows],
        **{role: readout[:, rows] for role, readout in extra.items()},
    }
    ids = {
        "teacher": models.teacher_id,
        "student": models.student_id,
        "seed_teacher": models.seed_teacher_id,
        "nokd_student": models.nokd_id,
    }
    accuracy, control = {}, {}
    for role, readout in readouts.items():
        real, shuffled = probe_curve(readout, labels, splits, rng_for("probe", key, bias, role))
        accuracy[role], control[role] = _vector(real), _vector(shuffled)
    return ProbeCurves(
        models={role: ids[role] for role in readouts}, accuracy=accuracy, control=control
    )


def _dissimilarity(models, rows, index, bias_run, extra, key, n_bootstrap):
    """1 - CKA of the last streams' readouts on bias-conflicting rows, with intervals, and
    whether teacher-student exceeds teacher-seed teacher."""
    last = {
        "teacher": bias_run.source_readout[-1, rows][index],
        "student": bias_run.target_readout[-1, rows][index],
        **{role: readout[-1, rows][index] for role, readout in extra.items()},
    }
    out = {}
    for name, (a, b) in {
        "teacher_student": ("teacher", "student"),
        "teacher_seed": ("teacher", "seed_teacher"),
        "student_nokd": ("student", "nokd_student"),
    }.items():
        if a not in last or b not in last:
            continue
        rng = rng_for("localise-cka", key, name)
        boot = 1 - np.array(bootstrap_cka(last[a], last[b], rng, min(n_bootstrap, 200)))
        low, high = _interval(boot)
        out[name] = Estimate(
            value=round(1 - linear_cka(last[a], last[b]), 5),
            low=round(float(low), 5),
            high=round(float(high), 5),
        )
    beyond = None
    if "teacher_seed" in out:
        beyond = bool(out["teacher_student"].low > out["teacher_seed"].high)
    return out, beyond


def _at(values, index):
    value = values[index] if values else None
    return f"{value:.2f}" if defined(value) else "n/a"


def _carriers_text(carriers) -> str:
    if carriers is None or not carriers.units:
        return "no set of teacher components carries it" + (
            f" ({carriers.note})" if carriers is not None else ""
        )
    chance = (
        f"more than {carriers.chance_percentile:.0f}% of random sets of their shape"
        if carriers.beats_chance
        else f"not beyond chance: {carriers.chance_percentile:.0f}% of random sets of their "
        "shape remove less"
    )
    return (
        f"it is carried by the teacher's {', '.join(carriers.units)} (knocking them out "
        f"takes the stitch's R from {carriers.recovery:.2f} to {carriers.recovery_without:.2f}, "
        f"{chance})"
    )


SELECTIVE = 0.1  # probe accuracy above its shuffled-label control that counts as decoding


def _selectivity(probes, role: str) -> list[float]:
    return [
        a - c if defined(a) and defined(c) else float("nan")
        for a, c in zip(probes.accuracy[role], probes.control[role], strict=True)
    ]


def _presence(probes, lost: bool) -> str:
    """Whether the student still holds the label it no longer answers with."""
    student, teacher = _selectivity(probes, "student"), _selectivity(probes, "teacher")
    if not lost or not any(v >= SELECTIVE for v in teacher if np.isfinite(v)):
        return ""
    if np.isfinite(student[-1]) and student[-1] >= SELECTIVE:
        return ": the label is present at the student's last layer, which its answers do not use"
    if not any(v >= SELECTIVE for v in student if np.isfinite(v)):
        return ": the student decodes it at no layer, so it never computes it"
    return ": the student decodes it at an earlier layer and loses it before its last"


def verdict_sentence(bias: str, r: BiasLocalisation, n_t: int, n_s: int) -> str:
    """Where the robustness is lost, in one sentence with its numbers."""
    d = r.difference
    parts = [
        f"{bias}: the student answers {r.student_conflicting:.2f} of bias-conflicting examples "
        f"against its teacher's {r.teacher_conflicting:.2f} (difference {d.value:+.2f} "
        f"[{d.low:+.2f}, {d.high:+.2f}])"
    ]
    if r.located is not None:
        loc = r.located
        where = (
            f"the student's block {loc.student_block} discards it (one stream earlier the best "
            f"stitch recovers {loc.recovery_one_stream_earlier:.2f})"
            if loc.student_block is not None
            else "the student's layers carry it from its embeddings on, so the student lacks "
            "what the teacher's layers compute"
        )
        control = _at(r.student_self_control, loc.student_stream)
        computes = (
            f"; into that stream the recovery rises most across the teacher's block "
            f"{loc.teacher_block} (from R = {loc.recovery_before_teacher_block:.2f}), which "
            "computes what the student lacks"
            if loc.teacher_block is not None
            else ""
        )
        parts.append(
            f"the teacher's stream {loc.teacher_stream} of {n_t - 1}, mapped into the student's "
            f"stream {loc.student_stream} of {n_s - 1}, recovers R = {loc.recovery.value:.2f} "
            f"(at least {loc.recovery.low:.2f}; self-stitch control {control}): {where}"
            f"{computes}"
        )
        parts.append(_carriers_text(r.carriers))
    else:
        parts.append(f"no layer is located: {r.not_located}")
    probes = r.probes
    parts.append(
        f"at the last layer a linear probe decodes the label of held-out templates at "
        f"{_at(probes.accuracy['student'], -1)} in the student (shuffled-label control "
        f"{_at(probes.control['student'], -1)}) and {_at(probes.accuracy['teacher'], -1)} in "
        f"the teacher{_presence(probes, r.recovery is not None)}"
    )
    diss = r.readout_dissimilarity
    ts = diss["teacher_student"]
    text = f"teacher and student readouts differ by {ts.value:.2f} (1 - CKA)"
    if "teacher_seed" in diss:
        seed = diss["teacher_seed"]
        relation = "more than" if r.beyond_seed else "not more than"
        text += (
            f" [{ts.low:.2f}, {ts.high:.2f}], {relation} two seeds of the teacher "
            f"({seed.value:.2f} [{seed.low:.2f}, {seed.high:.2f}])"
        )
    else:
        text += "; no second teacher seed in this study to compare with"
    if "student_nokd" in diss:
        text += (
            f"; the student trained without KD differs from it by {diss['student_nokd'].value:.2f}"
        )
    parts.append(text)
    return "; ".join(parts) + "."
