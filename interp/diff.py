"""Teacher/student correspondence and the circuit diff.

A student is shallower and narrower than its teacher, so its components are first mapped to
teacher components: student layer l goes to the teacher layer at the same relative depth, and
within a mapped pair of layers each student head is matched to a distinct teacher head by how
alike their attention patterns are on the same inputs (1 - Jensen-Shannon divergence / ln 2,
solved as an assignment problem). MLPs map layer to layer. The diff then compares circuits in
teacher names: shared components, teacher-only, student-only, and a weighted overlap of scores.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import torch
from scipy.optimize import linear_sum_assignment

from interp.attention import pattern_divergence
from interp.circuits import Circuit
from interp.models import Batch, HookedClassifier


def depth_layer_map(n_student: int, n_teacher: int) -> dict[int, int]:
    """Student layer -> teacher layer at the same relative depth (last maps to last)."""
    return {
        layer: min(n_teacher - 1, math.ceil((layer + 1) * n_teacher / n_student) - 1)
        for layer in range(n_student)
    }


@dataclass
class Correspondence:
    """Student component -> teacher component, with the similarity behind each head match."""

    layer_map: dict[int, int]
    node_map: dict[str, str]
    similarity: dict[str, float] = field(default_factory=dict)

    def to_teacher(self, student_node: str) -> str:
        if student_node not in self.node_map:
            raise KeyError(f"student component '{student_node}' has no teacher counterpart")
        return self.node_map[student_node]

    def to_json(self) -> str:
        data = asdict(self)
        data["layer_map"] = {str(k): v for k, v in self.layer_map.items()}
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Correspondence":
        data = json.loads(text)
        data["layer_map"] = {int(k): v for k, v in data["layer_map"].items()}
        return cls(**data)


@torch.no_grad()
def match_components(
    teacher: HookedClassifier, student: HookedClassifier, batch: Batch
) -> Correspondence:
    """Map every student head and MLP to a teacher one (see the module docstring)."""
    layer_map = depth_layer_map(student.cfg.n_layers, teacher.cfg.n_layers)
    divergence = pattern_divergence(teacher, student, batch)  # [teacher heads, student heads]
    similarity = 1.0 - divergence / math.log(2.0)
    t_heads, s_heads = teacher.cfg.n_heads, student.cfg.n_heads
    node_map, scores = {}, {}
    for s_layer, t_layer in layer_map.items():
        block = similarity[
            t_layer * t_heads : (t_layer + 1) * t_heads, s_layer * s_heads : (s_layer + 1) * s_heads
        ]
        rows, cols = linear_sum_assignment(-block.numpy())
        for t_head, s_head in zip(rows, cols):
            student_name = f"a{s_layer}.h{s_head}"
            node_map[student_name] = f"a{t_layer}.h{t_head}"
            scores[student_name] = float(block[t_head, s_head])
        if s_heads > t_heads:  # more student heads than teacher heads: best match, shared
            for s_head in set(range(s_heads)) - set(cols):
                t_head = int(block[:, s_head].argmax())
                node_map[f"a{s_layer}.h{s_head}"] = f"a{t_layer}.h{t_head}"
                scores[f"a{s_layer}.h{s_head}"] = float(block[t_head, s_head])
        node_map[f"m{s_layer}"] = f"m{t_layer}"
    return Correspondence(layer_map, node_map, scores)


@dataclass
class CircuitDiff:
    """Teacher and student circuits compared in teacher component names."""

    shared: list[str]
    teacher_only: list[str]
    student_only: list[str]
    weighted_overlap: float
    student_in_teacher_names: dict[str, str]
    extra: dict = field(default_factory=dict)  # faithfulness curves, cross-faithfulness, ...

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CircuitDiff":
        return cls(**json.loads(text))


def _normalised(scores: dict[str, float]) -> dict[str, float]:
    total = sum(abs(v) for v in scores.values())
    return {k: abs(v) / total for k, v in scores.items()} if total > 0 else {}


def diff_circuits(
    teacher_circuit: Circuit, student_circuit: Circuit, correspondence: Correspondence
) -> CircuitDiff:
    """Shared / teacher-only / student-only components and the weighted overlap of scores.

    The weighted overlap is the weighted Jaccard index of the two circuits' absolute scores,
    each normalised to sum to 1 (1: same components with the same weight shares).
    """
    mapped = {node: correspondence.to_teacher(node) for node in student_circuit.nodes}
    teacher_nodes = set(teacher_circuit.nodes)
    student_nodes = set(mapped.values())
    teacher_weights = _normalised(
        {n: teacher_circuit.scores.get(n, 1.0) for n in teacher_circuit.nodes}
    )
    student_weights: dict[str, float] = {}
    for node, weight in _normalised(
        {n: student_circuit.scores.get(n, 1.0) for n in student_circuit.nodes}
    ).items():
        student_weights[mapped[node]] = student_weights.get(mapped[node], 0.0) + weight
    union = teacher_nodes | student_nodes
    low = sum(min(teacher_weights.get(n, 0.0), student_weights.get(n, 0.0)) for n in union)
    high = sum(max(teacher_weights.get(n, 0.0), student_weights.get(n, 0.0)) for n in union)
    return CircuitDiff(
        shared=sorted(teacher_nodes & student_nodes),
        teacher_only=sorted(teacher_nodes - student_nodes),
        student_only=sorted(student_nodes - teacher_nodes),
        weighted_overlap=low / high if high > 0 else 0.0,
        student_in_teacher_names=mapped,
    )
