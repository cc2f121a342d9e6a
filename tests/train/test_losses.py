"""Each loss against a value computed by hand on a tiny batch."""

import math

import pytest
import torch

from interp.losses import (
    confreg_loss,
    confreg_targets,
    erm_loss,
    kd_loss,
    poe_loss,
    reweight_loss,
)

LOGITS = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
LABELS = torch.tensor([0, 2])
BIAS = torch.tensor([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]])


def ce(logits, label):
    return -logits[label] + math.log(sum(math.exp(v) for v in logits))


def test_erm_is_mean_cross_entropy():
    expected = (ce([2, 0, 0], 0) + ce([0, 1, 0], 2)) / 2
    assert erm_loss(LOGITS, LABELS).item() == pytest.approx(expected, abs=1e-6)


def test_reweight_weights_by_one_minus_bias_gold_probability():
    w0, w1 = 1 - 0.5, 1 - 0.6
    expected = (w0 * ce([2, 0, 0], 0) + w1 * ce([0, 1, 0], 2)) / (w0 + w1)
    assert reweight_loss(LOGITS, LABELS, BIAS.log()).item() == pytest.approx(expected, abs=1e-6)


def test_poe_adds_bias_log_probabilities_before_the_softmax():
    def row(logits, bias, label):
        log_softmax = [v - math.log(sum(math.exp(u) for u in logits)) for v in logits]
        combined = [a + math.log(b) for a, b in zip(log_softmax, bias)]
        return ce(combined, label)

    expected = (row([2, 0, 0], [0.5, 0.25, 0.25], 0) + row([0, 1, 0], [0.2, 0.2, 0.6], 2)) / 2
    assert poe_loss(LOGITS, LABELS, BIAS.log()).item() == pytest.approx(expected, abs=1e-6)


def test_confreg_scales_the_teacher_by_one_minus_bias_gold():
    teacher = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    targets = confreg_targets(teacher, LABELS, BIAS.log())
    scaled = [v ** (1 - 0.5) for v in (0.7, 0.2, 0.1)]
    assert targets[0].tolist() == pytest.approx([v / sum(scaled) for v in scaled], abs=1e-6)
    second = [v ** (1 - 0.6) for v in (0.1, 0.3, 0.6)]
    second = [v / sum(second) for v in second]
    log_probs = [v - math.log(sum(math.exp(u) for u in (0, 1, 0))) for v in (0, 1, 0)]
    first = [v / sum(scaled) for v in scaled]
    log_probs0 = [v - math.log(sum(math.exp(u) for u in (2, 0, 0))) for v in (2, 0, 0)]
    expected = (
        -sum(t * lp for t, lp in zip(first, log_probs0))
        - sum(t * lp for t, lp in zip(second, log_probs))
    ) / 2
    assert confreg_loss(LOGITS, LABELS, teacher, BIAS.log()).item() == pytest.approx(
        expected, abs=1e-6
    )


def test_kd_mixes_hard_loss_and_scaled_kl_at_temperature():
    teacher_logits = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.0, 2.0]])
    temperature, alpha = 2.0, 0.3

    def softmax(values):
        exps = [math.exp(v / temperature) for v in values]
        return [e / sum(exps) for e in exps]

    kl = 0.0
    for s, t in zip(LOGITS.tolist(), teacher_logits.tolist()):
        ps, pt = softmax(s), softmax(t)
        kl += sum(b * math.log(b / a) for a, b in zip(ps, pt))
    kl /= 2
    hard = torch.tensor(0.8)
    expected = alpha * 0.8 + (1 - alpha) * temperature**2 * kl
    value = kd_loss(LOGITS, teacher_logits, hard, temperature=temperature, alpha=alpha)
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_kd_rejects_bad_settings():
    with pytest.raises(ValueError, match="alpha"):
        kd_loss(LOGITS, LOGITS, torch.tensor(0.0), alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(LOGITS, LOGITS, torch.tensor(0.0), temperature=0)


def test_a_new_loss_is_one_registry_entry(monkeypatch):
    """Manifest validation and the training objective both read interp.losses.HARD_LOSSES."""
    from interp.losses import HARD_LOSSES, HardLoss, parse_loss
    from interp.manifest import Recipe
    from interp.train.recipes import make_objective, needs_bias_model, needs_teacher

    with pytest.raises(ValueError, match="unknown loss 'kd\\+focal'.*debias: reweight, poe"):
        Recipe(arch="teacher", loss="kd+focal")
    focal = HardLoss(
        "focal",
        "a test loss: twice the cross-entropy",
        lambda logits, gold, bias, teacher: 2 * erm_loss(logits, gold),
        needs_bias_model=False,
    )
    monkeypatch.setitem(HARD_LOSSES, "focal", focal)
    recipe = Recipe(arch="teacher", loss="nokd+focal")
    assert parse_loss("kd+focal").distil and not needs_bias_model("nokd+focal")
    assert needs_teacher("kd+focal") and not needs_teacher("nokd+focal")
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    gold = torch.tensor([0, 1, 2, 0])
    objective = make_objective(recipe, None, None, None)
    assert torch.allclose(objective(logits, gold, torch.arange(4)), 2 * erm_loss(logits, gold))
