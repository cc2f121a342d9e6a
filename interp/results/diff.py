"""What comparing a teacher's and a student's circuits produces (`interp.diff`): the
correspondence of their components and the circuit diff, judged by function first."""

from __future__ import annotations

from pydantic import Field

from interp.results.analysis import FaithfulnessCurve, Number
from interp.results.record import Record
from interp.units import map_unit

LayerMap = dict[int, int]  # student layer -> teacher layer (keys are strings in the file)


class LayerMaps(Record):
    """The layer maps known for a comparison, and which one the correspondence uses."""

    layer_map_rule: str
    """The map used: init, guided, behaviour or depth."""
    depth_layer_map: LayerMap
    """Each student layer to the teacher layer at the same relative depth."""
    behaviour_layer_map: LayerMap | None
    """The order-preserving map whose head matching is most similar (None: a student deeper
    than its teacher)."""
    init_layer_map: LayerMap | None
    """The layers a teacher-initialised student was copied from (None: not initialised so)."""
    guided_layer_map: LayerMap | None
    """The layers a circuit-guided student was assigned (None: not guided)."""
    layer_scores: list[list[float]]
    """[student layer][teacher layer]: mean similarity of the matched heads."""


class Correspondence(Record):
    """Student component -> teacher component, with the similarity behind each head match."""

    layer_map: LayerMap
    """Student layer -> teacher layer used for the matching."""
    node_map: dict[str, str]
    """Student head or MLP -> teacher head or MLP."""
    similarity: dict[str, float] = Field(default_factory=dict)
    """Student head -> 1 - Jensen-Shannon divergence / ln 2 to its teacher head's pattern."""
    extra: LayerMaps | None = None
    """Every layer map known and the rule that chose one."""

    def to_teacher(self, student_unit: str) -> str:
        """The teacher unit of a student unit (a node, a node at a position class, or an edge
        between the teacher counterparts of its ends)."""

        def counterpart(node: str) -> list[str]:
            if node not in self.node_map:
                raise KeyError(f"student component '{student_unit}' has no teacher counterpart")
            return [self.node_map[node]]

        mapped = map_unit(student_unit, counterpart)
        if not mapped:  # an edge whose ends map out of the forward order
            raise KeyError(f"student edge '{student_unit}' has no teacher counterpart")
        return mapped[0]

    def to_teacher_all(self, student_units: list[str]) -> dict[str, str]:
        """Student unit -> teacher unit for each unit that has one: every node does; an edge
        whose ends map to teacher components in the wrong forward order has none."""
        mapped = {}
        for unit in student_units:
            try:
                mapped[unit] = self.to_teacher(unit)
            except KeyError:
                if "->" not in unit:
                    raise
        return mapped


class Mechanism(Record):
    """Whether teacher and student share a mechanism, judged by cross-faithfulness."""

    verdict: str
    """shared, partly shared, not shared or undefined."""
    why: str
    """The intervals behind the verdict, or why it is undefined."""


class ByModel(Record):
    """One value for each model of the comparison."""

    teacher: Number
    """The teacher's value."""
    student: Number
    """The student's value."""


class CrossFaithfulness(Record):
    """Each circuit mapped onto the other model and evaluated there."""

    teacher_circuit_on_student: Number
    """Faithfulness of the teacher's circuit, in student components, on the student."""
    student_circuit_on_teacher: Number
    """Faithfulness of the student's circuit, in teacher components, on the teacher."""


class CrossIntervals(Record):
    """95% bootstrap intervals (over the minimal pairs) of the cross-faithfulness."""

    teacher_circuit_on_student: tuple[Number, Number]
    """[low, high]."""
    student_circuit_on_teacher: tuple[Number, Number]
    """[low, high]."""


class Curves(Record):
    """The faithfulness curves of both models."""

    teacher: FaithfulnessCurve
    """The teacher's curve."""
    student: FaithfulnessCurve
    """The student's curve."""


class DivergingHead(Record):
    """A matched head pair with its statistics side by side."""

    teacher: str
    """The teacher head."""
    student: str
    """The student head matched to it."""
    pattern_divergence: float
    """1 - the similarity of their attention patterns."""
    teacher_attribution_share: float
    """The teacher head's share of the teacher's absolute attribution."""
    student_attribution_share: float
    """The student head's share of the student's absolute attribution."""
    teacher_overlap: Number
    """Attention the teacher head pays from hypothesis to premise words it repeats."""
    student_overlap: Number
    """The same for the student head."""
    teacher_negation: Number
    """Attention the teacher head pays to the task's cue words (NLI: negations)."""
    student_negation: Number
    """The same for the student head."""


class DiffDetails(Record):
    """The comparison by function, and what the structural diff is read with."""

    correspondence: Correspondence
    """How student components map to teacher components."""
    curves: Curves
    """Both models' faithfulness curves."""
    circuit_faithfulness: ByModel
    """Each circuit's own faithfulness."""
    cross_faithfulness: CrossFaithfulness
    """Each circuit on the other model."""
    cross_faithfulness_interval: CrossIntervals
    """Their 95% intervals."""
    mechanism: Mechanism
    """The verdict from the two directions."""
    teacher_circuit_in_student_names: list[str]
    """The student units mapped onto the teacher's circuit."""
    diverging_heads: list[DivergingHead]
    """Matched head pairs, most divergent attention first."""


class CircuitDiff(Record):
    """Teacher and student circuits compared in teacher component names."""

    shared: list[str]
    """Teacher units in both circuits."""
    teacher_only: list[str]
    """Teacher units no student circuit unit maps onto."""
    student_only: list[str]
    """Teacher names of student circuit units outside the teacher's circuit."""
    weighted_overlap: float
    """Weighted Jaccard index of the two circuits' normalised absolute scores."""
    student_in_teacher_names: dict[str, str]
    """Student circuit unit -> its teacher unit."""
    extra: DiffDetails | None = None
    """Cross-faithfulness, curves, correspondence and diverging heads (set by
    `interp.diff.compare_models`)."""
