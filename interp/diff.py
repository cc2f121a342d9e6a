"""Teacher/student correspondence and the circuit diff.

A student is shallower and narrower than its teacher, so its components are first mapped to
teacher components. Within a pair of layers each student head is matched to a distinct teacher
head by how alike their attention patterns are on the same inputs (1 - Jensen-Shannon
divergence / ln 2, solved as an assignment problem). The layers are mapped in order: a student
started from this teacher's layers (`teacher_init`, as its training record states) maps each
layer to the one it was copied from, so that what changed in training shows as divergence; a
student trained with circuit guidance maps its layers as the guidance assigned them;
otherwise the order-preserving map whose head matching is most similar; or, on request, the
depth-proportional map (student layer l to the teacher layer at the same relative depth). All
three are recorded when known. MLPs map layer to layer. The diff
then judges the two circuits by function first: cross-faithfulness, each circuit mapped onto
the other model and evaluated there, with bootstrap intervals over the minimal pairs and a
verdict (`mechanism_verdict`); and by structure second, in teacher names: shared components,
teacher-only, student-only, and a weighted overlap of scores. Units split by position keep
their position when mapped (`a1.h2@cls` -> `a2.h5@cls`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from interp import defaults
from interp.attention import pattern_divergence
from interp.circuits import Circuit, faithfulness_interval, faithfulness_of, faithfulness_rows
from interp.contrast import ContrastPairs
from interp.io import defined
from interp.models import Batch, HookedClassifier
from interp.results import CircuitDiff, Correspondence, DiffDetails, LayerMaps, ModelAnalysis
from interp.seeding import rng_for
from interp.units import head_name, map_unit, node_totals, parse_node, parse_unit, units_of

# A direction of cross-faithfulness carries the other model's behaviour when the lower bound of
# its 95% interval reaches this, and fails when the upper bound stays below it.
CARRIES = 0.5


def depth_layer_map(n_student: int, n_teacher: int) -> dict[int, int]:
    """Student layer -> teacher layer at the same relative depth (last maps to last)."""
    return {
        layer: min(n_teacher - 1, math.ceil((layer + 1) * n_teacher / n_student) - 1)
        for layer in range(n_student)
    }


def _assignment(block: Tensor) -> tuple[list[tuple[int, int]], float]:
    """Teacher-head/student-head pairs of one layer pair maximising similarity, and its mean.

    With more student heads than teacher heads, the extra student heads share their best match.
    """
    rows, cols = linear_sum_assignment(-block.numpy())
    pairs = [(int(t), int(s)) for t, s in zip(rows, cols)]
    for s_head in sorted(set(range(block.shape[1])) - set(cols.tolist())):
        pairs.append((int(block[:, s_head].argmax()), s_head))
    return pairs, float(sum(block[t, s] for t, s in pairs)) / block.shape[1]


def behaviour_layer_map(layer_scores: Tensor) -> dict[int, int]:
    """Student layer -> teacher layer, strictly increasing, maximising the summed head-matching
    similarity ([student layer, teacher layer] scores; dynamic programming)."""
    n_student, n_teacher = layer_scores.shape
    best = torch.full((n_student, n_teacher), float("-inf"), dtype=torch.float64)
    best[0] = layer_scores[0].double()
    for s in range(1, n_student):
        for t in range(s, n_teacher):
            best[s, t] = layer_scores[s, t] + best[s - 1, :t].max()
    chosen = [int(best[-1].argmax())]
    for s in range(n_student - 2, -1, -1):
        chosen.insert(0, int(best[s, : chosen[0]].argmax()))
    return dict(enumerate(chosen))


def init_layer_map(teacher: HookedClassifier, student: HookedClassifier) -> dict[int, int] | None:
    """Student layer -> the teacher layer it was copied from, as the student's training record
    states (`init` in its train.json) when it was started from this teacher's layers; else None."""
    init = student.meta.get("init") or {}
    teacher_id = teacher.meta.get("id")
    if not teacher_id or init.get("teacher") != teacher_id or not init.get("layer_map"):
        return None
    return {int(k): int(v) for k, v in init["layer_map"].items()}


def guided_layer_map(teacher: HookedClassifier, student: HookedClassifier) -> dict[int, int] | None:
    """Student layer -> teacher layer as the student's circuit guidance assigned them (its
    train.json's `guidance`, when it was guided by this teacher's circuit): each student layer
    that was given components to the layer of the first of them, the others by relative depth.
    None for a student without guidance from this teacher."""
    guidance = student.meta.get("guidance") or {}
    teacher_id = teacher.meta.get("id")
    if not teacher_id or guidance.get("teacher") != teacher_id or not guidance.get("assignment"):
        return None
    chosen = depth_layer_map(student.cfg.n_layers, teacher.cfg.n_layers)
    assigned: dict[int, int] = {}
    for t_node, s_node in sorted(guidance["assignment"].items()):
        s_layer, t_layer = parse_node(s_node)[1], parse_node(t_node)[1]
        assigned[s_layer] = min(assigned.get(s_layer, t_layer), t_layer)
    return {**chosen, **assigned}


@torch.no_grad()
def match_components(
    teacher: HookedClassifier,
    student: HookedClassifier,
    batch: Batch,
    layer_map: Literal["auto", "init", "behaviour", "depth"] = "auto",
    batch_size: int | None = None,
    student_batch: Batch | None = None,
) -> Correspondence:
    """Map every student head and MLP to a teacher one (see the module docstring).

    A student with another tokenizer reads `student_batch` (the same examples, its own
    encoding); the heads' patterns are then compared word by word
    (`interp.attention.pattern_divergence`).

    `init`: the layers a teacher_init student was copied from (an error for other students);
    `behaviour`: among order-preserving maps, the one whose head matching is most similar;
    `depth`: the depth-proportional map; `auto` (default): `init` where the training record
    gives it, else the layers a circuit-guided student was assigned (`guided_layer_map`), else
    `behaviour`. The other maps are kept in `extra`.
    """
    depth_map = depth_layer_map(student.cfg.n_layers, teacher.cfg.n_layers)
    init_map = init_layer_map(teacher, student)
    guided_map = guided_layer_map(teacher, student)
    if layer_map == "init" and init_map is None:
        raise ValueError(
            "layer_map='init' needs a student started from this teacher's layers "
            "(its training record has no fix: teacher_init from this teacher)"
        )
    # [teacher heads, student heads]
    divergence = pattern_divergence(
        teacher, student, batch, batch_size=batch_size, student_batch=student_batch
    )
    similarity = 1.0 - divergence / math.log(2.0)
    t_heads, s_heads = teacher.cfg.n_heads, student.cfg.n_heads
    matches, layer_scores = {}, torch.zeros(student.cfg.n_layers, teacher.cfg.n_layers)
    for s_layer in range(student.cfg.n_layers):
        for t_layer in range(teacher.cfg.n_layers):
            block = similarity[
                t_layer * t_heads : (t_layer + 1) * t_heads,
                s_layer * s_heads : (s_layer + 1) * s_heads,
            ]
            matches[s_layer, t_layer], layer_scores[s_layer, t_layer] = _assignment(block)
    behaviour_map = None
    if student.cfg.n_layers <= teacher.cfg.n_layers:
        behaviour_map = behaviour_layer_map(layer_scores)
    if layer_map in ("init", "auto") and init_map is not None:
        chosen, rule = init_map, "init"
    elif layer_map == "auto" and guided_map is not None:
        chosen, rule = guided_map, "guided"
    elif layer_map == "depth" or behaviour_map is None:
        chosen, rule = depth_map, "depth"
    else:
        chosen, rule = behaviour_map, "behaviour"
    node_map, scores = {}, {}
    for s_layer, t_layer in chosen.items():
        for t_head, s_head in matches[s_layer, t_layer]:
            node_map[head_name(s_layer, s_head)] = head_name(t_layer, t_head)
            scores[head_name(s_layer, s_head)] = float(
                similarity[t_layer * t_heads + t_head, s_layer * s_heads + s_head]
            )
        node_map[f"m{s_layer}"] = f"m{t_layer}"

    maps = LayerMaps(
        layer_map_rule=rule,
        depth_layer_map=depth_map,
        behaviour_layer_map=behaviour_map,
        init_layer_map=init_map,
        guided_layer_map=guided_map,
        layer_scores=layer_scores.tolist(),
    )
    return Correspondence(layer_map=chosen, node_map=node_map, similarity=scores, extra=maps)


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
    mapped = correspondence.to_teacher_all(student_circuit.nodes)
    teacher_nodes = set(teacher_circuit.nodes)
    student_nodes = set(mapped.values())
    teacher_weights = _normalised(
        {n: teacher_circuit.scores.get(n, 1.0) for n in teacher_circuit.nodes}
    )
    student_weights: dict[str, float] = {}
    for node, weight in _normalised(
        {n: student_circuit.scores.get(n, 1.0) for n in mapped}
    ).items():
        student_weights[mapped[node]] = student_weights.get(mapped[node], 0.0) + weight
    union = sorted(teacher_nodes | student_nodes)  # a fixed order: sums equal in every process
    low = sum(min(teacher_weights.get(n, 0.0), student_weights.get(n, 0.0)) for n in union)
    high = sum(max(teacher_weights.get(n, 0.0), student_weights.get(n, 0.0)) for n in union)
    return CircuitDiff(
        shared=sorted(teacher_nodes & student_nodes),
        teacher_only=sorted(teacher_nodes - student_nodes),
        student_only=sorted(student_nodes - teacher_nodes),
        weighted_overlap=low / high if high > 0 else 0.0,
        student_in_teacher_names=mapped,
    )


def teacher_units_on_student(correspondence: Correspondence, units: list[str]) -> list[str]:
    """The student units mapped onto the given teacher units (at the same position class; for
    an edge, every edge between student counterparts of its ends)."""
    inverse = student_nodes_of(correspondence)
    return sorted({s for t in units for s in map_unit(t, lambda n: inverse.get(n, []))})


def _node_shares(attribution: dict[str, float]) -> dict[str, float]:
    """Absolute attribution shares per head or MLP (units at positions summed into nodes)."""
    return _normalised(node_totals({unit: abs(v) for unit, v in attribution.items()}))


def student_nodes_of(correspondence: Correspondence) -> dict[str, list[str]]:
    """Teacher component -> the student components mapped onto it (the inverse map)."""
    inverse: dict[str, list[str]] = {}
    for student_node, teacher_node in sorted(correspondence.node_map.items()):
        inverse.setdefault(teacher_node, []).append(student_node)
    return inverse


def diverging_heads(
    teacher_analysis: ModelAnalysis,
    student_analysis: ModelAnalysis,
    correspondence: Correspondence,
) -> list[dict]:
    """Matched head pairs, most divergent attention first, with their statistics side by side.

    Divergence is 1 - pattern similarity of the matched heads; the rows also give each head's
    overlap and negation attention and its share of the model's absolute attribution.
    """
    t_share = _node_shares(teacher_analysis.attribution)
    s_share = _node_shares(student_analysis.attribution)
    rows = []
    for student_head, teacher_head in correspondence.node_map.items():
        if not student_head.startswith("a"):
            continue
        _, t_layer, t_index = parse_node(teacher_head)
        _, s_layer, s_index = parse_node(student_head)
        row = {
            "teacher": teacher_head,
            "student": student_head,
            "pattern_divergence": 1.0 - correspondence.similarity.get(student_head, 0.0),
            "teacher_attribution_share": t_share.get(teacher_head, 0.0),
            "student_attribution_share": s_share.get(student_head, 0.0),
        }
        for stat in ("overlap", "negation"):
            t_value = teacher_analysis.head_stats[stat][t_layer][t_index]
            s_value = student_analysis.head_stats[stat][s_layer][s_index]
            row[f"teacher_{stat}"], row[f"student_{stat}"] = t_value, s_value
        rows.append(row)
    return sorted(rows, key=lambda r: (-r["pattern_divergence"], r["student"]))


def compare_models(
    teacher: HookedClassifier,
    student: HookedClassifier,
    teacher_analysis: ModelAnalysis,
    student_analysis: ModelAnalysis,
    teacher_pairs: ContrastPairs,
    student_pairs: ContrastPairs,
    correspondence: Correspondence | None = None,
    batch_size: int | None = None,
) -> CircuitDiff:
    """The circuit diff of a teacher/student pair on one suite, with faithfulness curves,
    cross-faithfulness (each circuit mapped onto the other model and evaluated there) and the
    diverging heads; the correspondence is matched on the teacher's clean inputs if not given."""
    if correspondence is None:
        correspondence = match_components(
            teacher, student, teacher_pairs.clean, batch_size=batch_size
        )
    teacher_circuit = teacher_analysis.circuit
    student_circuit = student_analysis.circuit
    diff = diff_circuits(teacher_circuit, student_circuit, correspondence)
    teacher_on_student = teacher_units_on_student(correspondence, teacher_circuit.nodes)
    student_on_teacher = sorted(set(correspondence.to_teacher_all(student_circuit.nodes).values()))
    key = (teacher_analysis.model, student_analysis.model, teacher_analysis.suite)
    granularity = teacher_analysis.units
    on_student = cross_faithfulness(
        student,
        student_pairs,
        teacher_on_student,
        rng_for("cross", *key, "t>s"),
        batch_size,
        granularity=granularity,
    )
    on_teacher = cross_faithfulness(
        teacher,
        teacher_pairs,
        student_on_teacher,
        rng_for("cross", *key, "s>t"),
        batch_size,
        granularity=granularity,
    )
    verdict = mechanism_verdict(
        on_student, on_teacher, bool(teacher_circuit.nodes), bool(student_circuit.nodes)
    )
    if verdict["verdict"] != "undefined" and teacher_circuit.nodes and not teacher_on_student:
        verdict["why"] += (
            "; the correspondence maps none of the teacher's circuit onto the student (its "
            "layers there have no student counterpart), so that direction is 0 by construction"
        )
    elif verdict["verdict"] != "undefined":
        for name, mapped, model in (
            ("teacher", teacher_on_student, student),
            ("student", student_on_teacher, teacher),
        ):
            note = readout_note(name, mapped, model.cfg.n_layers)
            if note:
                verdict["why"] += f"; {note}"
    diff.extra = DiffDetails(
        correspondence=correspondence,
        curves={"teacher": teacher_analysis.curve, "student": student_analysis.curve},
        circuit_faithfulness={
            "teacher": teacher_circuit.meta.faithfulness,
            "student": student_circuit.meta.faithfulness,
        },
        cross_faithfulness={
            "teacher_circuit_on_student": on_student["faithfulness"],
            "student_circuit_on_teacher": on_teacher["faithfulness"],
        },
        cross_faithfulness_interval={
            "teacher_circuit_on_student": (on_student["low"], on_student["high"]),
            "student_circuit_on_teacher": (on_teacher["low"], on_teacher["high"]),
        },
        mechanism=verdict,
        teacher_circuit_in_student_names=teacher_on_student,
        diverging_heads=diverging_heads(teacher_analysis, student_analysis, correspondence),
    )
    return diff


def readout_note(name: str, mapped: list[str], n_layers: int) -> str | None:
    """Why a direction of cross-faithfulness at position units may be about 0 whatever the
    mechanism: the mapped circuit has no unit at [CLS] (where the classifier reads; nothing
    then reaches it, 0 by construction), or none in the other model's last layer at [CLS]."""
    if not mapped or units_of(mapped[0]) != "position":
        return None
    at_cls = [u for u in mapped if u.endswith("@cls")]
    if not at_cls:
        return (
            f"the {name}'s circuit mapped onto the other model has no unit at [CLS], where the "
            "classifier reads, so that direction is 0 by construction"
        )
    if not any(parse_unit(u)[1] == n_layers - 1 for u in at_cls):
        return (
            f"the {name}'s circuit mapped onto the other model has no unit at [CLS] in that "
            f"model's last layer ({n_layers - 1}), where the classifier reads"
        )
    return None


def cross_faithfulness(
    model: HookedClassifier,
    pairs: ContrastPairs,
    units: list[str],
    rng,
    batch_size: int | None = None,
    n_bootstrap: int = defaults.N_BOOTSTRAP,
    granularity: str | None = None,
) -> dict:
    """Faithfulness of `units` on the model's pairs, with a 95% bootstrap interval over the
    pairs (NaN where the model does not tell the pairs apart). `granularity`: that of the
    units (needed when they are empty)."""
    full, empty, rows = faithfulness_rows(
        model, pairs.clean, pairs.corrupt, pairs.metric(), [units], batch_size, granularity
    )
    value = float(faithfulness_of(full, empty, rows)[0])
    low, high = faithfulness_interval(full, empty, rows[0], rng, n_bootstrap)
    if value != value:
        low = high = float("nan")
    return {"faithfulness": value, "low": low, "high": high}


def mechanism_verdict(
    teacher_on_student: dict, student_on_teacher: dict, teacher_circuit: bool, student_circuit: bool
) -> dict:
    """Shared, partly shared or not shared mechanism, from the two directions of
    cross-faithfulness: shared when both carry the other model's behaviour (lower bound of
    the interval >= CARRIES), not shared when both fail (upper bound < CARRIES), partly shared
    otherwise; undefined, with the reason, when a model has no behaviour or no circuit."""
    if not teacher_circuit or not student_circuit:
        which = "teacher" if not teacher_circuit else "student"
        return {"verdict": "undefined", "why": f"the {which} has no circuit on these pairs"}
    for name, direction, other in (
        ("student", teacher_on_student, "teacher's"),
        ("teacher", student_on_teacher, "student's"),
    ):
        if not defined(direction["faithfulness"]) or not defined(direction["low"]):
            return {
                "verdict": "undefined",
                "why": f"the {name} does not tell the pairs apart, so the {other} circuit has "
                "no behaviour to carry there",
            }
    carries = [d["low"] >= CARRIES for d in (teacher_on_student, student_on_teacher)]
    fails = [d["high"] < CARRIES for d in (teacher_on_student, student_on_teacher)]
    if all(carries):
        verdict = "shared"
    elif all(fails):
        verdict = "not shared"
    else:
        verdict = "partly shared"
    return {
        "verdict": verdict,
        "why": f"teacher circuit on the student {_interval(teacher_on_student)}, student "
        f"circuit on the teacher {_interval(student_on_teacher)}",
    }


def _interval(direction: dict) -> str:
    return f"{direction['faithfulness']:.2f} [{direction['low']:.2f}, {direction['high']:.2f}]"
