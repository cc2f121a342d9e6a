"""A study's results.json (`interp study`): evaluation tables, each comparison's analyses and
diffs per suite, and the circuits' agreement over seeds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from interp.results.analysis import ModelAnalysis, Number
from interp.results.diff import CircuitDiff
from interp.results.localise import Localisation
from interp.results.record import Record, ResultsFile


class SuiteAccuracy(Record):
    """A model's accuracy on a probe suite."""

    model: str
    """The model's id."""
    suite: str
    """The probe suite."""
    accuracy: float
    """Share of examples right."""
    n: int
    """Examples."""


class SubcaseAccuracy(Record):
    """A model's accuracy on one subcase of a suite."""

    model: str
    """The model's id."""
    suite: str
    """The probe suite."""
    subcase: str
    """The subcase (a template or rendering)."""
    heuristic: str
    """The shortcut the subcase probes (NLI: HANS heuristic; digits: colour or marker)."""
    label: str
    """The subcase's gold label."""
    accuracy: float
    """Share of examples right."""
    n: int
    """Examples."""


class BiasGap(Record):
    """Accuracy on examples the bias gets right against those it gets wrong."""

    model: str
    """The model's id."""
    suite: str
    """The probe suite."""
    bias_aligned: Number
    """Accuracy where the shortcut gives the right label."""
    bias_conflicting: Number
    """Accuracy where it gives a wrong one."""
    gap: Number
    """Aligned minus conflicting."""


class Accuracy(Record):
    """The evaluation tables (also written as CSV beside results.json)."""

    suites: list[SuiteAccuracy]
    """Per model and suite."""
    subcases: list[SubcaseAccuracy]
    """Per model, suite and subcase."""
    bias_gap: list[BiasGap]
    """Per model and suite: bias-aligned against bias-conflicting accuracy."""


class Distillability(Record):
    """Per comparison group and bias type, over seeds: how much of the teacher's robustness the
    KD student keeps (D) and what KD adds over the same student trained without it (C)."""

    optional_fields = frozenset(
        {"baseline_mean", "baseline_std", "C_mean", "C_std", "C_ci_low", "C_ci_high"}
    )

    group: str
    """The comparison (its seed group)."""
    bias_type: str
    """The shortcut measured (e.g. overlap, negation; colour, marker)."""
    n: int
    """Bias-conflicting examples per model."""
    seeds: int
    """Seeds averaged."""
    teacher_mean: Number
    """Teacher accuracy on the bias-conflicting examples, mean over seeds."""
    teacher_std: Number
    """Its standard deviation over seeds."""
    student_mean: Number
    """KD student accuracy there."""
    student_std: Number
    """Its standard deviation over seeds."""
    baseline_mean: Number = None
    """The same student trained without KD (absent without a baseline, as are the C fields)."""
    baseline_std: Number = None
    """Its standard deviation over seeds."""
    D_mean: Number
    """Student minus teacher accuracy on bias-conflicting examples."""
    D_std: Number
    """Its standard deviation over seeds."""
    D_ci_low: Number
    """95% interval of D (bootstrap over examples and seeds)."""
    D_ci_high: Number
    """Upper end of that interval."""
    C_mean: Number = None
    """KD student minus the non-KD student."""
    C_std: Number = None
    """Its standard deviation over seeds."""
    C_ci_low: Number = None
    """95% interval of C (bootstrap over examples and seeds)."""
    C_ci_high: Number = None
    """Upper end of that interval."""


class Validity(Record):
    """One model's in-distribution accuracy and, per bias type B of its task, the fields
    `B_aligned`, `B_conflicting` and `B_gap` (accuracy on examples the bias gets right, wrong,
    and the difference)."""

    model_config = ConfigDict(extra="allow")

    model: str
    """The model's id."""
    in_distribution: Number
    """Accuracy on held-out examples from the training distribution."""

    def measures(self, bias_type: str) -> bool:
        """Whether the row has the fields of a bias type."""
        return f"{bias_type}_gap" in (self.model_extra or {})

    def measure(self, bias_type: str, which: Literal["aligned", "conflicting", "gap"]) -> Number:
        """`B_aligned`, `B_conflicting` or `B_gap` of a bias type (None when not measured)."""
        return (self.model_extra or {}).get(f"{bias_type}_{which}")


class Selection(Record):
    """How the minimal pairs were chosen (on the teacher)."""

    rule: str
    """`pairs the teacher separates`, or `all pairs` when it separates too few."""
    min_separation: float
    """Logit difference a pair needs on the teacher to count as separated."""
    separated_by_teacher: int
    """Pairs it separates."""


class GuidedComponent(Record):
    """For a circuit-guided student: one assigned component and what became of it."""

    teacher_component: str = Field(alias="teacher component")
    """The teacher circuit component."""
    assigned_student_component: str = Field(alias="assigned student component")
    """The student component trained to take its role."""
    matched_to: str | None = Field(alias="matched to")
    """The teacher component the correspondence matches it to."""
    took_the_role: bool = Field(alias="took the role")
    """Whether that is the component it was assigned."""
    in_students_circuit: bool = Field(alias="in the student's circuit")
    """Whether it is in the student's circuit here."""


class GuidanceOutcome(Record):
    """The guidance a student was trained with, when it came from this teacher."""

    kind: str
    """What was guided (e.g. attention patterns or outputs)."""
    suite: str
    """The suite whose teacher circuit guided training."""
    assigned: list[GuidedComponent]
    """Each assigned teacher-student component pair."""


class TextAttention(Record):
    """The teacher's top circuit head and its student match on one minimal pair, token by token
    (word by word when the tokenizers differ)."""

    kind: Literal["text"]
    """Always text."""
    text: str
    """The example (premise / hypothesis)."""
    tokens: list[str]
    """Row and column labels: tokens, or [CLS], [SEP] and words."""
    teacher_head: str
    """The teacher's top circuit head."""
    student_head: str
    """The student head matched to it."""
    teacher_pattern: list[list[float]]
    """[query][key] attention."""
    student_pattern: list[list[float]]
    """[query][key] attention."""


class Rendering(Record):
    """One rendering of a digit with both heads' [CLS] attention over its patches."""

    name: str
    """Which rendering (clean or corrupt, and its subcase)."""
    image: list[list[list[float]]]
    """[height][width][RGB] in 0-1."""
    teacher_cls: list[list[float]]
    """[patch row][patch column]."""
    student_cls: list[list[float]]
    """The same for the student head."""


class ImageAttention(Record):
    """The same for images: the [CLS] row over the patch grid, for both renderings."""

    kind: Literal["image"]
    """Always image."""
    text: str
    """What the two renderings show."""
    teacher_head: str
    """The teacher's top circuit head."""
    student_head: str
    """The student head matched to it."""
    renderings: list[Rendering]
    """Clean and corrupt rendering."""


AttentionExample = Annotated[TextAttention | ImageAttention, Field(discriminator="kind")]


class SuiteResult(Record):
    """A comparison on one suite."""

    teacher: ModelAnalysis
    """The teacher's analysis."""
    student: ModelAnalysis
    """The student's analysis, in the teacher's units."""
    diff: CircuitDiff
    """The two circuits compared."""
    selection: Selection
    """How the minimal pairs were chosen."""
    guidance: GuidanceOutcome | None
    """None unless the student was guided by this teacher."""
    attention_example: AttentionExample | None
    """None when there is no head to show."""


class ComparisonResult(Record):
    """One teacher-student comparison (a manifest `pairs:` entry) in one seed."""

    id: str
    """The comparison's id (the manifest `pairs:` entry, with its seed)."""
    group: str
    """Its seed group (the id without the seed), or the id."""
    seed: int | None
    """Its seed (None: an unseeded comparison)."""
    teacher: str
    """The teacher's model id."""
    student: str
    """The KD student's model id."""
    baseline: str | None
    """The same student trained without KD."""
    optional_fields = frozenset({"localisation", "not_localised"})

    suites: dict[str, SuiteResult]
    """Analysed suite -> its result."""
    skipped: dict[str, str]
    """Suite -> why it was not analysed."""
    localisation: Localisation | None = None
    """Where the student loses the teacher's robustness, per bias type (absent: the study ran
    without localisation)."""
    not_localised: str | None = None
    """Why the comparison was not localised (absent or None: it was, or was not asked for)."""


class CircuitCounts(Record):
    """Seeds in which each unit is in a circuit."""

    counts: dict[str, int]
    """Unit -> seeds, most frequent first."""
    robust: list[str]
    """Units found in at least `threshold` seeds."""


class ModelCircuitCounts(CircuitCounts):
    stability: Number
    """Mean Jaccard index of the circuits over pairs of seeds (None: fewer than two seeds)."""


class StudentCircuitCounts(ModelCircuitCounts):
    teacher_match: dict[str, str | None]
    """Student unit -> the teacher unit it maps to in most seeds."""


class SeedCircuits(Record):
    """The circuits of one seed."""

    seed: int | None
    """The seed."""
    teacher_circuit: list[str]
    """The teacher's circuit, sorted."""
    student_circuit: list[str]
    """The student's circuit in its own names, sorted."""
    teacher_faithfulness: Number
    """Its faithfulness (None: undefined)."""
    student_faithfulness: Number
    """Its faithfulness (None: undefined)."""


class SeedConsistency(Record):
    """A comparison group's circuits on one suite over the seeds analysed."""

    group: str
    """The comparison group."""
    suite: str
    """The suite."""
    seeds: list[int | None]
    """Seeds counted (their teacher separates the pairs)."""
    skipped_seeds: list[int | None]
    """Seeds whose teacher has no defined faithfulness."""
    n_seeds: int
    """Seeds counted."""
    threshold: int
    """Seeds a unit needs to count as robust (two thirds, rounded up)."""
    teacher: ModelCircuitCounts
    """The teacher's circuits over the seeds."""
    student: StudentCircuitCounts
    """The student's circuits (in its own names) over the seeds."""
    teacher_only: CircuitCounts
    """Teacher units no student circuit unit maps onto, over the seeds."""
    shared: CircuitCounts
    """Teacher units both circuits hold, over the seeds."""
    per_seed: list[SeedCircuits]
    """Each seed's circuits."""


class StudySettings(Record):
    """The analysis settings the study ran with."""

    optional_fields = frozenset({"localise"})

    n_pairs: int
    """Minimal pairs analysed per suite at most."""
    target_faithfulness: float
    """Faithfulness a circuit must reach."""
    min_separation: float
    """Logit difference a pair needs on the teacher to be analysed."""
    ig_steps: int
    """Integration steps of EAP-IG."""
    attribution: str
    """The node ranking: eap, eap-ig or eap-ig-activations."""
    suites: list[str] | None
    """Analysed suites; None: each task's default."""
    units: str
    """Circuit units asked for: node, position, edge or auto."""
    time_budget_s: float
    """With units auto: seconds one model's analysis may take."""
    chance_samples: int
    """Random circuits per circuit for the chance baseline (0: none)."""
    specificity: bool
    """Whether each circuit was ablated on control examples too."""
    localise: bool = False
    """Whether each comparison was localised (stitching, probes, seed baselines; absent in
    files from before localisation: false)."""


class StudyResults(ResultsFile):
    """The whole of a study's results.json."""

    file_kind = "study's results.json"

    optional_fields = frozenset({"weights_sha256"})

    run: str
    """The run folder's name."""
    seeds: list[int]
    """The seeds evaluated and analysed."""
    device: str
    """Where the analysis ran (cpu, cuda)."""
    settings: StudySettings
    """The analysis settings."""
    models: list[str]
    """Every model evaluated."""
    weights_sha256: dict[str, str | None] = {}
    """Model -> one sha256 over its weight files, as the study read them (absent in files from
    before it was recorded)."""
    roles: list[tuple[str, str]]
    """(model, role) in the same order."""
    accuracy: Accuracy
    """Accuracy per suite, per subcase and on bias-aligned against bias-conflicting examples."""
    distillability: list[Distillability]
    """D and C per comparison group and bias type."""
    validity: list[Validity]
    """Per model: in-distribution accuracy and accuracy per bias type."""
    comparisons: list[ComparisonResult] = Field(alias="pairs")
    """The comparisons analysed; the file's key is `pairs`, the manifest's."""
    seed_consistency: list[SeedConsistency]
    """Per comparison group and suite: the circuits' agreement over seeds."""


class EvaluationResults(ResultsFile):
    """`interp eval`'s results.json: the evaluation tables, also written as CSV beside it."""

    file_kind = "evaluation's results.json"

    suites: list[SuiteAccuracy]
    """Per model and suite."""
    subcases: list[SubcaseAccuracy]
    """Per model, suite and subcase."""
    bias_gap: list[BiasGap]
    """Per model and suite: bias-aligned against bias-conflicting accuracy."""
    validity: list[Validity]
    """Per model: in-distribution accuracy and accuracy per bias type."""
    distillability: list[Distillability]
    """D and C per comparison group and bias type, among the models evaluated."""
