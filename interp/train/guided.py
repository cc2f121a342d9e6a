"""Circuit-guided distillation: losses that make a student's components play the roles of the
teacher's circuit components, and the assignment of one to the other.

The teacher's circuit (found on a suite's minimal pairs) is assigned to student components
before training: each teacher layer to the student layer nearest to it under the layer map
(the layers a `teacher_init` student was copied from, else relative depth), the circuit's
heads of a teacher layer to that student layer's heads in order, an MLP to the MLP. Two losses
use the assignment, each added to the KD loss with its own weight:

- *attention transfer*: KL(teacher pattern || student pattern) of each assigned head pair,
  averaged over the real query positions of the training batch;
- *causal (interchange) distillation*: both models run on the batch with one assigned
  component's output taken from a source input (the batch rolled by one example), and the
  student's intervened output distribution is trained towards the teacher's intervened one
  (temperature-scaled KL), one assigned pair per step in turn.

Both run their hooks inside `model.hooks(...)` contexts, so none stays on a model after an
error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Literal

import torch
from torch import Tensor

from interp.analysis import AnalysisSettings, analyse_model
from interp.attention import real_positions
from interp.attribution import node_names
from interp.contrast import teacher_selected_pairs
from interp.diff import depth_layer_map, init_layer_map
from interp.losses import distillation_term
from interp.models import Batch, HookedClassifier
from interp.patching import hook_name
from interp.units import block_hook, head_name, parse_node
from probes.core import ProbeSet

GuideKind = Literal["attention", "causal"]


@dataclass(frozen=True)
class Guidance:
    """What a guided student was trained to reproduce, recorded in its train.json."""

    kind: GuideKind
    teacher: str
    suite: str
    teacher_circuit: list[str]
    faithfulness: float | None
    assignment: dict[str, str]  # teacher component -> student component
    weight: float
    layer_rule: Literal["init", "depth"]

    def record(self) -> dict:
        return asdict(self)


def assign_components(
    teacher_circuit: list[str],
    n_teacher_layers: int,
    n_student_layers: int,
    n_student_heads: int,
    layer_map: dict[int, int] | None = None,
) -> dict[str, str]:
    """Teacher circuit component -> student component (module docstring).

    `layer_map` (student layer -> teacher layer) defaults to relative depth; a teacher layer
    goes to the student layer whose mapped teacher layer is nearest (the lower one on a tie).
    Heads of the circuit are taken in layer, then head order and given the student layer's
    heads 0, 1, 2, ... (wrapping round when there are more than the student layer has).
    """
    layer_map = layer_map or depth_layer_map(n_student_layers, n_teacher_layers)
    parsed = sorted((parse_node(node), node) for node in teacher_circuit)

    def student_layer(teacher_layer: int) -> int:
        return min(layer_map, key=lambda s: (abs(layer_map[s] - teacher_layer), s))

    next_head: dict[int, int] = {}
    assignment = {}
    for (kind, layer, _), node in parsed:
        target = student_layer(layer)
        if kind == "mlp":
            assignment[node] = f"m{target}"
        else:
            head = next_head.get(target, 0)
            next_head[target] = head + 1
            assignment[node] = head_name(target, head % n_student_heads)
    return assignment


def find_teacher_circuit(
    teacher: HookedClassifier,
    suite: ProbeSet,
    target: float = 0.8,
    n_pairs: int = 64,
    min_separation: float = 0.5,
) -> tuple[list[str], float | None]:
    """The teacher's circuit on the suite's minimal pairs it separates (as `interp study`
    selects them) and its faithfulness; a ValueError when the circuit is empty."""
    pairs, _ = teacher_selected_pairs(teacher, suite, n_pairs, min_separation)
    # Node units: guidance assigns whole heads and MLPs.
    settings = AnalysisSettings(target=target, units="node", chance_samples=0)
    analysis = analyse_model(
        teacher, teacher.meta.get("id", "teacher"), suite.name, pairs, settings
    )
    nodes = list(analysis.circuit.nodes)
    if not nodes:
        raise ValueError(
            f"the teacher has no circuit on '{suite.name}' (it does not tell the pairs apart); "
            "nothing to guide the student with"
        )
    return nodes, analysis.circuit.meta.faithfulness


def make_guidance(
    kind: GuideKind,
    teacher: HookedClassifier,
    teacher_id: str,
    student: HookedClassifier,
    suite: ProbeSet,
    teacher_circuit: list[str] | None = None,
    target: float = 0.8,
    weight: float = 1.0,
    faithfulness: float | None = None,
) -> Guidance:
    """The guidance of a student: the teacher's circuit (given, with the faithfulness it was
    found with if known, or found on `suite`) and its assignment to the student's components
    (through the teacher-init layer map when the student was started from this teacher's
    layers, else by relative depth)."""
    if teacher_circuit is None:
        teacher_circuit, faithfulness = find_teacher_circuit(teacher, suite, target)
    unknown = sorted(set(teacher_circuit) - set(node_names(teacher)))
    if unknown:
        raise ValueError(f"teacher circuit component(s) {unknown} are not in the teacher")
    copied = init_layer_map(teacher, student)
    assignment = assign_components(
        teacher_circuit,
        teacher.cfg.n_layers,
        student.cfg.n_layers,
        student.cfg.n_heads,
        copied,
    )
    return Guidance(
        kind=kind,
        teacher=teacher_id,
        suite=suite.name,
        teacher_circuit=list(teacher_circuit),
        faithfulness=faithfulness,
        assignment=assignment,
        weight=weight,
        layer_rule="init" if copied else "depth",
    )


def make_guide(kind: GuideKind, teacher: HookedClassifier, guidance: Guidance, **options):
    """The trainer's guide for a guidance record."""
    return (
        AttentionGuide(teacher, guidance)
        if kind == "attention"
        else CausalGuide(teacher, guidance, **options)
    )


def attention_transfer_loss(
    teacher_patterns: dict[int, Tensor],
    student_patterns: dict[int, Tensor],
    assignment: dict[str, str],
    query_mask: Tensor,
) -> Tensor:
    """Mean over assigned head pairs of KL(teacher || student) per real query position.

    Patterns are per layer, [batch, head, query, key]; MLPs in the assignment are skipped.
    """
    terms = []
    weights = query_mask[:, None].float()  # [batch, 1, query]
    for t_node, s_node in assignment.items():
        t_kind, t_layer, t_head = parse_node(t_node)
        _, s_layer, s_head = parse_node(s_node)
        if t_kind != "head":
            continue
        target = teacher_patterns[t_layer][:, t_head : t_head + 1]
        student = student_patterns[s_layer][:, s_head : s_head + 1]
        kl = (target * (target.clamp_min(1e-12).log() - student.clamp_min(1e-12).log())).sum(-1)
        terms.append((kl * weights).sum() / weights.sum().clamp_min(1.0))
    if not terms:
        raise ValueError("attention transfer needs at least one assigned head pair")
    return torch.stack(terms).mean()


def _head_layers(nodes) -> list[int]:
    """The layers of the heads among `nodes`, in order."""
    return sorted({layer for kind, layer, _ in map(parse_node, nodes) if kind == "head"})


class AttentionGuide:
    """The student's forward pass that also returns the attention-transfer loss."""

    def __init__(self, teacher: HookedClassifier, guidance: Guidance):
        self.teacher_layers = _head_layers(guidance.assignment)
        self.student_layers = _head_layers(guidance.assignment.values())
        if not self.teacher_layers:
            raise ValueError(
                f"the teacher circuit {guidance.teacher_circuit} has no head to transfer "
                "attention from; use kd+causal or another suite"
            )
        self.teacher, self.guidance = teacher.eval(), guidance

    def __call__(self, student: HookedClassifier, rows: Batch, step: int) -> tuple[Tensor, Tensor]:
        patterns: dict[int, Tensor] = {}

        def keep(tensor: Tensor, hook, layer: int) -> None:
            patterns[layer] = tensor

        hooks = [
            (block_hook(layer, "attn.hook_pattern"), partial(keep, layer=layer))
            for layer in self.student_layers
        ]
        with student.hooks(fwd_hooks=hooks):
            logits = student(rows)
        names = [block_hook(layer, "attn.hook_pattern") for layer in self.teacher_layers]
        with torch.no_grad():
            _, cache = self.teacher.run_with_cache(rows, names_filter=names)
        teacher_patterns = {layer: cache[name] for layer, name in zip(self.teacher_layers, names)}
        mask = real_positions(rows).float()
        loss = attention_transfer_loss(teacher_patterns, patterns, self.guidance.assignment, mask)
        return logits, self.guidance.weight * loss


def _source_rows(rows: Batch) -> Batch:
    """The batch rolled by one example: each example's interchange source is its neighbour."""
    order = torch.roll(torch.arange(len(rows)), 1)
    return rows[order.tolist()]


def interchange(model: HookedClassifier, base: Batch, source: Batch, node: str) -> Tensor:
    """`model`'s output on `base` with `node`'s output taken from `source` (a head's `hook_z`
    slice, or an MLP's output), at the positions real in both inputs. Returns the logits."""
    kind, layer, head = parse_node(node)
    name = hook_name(kind, layer)
    with torch.no_grad():
        _, cache = model.run_with_cache(source, names_filter=[name])
    donor = cache[name]
    shared = real_positions(base) & real_positions(source)  # [batch, pos]

    def swap(tensor: Tensor, hook) -> Tensor:
        replaced = tensor.clone()
        value = donor[:, :, head] if kind == "head" else donor
        current = tensor[:, :, head] if kind == "head" else tensor
        mask = shared.view(*shared.shape, *([1] * (value.ndim - 2)))
        value = torch.where(mask, value, current)
        if kind == "head":
            replaced[:, :, head] = value
        else:
            replaced = value
        return replaced

    with model.hooks(fwd_hooks=[(name, swap)]):
        return model(base)


def interchange_loss(
    teacher: HookedClassifier,
    student: HookedClassifier,
    base: Batch,
    source: Batch,
    teacher_node: str,
    student_node: str,
    temperature: float = 2.0,
) -> Tensor:
    """T^2 KL(teacher_T || student_T) of the two models' outputs under the interchange of the
    assigned components (the teacher side without gradient)."""
    with torch.no_grad():
        target = interchange(teacher, base, source, teacher_node)
    intervened = interchange(student, base, source, student_node)
    return distillation_term(intervened, target, temperature)


class CausalGuide:
    """The student's forward pass plus the interchange loss of one assigned pair per step."""

    def __init__(self, teacher: HookedClassifier, guidance: Guidance, temperature: float = 2.0):
        if not guidance.assignment:
            raise ValueError("causal distillation needs at least one assigned component")
        self.teacher, self.guidance, self.temperature = teacher.eval(), guidance, temperature
        self.pairs = sorted(guidance.assignment.items())

    def __call__(self, student: HookedClassifier, rows: Batch, step: int) -> tuple[Tensor, Tensor]:
        logits = student(rows)
        teacher_node, student_node = self.pairs[step % len(self.pairs)]
        loss = interchange_loss(
            self.teacher,
            student,
            rows,
            _source_rows(rows),
            teacher_node,
            student_node,
            self.temperature,
        )
        return logits, self.guidance.weight * loss
