"""Findings across seeds: how often each component is in a circuit, and how stable circuits are.

A circuit found in one seed is an anecdote. For one teacher/student comparison trained over
several seeds, this module counts, per component, the seeds in which it is in the teacher's
circuit, in the student's circuit (in the student's own names) and teacher-only (in the
teacher's circuit with no student circuit component mapped onto it), and measures the stability
of each model's circuit as the mean Jaccard index over pairs of seeds. Findings name only the
components that hold in a majority of seeds (`robust_threshold`: 2 of 3).

Seeds whose teacher does not separate the minimal pairs (undefined faithfulness) have no
circuit to count; they are listed and left out of the counts.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from interp.io import defined, finite
from interp.results.study import SeedCircuits, SeedConsistency, SuiteResult


def jaccard(a: set[str], b: set[str]) -> float:
    """|a & b| / |a | b|; two empty circuits agree (1.0)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def stability(circuits: Sequence[set[str]]) -> float | None:
    """Mean Jaccard index over every pair of seeds; None with fewer than two seeds, or when
    no seed has a circuit (nothing to agree on)."""
    pairs = list(itertools.combinations(circuits, 2))
    if not pairs or not any(circuits):
        return None
    return sum(jaccard(a, b) for a, b in pairs) / len(pairs)


def robust_threshold(n_seeds: int) -> int:
    """Seeds a component must be found in to count as a finding: two thirds, rounded up."""
    return max(1, math.ceil(2 * n_seeds / 3))


@dataclass(frozen=True)
class SeedDiff:
    """One seed's circuits and their diff, as `seed_consistency` counts them."""

    circuits: SeedCircuits
    student_to_teacher: dict[str, str]  # student circuit unit -> teacher unit
    teacher_only: list[str]  # teacher names, from the circuit diff
    shared: list[str]

    @classmethod
    def of(cls, seed: int | None, part: SuiteResult) -> SeedDiff:
        """The seed's record from a comparison's result on one suite."""
        teacher, student, diff = part.teacher.circuit, part.student.circuit, part.diff
        circuits = SeedCircuits(
            seed=seed,
            teacher_circuit=teacher.nodes,
            student_circuit=student.nodes,
            teacher_faithfulness=finite(teacher.meta.faithfulness),
            student_faithfulness=finite(student.meta.faithfulness),
        )
        return cls(circuits, diff.student_in_teacher_names, diff.teacher_only, diff.shared)


def seed_consistency(group: str, suite: str, records: Sequence[SeedDiff]) -> SeedConsistency:
    """Aggregate the per-seed analyses of one comparison group on one suite."""
    counted = [r for r in records if defined(r.circuits.teacher_faithfulness)]
    skipped = [r.circuits.seed for r in records if not defined(r.circuits.teacher_faithfulness)]
    n = len(counted)
    threshold = robust_threshold(n) if n else 0
    teacher_circuits = [set(r.circuits.teacher_circuit) for r in counted]
    student_circuits = [set(r.circuits.student_circuit) for r in counted]
    teacher = Counter(node for circuit in teacher_circuits for node in circuit)
    student = Counter(node for circuit in student_circuits for node in circuit)
    teacher_only = Counter(node for r in counted for node in set(r.teacher_only))
    shared = Counter(node for r in counted for node in set(r.shared))
    matches: dict[str, Counter] = {}
    for r in counted:
        for node in set(r.circuits.student_circuit):
            matches.setdefault(node, Counter())[r.student_to_teacher.get(node)] += 1

    def ordered(counts: Counter) -> dict[str, int]:
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def robust(counts: Counter) -> list[str]:
        return [node for node, k in ordered(counts).items() if n and k >= threshold]

    return SeedConsistency(
        group=group,
        suite=suite,
        seeds=[r.circuits.seed for r in counted],
        skipped_seeds=skipped,
        n_seeds=n,
        threshold=threshold,
        teacher={
            "counts": ordered(teacher),
            "stability": stability(teacher_circuits),
            "robust": robust(teacher),
        },
        student={
            "counts": ordered(student),
            "stability": stability(student_circuits),
            "robust": robust(student),
            "teacher_match": {node: _top(counter) for node, counter in sorted(matches.items())},
        },
        teacher_only={"counts": ordered(teacher_only), "robust": robust(teacher_only)},
        shared={"counts": ordered(shared), "robust": robust(shared)},
        per_seed=[
            r.circuits.model_copy(
                update={
                    "teacher_circuit": sorted(r.circuits.teacher_circuit),
                    "student_circuit": sorted(r.circuits.student_circuit),
                }
            )
            for r in records
        ],
    )


def _top(counter: Counter) -> str | None:
    """The most frequent value (ties: the first in sorted order)."""
    return min(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
