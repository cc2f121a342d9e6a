"""The two scale claims, tested on a sweep's seeds.

(a) Similar scale: KD transfers debiasing when teacher and student are of similar scale, so D
falls (the student loses more) as the teacher/student parameter ratio grows. Tested per bias
type by the Spearman correlation between each comparison's mean D and its ratio; its 95%
interval resamples each comparison's seeds (with replacement, 1,000 times).
(b) Amplification: KD can make the student lean on the shortcut more than the same student
trained without KD, however large the teacher: C < 0 at every teacher size. Tested per bias
type and teacher size by the mean C over that size's comparisons and seeds, with the same
resampling.

Both are tested over every comparison, and again within each training-set size: a pooled
verdict can come from one regime alone (a debiasing method that over-corrects on a small
training set, say), which the per-size verdicts show.

Verdicts: supported when the interval lies on the claim's side of 0 (for (b), at every teacher
size), contradicted when it lies on the other side (for (b), at the largest teacher), and not
decided by these data otherwise, or with fewer than two seeds (nothing to resample).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from interp.results import ClaimTest, Validity
from interp.seeding import rng_for

N_RESAMPLES = 1000


@dataclass
class SeedRow:
    """One comparison in one seed: its factors and its D and C on one bias type."""

    group: str  # the comparison (before seed expansion)
    seed: int
    bias_type: str
    teacher: str  # the teacher's size name
    parameter_ratio: float
    d: float
    c: float | None
    train_size: int | None = None


def seed_rows(validity: list[Validity], comparisons: list[dict], bias_types: list[str]) -> list:
    """SeedRows from per-model validity rows and the sweep's seeded pairs (dicts with group,
    seed, teacher/student/baseline ids, teacher size name and parameter ratio)."""
    by_model = {r.model: r for r in validity}

    def conflicting(model_id: str | None, bias: str):
        row = by_model.get(model_id)
        return None if row is None else row.measure(bias, "conflicting")

    rows = []
    for comparison in comparisons:
        for bias in bias_types:
            teacher = conflicting(comparison["teacher_id"], bias)
            student = conflicting(comparison["student_id"], bias)
            if teacher is None or student is None:
                continue
            baseline = conflicting(comparison.get("baseline_id"), bias)
            rows.append(
                SeedRow(
                    group=comparison["group"],
                    seed=comparison["seed"],
                    bias_type=bias,
                    teacher=comparison["teacher"],
                    parameter_ratio=comparison["parameter_ratio"],
                    d=student - teacher,
                    c=None if baseline is None else student - baseline,
                    train_size=comparison.get("train_size"),
                )
            )
    return rows


def _resampled_means(values: dict[str, list[float]], rng) -> list[np.ndarray]:
    """Per resample, each group's mean over its seeds drawn with replacement."""
    groups = sorted(values)
    draws = []
    for _ in range(N_RESAMPLES):
        draws.append(
            np.array([np.mean(rng.choice(values[g], size=len(values[g]))) for g in groups])
        )
    return draws


def _verdict(low, high, n_seeds: int, side: str) -> str:
    if n_seeds < 2 or low is None or not np.isfinite(low) or not np.isfinite(high):
        return "not decided"
    if (side == "negative" and high < 0) or (side == "positive" and low > 0):
        return "supported"
    if (side == "negative" and low > 0) or (side == "positive" and high < 0):
        return "contradicted"
    return "not decided"


def similar_scale(rows: list[SeedRow], bias_type: str) -> ClaimTest:
    """Claim (a) on one bias type (module docstring)."""
    part = [r for r in rows if r.bias_type == bias_type]
    d = {}
    ratio = {}
    for r in part:
        d.setdefault(r.group, []).append(r.d)
        ratio[r.group] = r.parameter_ratio
    groups = sorted(d)
    n_seeds = min((len(v) for v in d.values()), default=0)
    if len(groups) < 3 or len(set(ratio.values())) < 2:
        return ClaimTest(
            claim="similar scale",
            bias_type=bias_type,
            teacher=None,
            statistic=None,
            low=None,
            high=None,
            n_seeds=n_seeds,
            verdict="not decided",
        )
    x = [ratio[g] for g in groups]
    statistic = float(spearmanr(x, [np.mean(d[g]) for g in groups]).statistic)
    rng = rng_for("claim", "similar scale", bias_type)
    samples = [spearmanr(x, means).statistic for means in _resampled_means(d, rng)]
    samples = np.array([s for s in samples if np.isfinite(s)])
    low, high = (
        (float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5)))
        if len(samples) > N_RESAMPLES / 2 and n_seeds >= 2
        else (None, None)  # one seed: resampling it gives no interval
    )
    verdict = _verdict(low, high, n_seeds, "negative")
    return ClaimTest(
        claim="similar scale",
        bias_type=bias_type,
        teacher=None,
        statistic=statistic,
        low=low,
        high=high,
        n_seeds=n_seeds,
        verdict=verdict,
    )


def amplification(rows: list[SeedRow], bias_type: str, sizes: list[str]) -> list[ClaimTest]:
    """Claim (b) on one bias type, per teacher size in `sizes` order (smallest first), the
    last test carrying the claim's verdict over all sizes."""
    tests = []
    for size in sizes:
        c = {}
        for r in rows:
            if r.bias_type == bias_type and r.teacher == size and r.c is not None:
                c.setdefault(r.group, []).append(r.c)
        n_seeds = min((len(v) for v in c.values()), default=0)
        if not c:
            tests.append(
                ClaimTest(
                    claim="amplification",
                    bias_type=bias_type,
                    teacher=size,
                    statistic=None,
                    low=None,
                    high=None,
                    n_seeds=0,
                    verdict="",
                )
            )
            continue
        statistic = float(np.mean([np.mean(v) for v in c.values()]))
        rng = rng_for("claim", "amplification", bias_type, size)
        means = np.array([m.mean() for m in _resampled_means(c, rng)])
        low, high = float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
        if n_seeds < 2:  # one seed: resampling it gives no interval
            low = high = None
        tests.append(
            ClaimTest(
                claim="amplification",
                bias_type=bias_type,
                teacher=size,
                statistic=statistic,
                low=low,
                high=high,
                n_seeds=n_seeds,
                verdict="",
            )
        )
    below = [_verdict(t.low, t.high, t.n_seeds, "negative") for t in tests]
    if tests and all(v == "supported" for v in below):
        overall = "supported"
    elif tests and below[-1] == "contradicted":
        overall = "contradicted"
    else:
        overall = "not decided"
    for test in tests:
        test.verdict = overall
    return tests


def by_train_size(rows: list[SeedRow]) -> dict[int | None, list[SeedRow]]:
    """The rows pooled (key None) and, where there are several sizes, per training-set size."""
    sizes = sorted({r.train_size for r in rows if r.train_size is not None})
    parts: dict[int | None, list[SeedRow]] = {None: rows}
    if len(sizes) > 1:
        parts.update({size: [r for r in rows if r.train_size == size] for size in sizes})
    return parts


def claim_sentence(tests: list[ClaimTest]) -> str:
    """One sentence stating a claim's verdict on one bias type with its figures."""
    first = tests[0]
    where = f", {first.train_size:,} training examples" if first.train_size is not None else ""
    if first.claim == "similar scale":
        figure = (
            f"Spearman of D with the teacher/student parameter ratio {first.statistic:+.2f} "
            f"[{first.low:+.2f}, {first.high:+.2f}]"
            if first.low is not None
            else (
                f"Spearman of D with the ratio {first.statistic:+.2f}, no interval"
                if first.statistic is not None
                else "no Spearman (fewer than 3 comparisons or 2 ratios)"
            )
        )
        return (
            f"Similar scale ({first.bias_type}{where}): {first.verdict}. {figure}, over "
            f"{first.n_seeds} seed(s); the claim expects it below 0."
        )
    sizes = "; ".join(
        f"teacher {t.teacher}: C = {t.statistic:+.3f}"
        + (f" [{t.low:+.3f}, {t.high:+.3f}]" if t.low is not None else " (no interval)")
        for t in tests
        if t.statistic is not None
    )
    return (
        f"Amplification ({first.bias_type}{where}): {first.verdict}. "
        f"{sizes or 'no C measured'}, over "
        f"{min(t.n_seeds for t in tests)} seed(s); the claim expects C below 0 at every "
        "teacher size."
    )
