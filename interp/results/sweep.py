"""A sweep's results.json (`interp sweep`): distillability over its grid of factors, validity,
and the paper's scale claims tested over seeds."""

from __future__ import annotations

from typing import Any

from interp.results.analysis import Number
from interp.results.record import Record, ResultsFile
from interp.results.study import Distillability, Validity


class SweepDistillability(Distillability):
    """A comparison group's distillability with the sweep factors that made it."""

    method: str
    """The debiasing method of teacher and baseline student."""
    teacher: str
    """The teacher size's name in the grid."""
    student: str
    """The student size's name."""
    train_size: int
    """Training examples."""
    teacher_params: int
    """Teacher parameters."""
    student_params: int
    """Student parameters."""
    parameter_ratio: float
    """Teacher parameters / student parameters."""


class ClaimTest(Record):
    """One test of a claim over seeds (`interp.claims`)."""

    claim: str
    """`similar scale` or `amplification`."""
    bias_type: str
    """The shortcut tested."""
    teacher: str | None
    """The teacher size, for amplification."""
    statistic: Number
    """Spearman(D, parameter ratio), or the mean C."""
    low: Number
    """95% interval over resampled seeds."""
    high: Number
    """Upper end of that interval."""
    n_seeds: int
    """Seeds per comparison (the fewest)."""
    verdict: str
    """supported, contradicted or not decided."""
    train_size: int | None = None
    """The training-set size tested; None: every size pooled."""


class Claim(Record):
    """A claim's tests and the sentence that reports them."""

    tests: list[ClaimTest]
    """Its tests (for amplification, one per teacher size; the last carries the verdict)."""
    sentence: str
    """The verdict in words."""


class SweepResults(ResultsFile):
    """The whole of a sweep's results.json."""

    file_kind = "sweep's results.json"

    sweep: dict[str, Any]
    """The sweep's manifest entry as validated (docs/manifest.md)."""
    models: list[str]
    """Every model of the sweep."""
    distillability: list[SweepDistillability]
    """D and C per comparison group and bias type, with its factors."""
    validity: list[Validity]
    """Per model: in-distribution accuracy and accuracy per bias type."""
    claims: list[Claim]
    """The claims tested, pooled and per training-set size."""
    build_seconds: float
    """Seconds spent building models."""
    total_seconds: float
    """Seconds the sweep took."""
