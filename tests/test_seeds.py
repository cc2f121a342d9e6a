"""Seed aggregation on hand-made circuits: counts, stability, robust findings, skipped seeds."""

import pytest

from interp.results.study import SeedCircuits
from interp.seeds import SeedDiff, jaccard, robust_threshold, seed_consistency, stability


def record(seed, teacher, student, mapping, faithfulness=0.9):
    mapped = {mapping[n] for n in student}
    circuits = SeedCircuits(
        seed=seed,
        teacher_circuit=teacher,
        student_circuit=student,
        teacher_faithfulness=faithfulness,
        student_faithfulness=0.85,
    )
    return SeedDiff(circuits, mapping, sorted(set(teacher) - mapped), sorted(set(teacher) & mapped))


def test_jaccard_and_stability():
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 1.0
    assert stability([{"a"}]) is None
    assert stability([set(), set(), set()]) is None
    assert stability([set(), {"a"}]) == 0.0
    # pairs: (ab, ab) 1, (ab, ac) 1/3, (ab, ac) 1/3 -> mean 5/9
    assert stability([{"a", "b"}, {"a", "b"}, {"a", "c"}]) == pytest.approx(5 / 9)
    assert [robust_threshold(n) for n in (1, 2, 3, 4, 6)] == [1, 2, 2, 3, 4]


def test_components_count_per_seed_and_findings_need_two_of_three():
    mapping = {"a0.h0": "a0.h1", "a0.h1": "a1.h0", "m0": "m1"}
    records = [
        record(0, ["a0.h1", "a2.h3", "m0"], ["a0.h0"], mapping),
        record(1, ["a0.h1", "a2.h3"], ["a0.h0", "m0"], mapping),
        record(2, ["a0.h1", "m2"], ["a0.h1"], mapping),
    ]
    out = seed_consistency("group", "suite", records)
    assert out.n_seeds == 3 and out.threshold == 2
    assert out.teacher.counts == {"a0.h1": 3, "a2.h3": 2, "m0": 1, "m2": 1}
    assert out.teacher.robust == ["a0.h1", "a2.h3"]
    assert out.student.counts == {"a0.h0": 2, "a0.h1": 1, "m0": 1}
    assert out.student.robust == ["a0.h0"]
    assert out.student.teacher_match["a0.h0"] == "a0.h1"
    # a0.h1 is matched by the student's a0.h0 in seeds 0 and 1 only
    assert out.teacher_only.counts == {"a2.h3": 2, "a0.h1": 1, "m0": 1, "m2": 1}
    assert out.teacher_only.robust == ["a2.h3"]
    assert out.shared.robust == ["a0.h1"]
    teacher_sets = [{"a0.h1", "a2.h3", "m0"}, {"a0.h1", "a2.h3"}, {"a0.h1", "m2"}]
    assert out.teacher.stability == pytest.approx(stability(teacher_sets))
    assert [s.seed for s in out.per_seed] == [0, 1, 2]


def test_seeds_without_a_teacher_behaviour_are_left_out_and_named():
    mapping = {"a0.h0": "a0.h0"}
    records = [
        record(0, ["a0.h0"], ["a0.h0"], mapping),
        record(1, [], [], mapping, faithfulness=None),
        record(2, ["a0.h0"], [], mapping),
    ]
    out = seed_consistency("group", "suite", records)
    assert out.seeds == [0, 2] and out.skipped_seeds == [1]
    assert out.threshold == 2
    assert out.teacher.robust == ["a0.h0"]
    assert out.student.robust == []
    assert out.teacher.stability == 1.0
    assert len(out.per_seed) == 3
