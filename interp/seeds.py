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

from interp.io import defined


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


def seed_consistency(records: Sequence[dict]) -> dict:
    """Aggregate the per-seed analyses of one comparison on one suite.

    Each record: `seed`, `teacher_circuit` and `student_circuit` (node lists, each in its own
    model's names), `teacher_faithfulness`, `student_faithfulness` (None when undefined),
    `student_to_teacher` (student node -> teacher node), `teacher_only` and `shared` (teacher
    names, from the circuit diff).
    """
    counted = [r for r in records if defined(r["teacher_faithfulness"])]
    skipped = [r["seed"] for r in records if not defined(r["teacher_faithfulness"])]
    n = len(counted)
    threshold = robust_threshold(n) if n else 0
    teacher = Counter(node for r in counted for node in set(r["teacher_circuit"]))
    student = Counter(node for r in counted for node in set(r["student_circuit"]))
    teacher_only = Counter(node for r in counted for node in set(r["teacher_only"]))
    shared = Counter(node for r in counted for node in set(r["shared"]))
    matches: dict[str, Counter] = {}
    for r in counted:
        for node in set(r["student_circuit"]):
            matches.setdefault(node, Counter())[r["student_to_teacher"].get(node)] += 1

    def ordered(counts: Counter) -> dict[str, int]:
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def robust(counts: Counter) -> list[str]:
        return [node for node, k in ordered(counts).items() if n and k >= threshold]

    return {
        "seeds": [r["seed"] for r in counted],
        "skipped_seeds": skipped,
        "n_seeds": n,
        "threshold": threshold,
        "teacher": {
            "counts": ordered(teacher),
            "stability": stability([set(r["teacher_circuit"]) for r in counted]),
            "robust": robust(teacher),
        },
        "student": {
            "counts": ordered(student),
            "stability": stability([set(r["student_circuit"]) for r in counted]),
            "robust": robust(student),
            "teacher_match": {node: _top(counter) for node, counter in sorted(matches.items())},
        },
        "teacher_only": {"counts": ordered(teacher_only), "robust": robust(teacher_only)},
        "shared": {"counts": ordered(shared), "robust": robust(shared)},
        "per_seed": [
            {
                "seed": r["seed"],
                "teacher_circuit": sorted(r["teacher_circuit"]),
                "student_circuit": sorted(r["student_circuit"]),
                "teacher_faithfulness": r["teacher_faithfulness"],
                "student_faithfulness": r["student_faithfulness"],
            }
            for r in records
        ],
    }


def _top(counter: Counter) -> str | None:
    """The most frequent value (ties: the first in sorted order)."""
    return min(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
