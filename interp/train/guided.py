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

import re
from dataclasses import asdict, dataclass
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from interp.analysis import analyse_model
from interp.contrast import contrast_pairs, separated_pairs
from interp.diff import depth_layer_map, init_layer_map
from interp.models import Batch, HookedClassifier
from probes.core import ProbeSet

GuideKind = Literal["attention", "causal"]
NODE = re.compile(r"^(?:a(\d+)\.h(\d+)|m(\d+))$")


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


def _parse(node: str) -> tuple[str, int, int | None]:
    """('head', layer, head) or ('mlp', layer, None); a ValueError for other names."""
    match = NODE.match(node)
    if not match:
        raise ValueError(f"'{node}' is not a head (a<layer>.h<head>) or an MLP (m<layer>)")
    if match.group(3) is not None:
        return "mlp", int(match.group(3)), None
    return "head", int(match.group(1)), int(match.group(2))


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
    parsed = sorted((_parse(node), node) for node in teacher_circuit)

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
            assignment[node] = f"a{target}.h{head % n_student_heads}"
    return assignment


MIN_SEPARATED = 8  # as the study: fewer separated pairs than this, use every pair


def find_teacher_circuit(
    teacher: HookedClassifier,
    suite: ProbeSet,
    target: float = 0.8,
    n_pairs: int = 64,
    min_separation: float = 0.5,
) -> tuple[list[str], float | None]:
    """The teacher's circuit on the suite's minimal pairs it separates (as `interp study`
    selects them) and its faithfulness; a ValueError when the circuit is empty."""
    kept = separated_pairs(teacher, suite, min_separation)
    only = kept if len(kept) >= MIN_SEPARATED else None
    pairs = contrast_pairs(teacher, suite, n_pairs, teacher.cfg.device, only)
    analysis = analyse_model(teacher, teacher.meta.get("id", "teacher"), suite.name, pairs, target)
    nodes = list(analysis.circuit["nodes"])
    if not nodes:
        raise ValueError(
            f"the teacher has no circuit on '{suite.name}' (it does not tell the pairs apart); "
            "nothing to guide the student with"
        )
    return nodes, analysis.circuit["meta"].get("faithfulness")


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
    for node in teacher_circuit:
        kind_of, layer, head = _parse(node)
        if layer >= teacher.cfg.n_layers or (head is not None and head >= teacher.cfg.n_heads):
            raise ValueError(f"teacher circuit component '{node}' is not in the teacher")
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


def _query_mask(batch: Batch, n_positions: int) -> Tensor:
    """[batch, query] 1.0 at real positions (every position of an image)."""
    if batch.attention_mask is None:
        return torch.ones(len(batch), n_positions, device=batch.pixel_values.device)
    return batch.attention_mask.float()


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
        t_kind, t_layer, t_head = _parse(t_node)
        _, s_layer, s_head = _parse(s_node)
        if t_kind != "head":
            continue
        target = teacher_patterns[t_layer][:, t_head : t_head + 1]
        student = student_patterns[s_layer][:, s_head : s_head + 1]
        kl = (target * (target.clamp_min(1e-12).log() - student.clamp_min(1e-12).log())).sum(-1)
        terms.append((kl * weights).sum() / weights.sum().clamp_min(1.0))
    if not terms:
        raise ValueError("attention transfer needs at least one assigned head pair")
    return torch.stack(terms).mean()


def _heads_by_layer(assignment: dict[str, str], side: int) -> set[int]:
    nodes = assignment if side == 0 else assignment.values()
    return {_parse(n)[1] for n in nodes if _parse(n)[0] == "head"}


class AttentionGuide:
    """The student's forward pass that also returns the attention-transfer loss."""

    def __init__(self, teacher: HookedClassifier, guidance: Guidance):
        if not any(_parse(n)[0] == "head" for n in guidance.assignment):
            raise ValueError(
                f"the teacher circuit {guidance.teacher_circuit} has no head to transfer "
                "attention from; use kd+causal or another suite"
            )
        self.teacher, self.guidance = teacher.eval(), guidance
        self.teacher_layers = sorted(_heads_by_layer(guidance.assignment, 0))
        self.student_layers = sorted(_heads_by_layer(guidance.assignment, 1))

    def __call__(self, student: HookedClassifier, rows: Batch, step: int) -> tuple[Tensor, Tensor]:
        patterns: dict[int, Tensor] = {}

        def keep(tensor: Tensor, hook, layer: int) -> None:
            patterns[layer] = tensor

        hooks = [
            (f"blocks.{layer}.attn.hook_pattern", partial(keep, layer=layer))
            for layer in self.student_layers
        ]
        with student.hooks(fwd_hooks=hooks):
            logits = student(rows)
        names = [f"blocks.{layer}.attn.hook_pattern" for layer in self.teacher_layers]
        with torch.no_grad():
            _, cache = self.teacher.run_with_cache(rows, names_filter=names)
        teacher_patterns = {layer: cache[name] for layer, name in zip(self.teacher_layers, names)}
        mask = _query_mask(rows, patterns[self.student_layers[0]].shape[-1])
        loss = attention_transfer_loss(teacher_patterns, patterns, self.guidance.assignment, mask)
        return logits, self.guidance.weight * loss


def _hook_name(node: str) -> str:
    kind, layer, _ = _parse(node)
    return f"blocks.{layer}.attn.hook_z" if kind == "head" else f"blocks.{layer}.hook_mlp_out"


def _source_rows(rows: Batch) -> Batch:
    """The batch rolled by one example: each example's interchange source is its neighbour."""
    order = torch.roll(torch.arange(len(rows)), 1)
    return rows[order.tolist()]


def _shared_positions(base: Batch, source: Batch) -> Tensor | None:
    """[batch, pos] positions real in both (None: images, every position)."""
    if base.attention_mask is None:
        return None
    return base.attention_mask.bool() & source.attention_mask.bool()


def interchange(model: HookedClassifier, base: Batch, source: Batch, node: str) -> Tensor:
    """`model`'s output on `base` with `node`'s output taken from `source` (a head's `hook_z`
    slice, or an MLP's output), at the positions real in both inputs. Returns the logits."""
    kind, _, head = _parse(node)
    name = _hook_name(node)
    with torch.no_grad():
        _, cache = model.run_with_cache(source, names_filter=[name])
    donor = cache[name]
    shared = _shared_positions(base, source)

    def swap(tensor: Tensor, hook) -> Tensor:
        replaced = tensor.clone()
        value = donor[:, :, head] if kind == "head" else donor
        current = tensor[:, :, head] if kind == "head" else tensor
        if shared is not None:
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
    teacher_log = F.log_softmax(target / temperature, dim=-1)
    student_log = F.log_softmax(intervened / temperature, dim=-1)
    kl = F.kl_div(student_log, teacher_log, log_target=True, reduction="batchmean")
    return temperature**2 * kl


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
