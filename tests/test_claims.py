"""The two scale claims on hand-made seed rows: each verdict where the data make it, and none
from one seed."""

from interp.claims import (
    SeedRow,
    amplification,
    by_train_size,
    claim_sentence,
    seed_rows,
    similar_scale,
)
from interp.results import Validity

RATIOS = {"g1": 1.0, "g2": 2.0, "g4": 4.0, "g8": 8.0}
SIZE = {"g1": "t1", "g2": "t1", "g4": "t2", "g8": "t2"}


def rows(d_of, c_of, seeds=(0, 1, 2)):
    return [
        SeedRow(g, s, "overlap", SIZE[g], r, d_of(r, s), c_of(SIZE[g], s))
        for g, r in RATIOS.items()
        for s in seeds
    ]


def test_d_falling_with_the_ratio_supports_similar_scale_and_rising_contradicts_it():
    falling = similar_scale(rows(lambda r, s: -0.1 * r + 0.01 * s, lambda t, s: -0.1), "overlap")
    assert falling.statistic == -1.0 and falling.high < 0 and falling.verdict == "supported"
    rising = similar_scale(rows(lambda r, s: 0.1 * r + 0.01 * s, lambda t, s: -0.1), "overlap")
    assert rising.low > 0 and rising.verdict == "contradicted"
    assert "Similar scale (overlap): supported" in claim_sentence([falling])


def test_one_seed_decides_nothing():
    one = similar_scale(rows(lambda r, s: -0.1 * r, lambda t, s: -0.1, seeds=(0,)), "overlap")
    assert one.n_seeds == 1 and one.verdict == "not decided"


def test_amplification_needs_c_below_zero_at_every_teacher_size():
    below = amplification(
        rows(lambda r, s: 0.0, lambda t, s: -0.2 + 0.01 * s), "overlap", ["t1", "t2"]
    )
    assert [t.teacher for t in below] == ["t1", "t2"] and all(t.high < 0 for t in below)
    assert {t.verdict for t in below} == {"supported"}
    mixed = amplification(
        rows(lambda r, s: 0.0, lambda t, s: (-0.2 if t == "t1" else 0.2) + 0.01 * s),
        "overlap",
        ["t1", "t2"],
    )
    assert {t.verdict for t in mixed} == {"contradicted"}  # above 0 at the largest teacher
    assert "teacher t2: C = +0.210" in claim_sentence(mixed)


def test_seed_rows_read_d_and_c_from_validity():
    validity = [
        Validity(model=model, in_distribution=0.9, overlap_conflicting=value)
        for model, value in (("t-s0", 0.9), ("k-s0", 0.5), ("b-s0", 0.7))
    ]
    comparison = {
        "group": "g",
        "seed": 0,
        "teacher_id": "t-s0",
        "student_id": "k-s0",
        "baseline_id": "b-s0",
        "teacher": "t1",
        "parameter_ratio": 3.0,
    }
    (row,) = seed_rows(validity, [comparison], ["overlap", "negation"])
    assert abs(row.d - (-0.4)) < 1e-12 and abs(row.c - (-0.2)) < 1e-12


def test_fewer_than_three_comparisons_decide_nothing_and_say_why():
    two = [r for r in rows(lambda r, s: -0.1 * r, lambda t, s: -0.1) if r.group in ("g1", "g2")]
    test = similar_scale(two, "overlap")
    assert test.statistic is None and test.n_seeds == 3 and test.verdict == "not decided"
    assert "no Spearman (fewer than 3 comparisons or 2 ratios)" in claim_sentence([test])


def test_claims_are_tested_pooled_and_within_each_training_set_size():
    """A pooled verdict can come from one regime; the per-size tests show which."""
    small = [
        SeedRow(**{**r.__dict__, "train_size": 500})
        for r in rows(lambda r, s: 0.0, lambda t, s: -0.3 + 0.01 * s)
    ]
    large = [
        SeedRow(**{**r.__dict__, "group": r.group + "L", "train_size": 5000})
        for r in rows(lambda r, s: 0.0, lambda t, s: 0.05 * (s - 1))
    ]
    parts = by_train_size(small + large)
    assert sorted(parts, key=str) == [500, 5000, None] and len(parts[None]) == 24
    assert {t.verdict for t in amplification(parts[500], "overlap", ["t1", "t2"])} == {"supported"}
    assert {t.verdict for t in amplification(parts[5000], "overlap", ["t1", "t2"])} == {
        "not decided"
    }
    tests = amplification(parts[500], "overlap", ["t1", "t2"])
    for t in tests:
        t.train_size = 500
    assert claim_sentence(tests).startswith("Amplification (overlap, 500 training examples)")
    assert list(by_train_size(small)) == [None]  # one size: pooled only
