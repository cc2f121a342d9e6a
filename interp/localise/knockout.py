"""Which teacher components carry the robustness that the located stitch recovers.

Inside the stitch (the teacher's stream L mapped into the student's stream l), each teacher head
and MLP before stream L is mean-ablated in the teacher's run, as circuits are ablated
(`interp.specificity.mean_ablation`, means over in-distribution examples), and R is measured
again. The carrying set is the shortest prefix of the components ranked by the recovery each
removes alone whose joint ablation removes at least half of R; it is set against random sets of
the same shape (`interp.chance.random_circuits`): it carries the robustness beyond chance when
it removes more of R than their 95th percentile (`interp.chance.against_chance`). The result
names what the student lacks on the teacher's side, whether or not the student has a circuit
of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from interp.chance import against_chance, random_circuits
from interp.circuits import patch_hooks
from interp.localise.stitching import PairedSets, StitchMaps, map_into, remove_offset
from interp.localise.streams import Streams, chunks, run_on, run_streams, stream_of
from interp.models import HookedClassifier
from interp.results.localise import Carriers
from interp.specificity import mean_outputs, mean_source
from interp.units import unit_masks, unit_names

HALF = 0.5  # the carrying set removes at least this share of the stitch's recovery
N_RANDOM = 50  # random sets of the carrying set's shape
GROUP = 16  # unit sets evaluated in one forward pass, stacked along the batch


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
    right: Callable[[Tensor], np.ndarray]  # logits of the conflicting rows -> right or not
    teacher_accuracy: float
    student_accuracy: float
    batch_size: int

    def __post_init__(self) -> None:
        self.index = chunks(len(self.sets.source), self.batch_size)
        self.student_streams: list[Streams] = [
            run_streams(self.student, self.sets.target, rows) for rows in self.index
        ]
        self.student_logits = torch.cat([s.logits for s in self.student_streams])

    def recoveries(self, unit_sets: list[list[str]], means: dict[str, Tensor]) -> list[float]:
        """R of the stitch with each set of teacher units mean-ablated (an empty set: the
        stitch itself), `GROUP` sets per forward pass."""
        out = []
        for start in range(0, len(unit_sets), GROUP):
            out += self._recoveries(unit_sets[start : start + GROUP], means)
        return out

    def _recoveries(self, unit_sets: list[list[str]], means: dict[str, Tensor]) -> list[float]:
        teacher, copies = self.teacher, len(unit_sets)
        cfg, (a, b) = teacher.cfg, self.pair
        heads, mlps = unit_masks(cfg.n_layers, cfg.n_heads, unit_sets)
        logits = []
        for rows, target in zip(self.index, self.student_streams, strict=True):
            batch = self.sets.source.rows(rows).to(cfg.device)
            source = mean_source(means, batch.shape[1], cfg.device)
            with teacher.hooks(fwd_hooks=patch_hooks(teacher, source, heads, mlps, len(rows))):
                teacher_stream = stream_of(teacher, batch.repeat(copies), a)
            resid = map_into(
                self.maps,
                self.pair,
                teacher_stream.float().cpu(),
                target.resid[b].repeat(copies, 1, 1),
                target.keep.repeat(copies, 1),
            )
            stitched = run_on(self.student, self.sets.target.rows(rows).repeat(copies), b, resid)
            logits.append(stitched.view(copies, len(rows), -1))
        stitched = torch.cat(logits, 1)  # [copies, examples, labels]
        stitched = remove_offset(self.student_logits, stitched, slice(0, self.n_calibration))
        span = self.teacher_accuracy - self.student_accuracy
        return [
            (float(self.right(copy[self.n_calibration :]).mean()) - self.student_accuracy) / span
            for copy in stitched
        ]


def carrying_components(
    stitch: KnockoutStitch, reference, rng: np.random.Generator, n_random: int = N_RANDOM
) -> Carriers:
    """The teacher components that carry the stitch's recovery (module docstring); means of
    the ablation over the teacher's encoded `reference` (in-distribution) examples."""
    teacher = stitch.teacher
    layers = stitch.pair[0]
    units = unit_names(layers, teacher.cfg.n_heads, "node")
    means = mean_outputs(teacher, reference, stitch.batch_size)
    (full,) = stitch.recoveries([[]], means)
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
    drops = dict(
        zip(units, (full - r for r in stitch.recoveries([[u] for u in units], means)), strict=True)
    )
    ranked = sorted(units, key=lambda u: -drops[u])
    chosen, without = [], full
    for start in range(0, len(ranked), GROUP):  # the shortest prefix that removes half of R
        prefixes = [ranked[: k + 1] for k in range(start, min(start + GROUP, len(ranked)))]
        left = stitch.recoveries(prefixes, means)
        enough = [k for k, r in enumerate(left) if full - r >= HALF * full]
        without = left[enough[0]] if enough else left[-1]
        if enough:
            chosen = prefixes[enough[0]]
            break
    if not chosen:
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
    drawn, n_possible = random_circuits(units, chosen, n_random, rng)
    random_drops = np.array([full - r for r in stitch.recoveries(drawn, means)])
    percentile, _, beats = against_chance(full - without, random_drops, n_possible)
    return Carriers(
        teacher_stream=layers,
        units=chosen,
        recovery=full,
        recovery_without=without,
        single_drops=_rounded(drops),
        random_drops_median=float(np.median(random_drops)),
        chance_percentile=percentile,
        beats_chance=beats,
        note=None,
    )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in sorted(values.items(), key=lambda kv: -kv[1])}
