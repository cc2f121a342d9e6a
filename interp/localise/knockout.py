"""Which teacher components carry the robustness that the located stitch recovers.

Inside the stitch (the teacher's stream L mapped into the student's stream l), each teacher head
and MLP before stream L is mean-ablated in the teacher's run, as circuits are ablated
(`interp.specificity.mean_ablation`, means over in-distribution examples), and R is measured
again. The carrying set is the shortest prefix of the components ranked by the recovery each
removes alone whose joint ablation removes at least half of R; it is set against random sets of
the same shape (`interp.chance.random_circuits`): it carries the robustness beyond chance when
it removes more of R than 95% of them. The result names what the student lacks on the
teacher's side, whether or not the student has a circuit of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from interp.chance import CHANCE_PERCENTILE, random_circuits
from interp.localise.stitching import PairedSets, StitchMaps, mapped_stream
from interp.localise.streams import Streams, chunks, run_on, run_streams
from interp.models import HookedClassifier
from interp.results.localise import Carriers
from interp.specificity import mean_ablation, mean_outputs
from interp.units import unit_names

HALF = 0.5  # the carrying set removes at least this share of the stitch's recovery
N_RANDOM = 50  # random sets of the carrying set's shape


@dataclass
class KnockoutStitch:
    """A located stitch, ready to be run again with teacher components ablated: the paired
    examples (calibration rows first, then the bias-conflicting rows), the student's streams
    on them (which no teacher ablation changes), and the accuracies R is measured between."""

    teacher: HookedClassifier
    student: HookedClassifier
    maps: StitchMaps
    pair: tuple[int, int]
    sets: PairedSets
    n_calibration: int
    right: callable  # logits of the conflicting rows -> bool per example
    teacher_accuracy: float
    student_accuracy: float
    batch_size: int

    def __post_init__(self) -> None:
        self.index = chunks(len(self.sets.source), self.batch_size)
        self.student_streams: list[Streams] = [
            run_streams(self.student, self.sets.target, rows) for rows in self.index
        ]
        self.student_logits = torch.cat([s.logits for s in self.student_streams])

    def recovery(self, units: list[str], means: dict[str, Tensor]) -> float:
        """R of the stitch with `units` of the teacher mean-ablated (none: the stitch itself)."""
        logits = []
        for rows, target in zip(self.index, self.student_streams, strict=True):
            batch = self.sets.source.rows(rows)
            if units:
                with mean_ablation(self.teacher, units, means, batch):
                    source = run_streams(self.teacher, self.sets.source, rows)
            else:
                source = run_streams(self.teacher, self.sets.source, rows)
            resid = mapped_stream(self.maps, self.pair, source, target)
            logits.append(run_on(self.student, self.sets.target, rows, self.pair[1], resid))
        stitched = torch.cat(logits)
        calibration = slice(0, self.n_calibration)
        stitched = stitched + (self.student_logits - stitched)[calibration].mean(0)
        accuracy = float(self.right(stitched[self.n_calibration :]).mean())
        return (accuracy - self.student_accuracy) / (self.teacher_accuracy - self.student_accuracy)


def carrying_components(
    stitch: KnockoutStitch, reference, rng: np.random.Generator, n_random: int = N_RANDOM
) -> Carriers:
    """The teacher components that carry the stitch's recovery (module docstring); means of
    the ablation over the teacher's encoded `reference` (in-distribution) examples."""
    teacher = stitch.teacher
    layers = stitch.pair[0]
    units = unit_names(layers, teacher.cfg.n_heads, "node")
    full = stitch.recovery([], {})
    if not units or full <= 0:
        return Carriers(
            teacher_stream=layers,
            units=[],
            recovery=full,
            recovery_without=None,
            single_drops={},
            random_drops_median=None,
            chance_percentile=None,
            beats_chance=None,
            note="the recovering teacher stream is its embeddings: no component before it"
            if not units
            else "the stitch recovers nothing to knock out",
        )
    means = mean_outputs(teacher, reference, stitch.batch_size)
    drops = {unit: full - stitch.recovery([unit], means) for unit in units}
    ranked = sorted(units, key=lambda u: -drops[u])
    chosen, without = [], full
    for unit in ranked:
        chosen.append(unit)
        without = stitch.recovery(chosen, means)
        if full - without >= HALF * full:
            break
    else:
        return Carriers(
            teacher_stream=layers,
            units=[],
            recovery=full,
            recovery_without=without,
            single_drops=_rounded(drops),
            random_drops_median=None,
            chance_percentile=None,
            beats_chance=None,
            note="no ranked set of the teacher's components removes half of the recovery",
        )
    drawn, _ = random_circuits(units, chosen, n_random, rng)
    random_drops = np.array([full - stitch.recovery(list(units_), means) for units_ in drawn])
    own = full - without
    percentile = float(100.0 * np.mean(random_drops < own - 1e-9))
    return Carriers(
        teacher_stream=layers,
        units=chosen,
        recovery=full,
        recovery_without=without,
        single_drops=_rounded(drops),
        random_drops_median=float(np.median(random_drops)),
        chance_percentile=percentile,
        beats_chance=percentile >= CHANCE_PERCENTILE,
        note=None,
    )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in sorted(values.items(), key=lambda kv: -kv[1])}
