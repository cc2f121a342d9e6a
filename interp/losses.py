"""Training losses: ERM, debiasing (reweighting, product of experts, confidence regularisation)
and knowledge distillation, each a function of logits and per-example side information; and
the registry of loss names a recipe may use (`HARD_LOSSES`, `parse_loss`), read by manifest
validation and by training alike, so that a new loss is one function and one entry here.

A recipe's `loss` is one of: a hard loss by name (`erm`, `reweight`, `poe`, `confreg`); `kd`
(distillation with cross-entropy on gold labels); `kd+<debiasing loss>` (distillation with that
loss on gold labels); `nokd+<debiasing loss>` (a student trained with that loss alone, named so
beside its KD sibling); `kd+<guide>` (distillation plus a circuit-guided loss, `GUIDES`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

Logits = Float[Tensor, "batch n_labels"]
Labels = Int[Tensor, " batch"]


def erm_loss(logits: Logits, labels: Labels) -> Tensor:
    """Cross-entropy, averaged over the batch."""
    return F.cross_entropy(logits, labels)


def reweight_loss(logits: Logits, labels: Labels, bias_log_probs: Logits) -> Tensor:
    """Cross-entropy weighted by 1 - p_b(gold), the weights normalised over the batch.

    Examples the bias model already gets right count little; bias-conflicting ones count most.
    """
    weights = 1.0 - bias_log_probs.exp().gather(1, labels[:, None]).squeeze(1)
    per_example = F.cross_entropy(logits, labels, reduction="none")
    return (weights * per_example).sum() / weights.sum().clamp_min(1e-12)


def poe_loss(logits: Logits, labels: Labels, bias_log_probs: Logits) -> Tensor:
    """Product of experts: cross-entropy of log_softmax(z) + log p_b.

    The bias model explains what it can, so the main model's gradient comes from what it cannot.
    Only `logits` are used at test time.
    """
    return F.cross_entropy(F.log_softmax(logits, dim=-1) + bias_log_probs, labels)


def confreg_targets(teacher_probs: Logits, labels: Labels, bias_log_probs: Logits) -> Tensor:
    """Scaled teacher distribution p_t^(1 - p_b(gold)), renormalised (Utama et al., 2020)."""
    bias_gold = bias_log_probs.exp().gather(1, labels[:, None])  # [batch, 1]
    scaled = teacher_probs.clamp_min(1e-12) ** (1.0 - bias_gold)
    return scaled / scaled.sum(-1, keepdim=True)


def confreg_loss(
    logits: Logits, labels: Labels, teacher_probs: Logits, bias_log_probs: Logits
) -> Tensor:
    """Confidence regularisation: cross-entropy against the scaled teacher distribution."""
    targets = confreg_targets(teacher_probs, labels, bias_log_probs)
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()


def distillation_term(student_logits: Logits, teacher_logits: Logits, temperature: float) -> Tensor:
    """T^2 * KL(teacher_T || student_T), averaged over the batch."""
    teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    student = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(student, teacher, log_target=True, reduction="batchmean")
    return temperature**2 * kl


def kd_loss(
    student_logits: Logits,
    teacher_logits: Logits,
    hard_loss: Tensor,
    temperature: float = 2.0,
    alpha: float = 0.5,
) -> Tensor:
    """alpha * hard_loss + (1 - alpha) * T^2 * KL(teacher_T || student_T).

    `hard_loss` is the cross-entropy on gold labels for plain KD, or a debiasing loss for
    `kd+<debias>` recipes.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    soft = distillation_term(student_logits, teacher_logits, temperature)
    return alpha * hard_loss + (1.0 - alpha) * soft


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class HardLoss:
    """A loss on gold labels: what it reads beside the logits, and how it is computed from
    (logits, gold, bias model log-probabilities, teacher probabilities)."""

    name: str
    description: str
    compute: Callable[[Logits, Labels, Tensor | None, Tensor | None], Tensor]
    debiasing: bool = True  # may follow kd+ / nokd+
    needs_bias_model: bool = True
    needs_teacher: bool = False  # confidence regularisation scales the teacher's distribution


HARD_LOSSES: dict[str, HardLoss] = {
    loss.name: loss
    for loss in (
        HardLoss(
            "erm",
            "cross-entropy",
            lambda logits, gold, bias, teacher: erm_loss(logits, gold),
            debiasing=False,
            needs_bias_model=False,
        ),
        HardLoss(
            "reweight",
            "cross-entropy weighted by 1 - p_bias(gold)",
            lambda logits, gold, bias, teacher: reweight_loss(logits, gold, bias),
        ),
        HardLoss(
            "poe",
            "product of experts with the bias model",
            lambda logits, gold, bias, teacher: poe_loss(logits, gold, bias),
        ),
        HardLoss(
            "confreg",
            "confidence regularisation: the teacher's distribution scaled by the bias model",
            lambda logits, gold, bias, teacher: confreg_loss(logits, gold, teacher, bias),
            needs_teacher=True,
        ),
    )
}
GUIDES = ("attention", "causal")  # kd+<guide>: KD plus a circuit-guided loss


@dataclass(frozen=True)
class LossName:
    """A recipe's loss, parsed."""

    text: str
    distil: bool  # KD towards the teacher's soft labels
    hard: str  # the HARD_LOSSES entry on gold labels
    guide: str | None = None  # a GUIDES entry

    @property
    def needs_bias_model(self) -> bool:
        return HARD_LOSSES[self.hard].needs_bias_model

    @property
    def needs_teacher(self) -> bool:
        return self.distil or HARD_LOSSES[self.hard].needs_teacher


def known_losses() -> str:
    debiasing = [name for name, loss in HARD_LOSSES.items() if loss.debiasing]
    return (
        f"{', '.join(HARD_LOSSES)}, kd, kd+<debias>, nokd+<debias> (debias: "
        f"{', '.join(debiasing)}), or kd+<guide> ({', '.join(GUIDES)})"
    )


def parse_loss(text: str) -> LossName:
    """The parts of a recipe's loss name; a ValueError listing the known forms otherwise."""
    if text in HARD_LOSSES:
        return LossName(text, distil=False, hard=text)
    if text == "kd":
        return LossName(text, distil=True, hard="erm")
    prefix, _, rest = text.partition("+")
    if prefix == "kd" and rest in GUIDES:
        return LossName(text, distil=True, hard="erm", guide=rest)
    if prefix in ("kd", "nokd") and rest in HARD_LOSSES and HARD_LOSSES[rest].debiasing:
        return LossName(text, distil=prefix == "kd", hard=rest)
    raise ValueError(f"unknown loss '{text}'; expected {known_losses()}")
