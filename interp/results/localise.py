"""What the localisation of one teacher-student comparison produces (`interp.localise`): layer
similarity, stitching recovery over layer pairs with its controls, probe curves, seed
baselines, and one verdict per bias type."""

from __future__ import annotations

from typing import Literal

from interp.results.analysis import Number
from interp.results.record import Record

Matrix = list[list[Number]]


class Estimate(Record):
    """A value with its 95% bootstrap interval (over examples)."""

    value: Number
    """The estimate (None: undefined)."""
    low: Number
    """2.5th percentile of the resamples."""
    high: Number
    """97.5th percentile of the resamples."""


class LocatedLayer(Record):
    """Where stitching first recovers the teacher's robustness in the student."""

    teacher_stream: int
    """The teacher stream (0: embeddings, l: after block l - 1) whose mapped copy recovers it."""
    student_stream: int
    """The student stream it is put in place of."""
    student_block: int | None
    """The student block that discards it: the one just before `student_stream` (None: the
    stitch recovers from the student's embeddings on, so no student block discards it)."""
    recovery: Estimate
    """R of that stitch."""
    recovery_one_stream_earlier: Number
    """The best R over teacher streams at the student stream before (None at stream 0)."""
    teacher_block: int | None
    """The teacher block that computes what the student lacks: the one across which R, put
    into the located student stream, rises most (None: R is highest at the teacher's
    embeddings)."""
    recovery_before_teacher_block: Number
    """R of the teacher stream entering that block, into the located student stream."""


class Carriers(Record):
    """The teacher components that carry the located stitch's recovery: mean-ablated in the
    teacher's run inside the stitch, the shortest top-ranked set that removes half of R."""

    teacher_stream: int
    """The stitch's teacher stream (components of the blocks before it are knocked out)."""
    units: list[str]
    """The carrying set, most important first (empty: see `note`)."""
    recovery: float
    """R of the stitch, measured again on the knock-out examples."""
    recovery_without: Number
    """R with the carrying set ablated."""
    single_drops: dict[str, float]
    """Unit -> the recovery its ablation alone removes, largest first."""
    random_drops_median: Number
    """Median recovery removed by random sets of the carrying set's shape."""
    chance_percentile: Number
    """Share (%) of those random sets that remove less than the carrying set."""
    beats_chance: bool | None
    """Whether the carrying set removes more than the 95th percentile of random sets of its
    shape (None: its shape admits a single set)."""
    note: str | None
    """Why there is no carrying set (None when there is)."""


class ProbeCurves(Record):
    """Held-out balanced accuracy of linear probes for the label, per stream (readout
    position), trained on some templates (digits) and tested on the others."""

    models: dict[str, str]
    """Role (teacher, student, seed_teacher, nokd_student) -> model id."""
    accuracy: dict[str, list[Number]]
    """Role -> accuracy per stream."""
    control: dict[str, list[Number]]
    """Role -> accuracy per stream of the same probe trained on shuffled labels."""


class BiasLocalisation(Record):
    """One bias type of one comparison."""

    n_conflicting: int
    """Bias-conflicting examples measured."""
    n_aligned: int
    """Bias-aligned examples measured."""
    teacher_conflicting: float
    """The teacher's accuracy on the bias-conflicting examples."""
    student_conflicting: float
    """The student's accuracy on them."""
    difference: Estimate
    """Teacher minus student accuracy on them."""
    recovery: Matrix | None
    """R = (M_stitched - M_student) / (M_teacher - M_student) per teacher stream (rows) and
    student stream (columns), M the bias-conflicting accuracy after the stitch's
    in-distribution logit offset is removed (None: the difference is not significant)."""
    recovery_low: Matrix | None
    """2.5th percentile of R's resamples."""
    recovery_high: Matrix | None
    """97.5th percentile of R's resamples."""
    stitched_conflicting: Matrix
    """Bias-conflicting accuracy of each stitch (offset removed)."""
    stitched_aligned: Matrix
    """Bias-aligned accuracy of each stitch (offset removed)."""
    stitched_in_distribution: Matrix
    """In-distribution accuracy of each stitch (offset removed), on examples the offset was not
    fitted on."""
    student_self_control: list[Number]
    """R of the student stitched to itself through a map fitted the same way, per stream."""
    teacher_self_control: list[Number]
    """R of the teacher stitched to itself, per stream (1: the map keeps the teacher's
    robustness)."""
    located: LocatedLayer | None
    """The located layer (None: see `not_located`)."""
    not_located: str | None
    """Why no layer is located (None when one is)."""
    carriers: Carriers | None
    """The teacher components that carry the located stitch's recovery (None: no located
    layer)."""
    probes: ProbeCurves
    """Whether each model decodes the label, layer by layer."""
    readout_dissimilarity: dict[str, Estimate]
    """1 - linear CKA of the last streams' readout on bias-conflicting examples:
    teacher_student, teacher_seed (two seeds of the teacher), student_nokd (the KD student and
    the student trained without KD); absent where that model is not in the study."""
    beyond_seed: bool | None
    """Whether teacher and student differ more than two seeds of the teacher (intervals apart;
    None: no second seed)."""
    verdict: str
    """One sentence with the numbers: where the robustness is lost."""


class Localisation(Record):
    """The localisation of one comparison in one seed."""

    teacher: str
    """The teacher's model id."""
    student: str
    """The KD student's model id."""
    seed_teacher: str | None
    """The same teacher recipe in another seed (the seed baseline), if in the study."""
    nokd_student: str | None
    """The same student trained without KD, if in the study."""
    positions: Literal["all", "readout"]
    """Stitched at every position (both models read the same tokens) or at the readout."""
    n_fit: int
    """In-distribution training examples the maps are fitted on."""
    n_in_distribution: int
    """Held-out in-distribution examples (R^2, CKA, the logit offset, accuracy)."""
    cka_readout: Matrix
    """Linear CKA of teacher stream (rows) and student stream (columns) at the readout, on
    held-out in-distribution examples."""
    cka_all_positions: Matrix | None
    """The same over every position (None: the models read different tokens)."""
    map_r2: Matrix
    """Held-out R^2 of the readout map of each stitch."""
    bias: dict[str, BiasLocalisation]
    """Bias type -> its localisation."""
