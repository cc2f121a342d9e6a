"""Circuits and diffs in words: what a circuit is worth after its controls.

A circuit is a finding only when it beats random circuits of its shape (`interp.chance`) and
takes at most DISTRIBUTED_SHARE of the model's units; a faithful circuit larger than that says
that the behaviour is spread over the model, and the report says so instead of drawing it.
Specificity (`interp.specificity`) is reported beside, whichever way it goes.
"""

from __future__ import annotations

from interp.io import defined
from interp.results import CircuitDiff, DiffDetails, ModelAnalysis, Specificity
from interp.units import unit_names

DISTRIBUTED_SHARE = 0.25  # a circuit above this share of the units is no localised mechanism


def _units(analysis: ModelAnalysis) -> int:
    return len(unit_names(analysis.n_layers, analysis.n_heads, analysis.units))


def circuit_status(analysis: ModelAnalysis) -> str:
    """One of: no behaviour, unchecked, chance, distributed, finding."""
    if not defined(analysis.circuit.meta.faithfulness) or not analysis.circuit.nodes:
        return "no behaviour"
    chance = analysis.chance
    if chance is None or chance.beats_chance is None:
        return "unchecked"
    if not chance.beats_chance:
        return "chance"
    if len(analysis.circuit.nodes) > DISTRIBUTED_SHARE * _units(analysis):
        return "distributed"
    return "finding"


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def circuit_sentences(analysis: ModelAnalysis) -> list[str]:
    """The circuit, its ranking, its chance baseline, its specificity and MIB scores."""
    circuit, meta = analysis.circuit, analysis.circuit.meta
    if not defined(meta.faithfulness):
        return ["no circuit: the model does not tell clean from corrupt inputs apart"]
    total = _units(analysis)
    size = len(circuit.nodes)
    reached = (
        "" if meta.reached in (True, None) else f" (no circuit reaches the target {meta.rule})"
    )
    lines = [
        f"circuit of {size} of {total} {analysis.units} units ("
        f"{_percent(size / total)}), faithfulness {meta.faithfulness:.2f}{reached}: "
        f"{', '.join(circuit.nodes) or 'none'}"
    ]
    choice = analysis.units_choice
    if choice:
        estimates = ", ".join(f"{u} {t:.0f} s" for u, t in choice.estimated_s.items())
        lines.append(
            f"units: {choice.chosen}, the finest whose estimated analysis time fits the "
            f"{choice.budget_s:.0f} s budget (estimates: {estimates})"
        )
    method, rho = analysis.attribution_method, analysis.spearman
    if analysis.ranking == "exact":
        lines.append(
            f"ranked by exact patching: the {method} ranking is unreliable here (Spearman "
            f"{rho:.2f} with exact patching, below 0.6)"
        )
    else:
        lines.append(f"ranked by {method} (Spearman {rho:.2f} with exact patching)")
    chance = analysis.chance
    if chance and chance.beats_chance is not None:
        verdict = "beats chance" if chance.beats_chance else "does NOT beat chance"
        lines.append(
            f"{verdict}: above {chance.percentile:.1f}% of {chance.n_samples} random "
            f"circuits of its shape (p = {chance.p_value:.3f}; their 95th percentile "
            f"{chance.random_p95:.2f}, mean {chance.random_mean:.2f})"
        )
    elif chance:
        lines.append("no chance baseline: no other circuit has its shape")
    if circuit_status(analysis) == "distributed":
        lines.append(
            f"distributed: the smallest faithful circuit takes {_percent(size / total)} of the "
            f"units (more than {_percent(DISTRIBUTED_SHARE)}), so it locates no mechanism"
        )
    lines += specificity_sentences(analysis.specificity)
    mib = analysis.curve.mib
    lines.append(f"MIB scores of the ranking: CPR {_number(mib.cpr)}, CMD {_number(mib.cmd)}")
    edge = analysis.curve.edge_mib
    if edge:
        lines.append(
            f"over edge fractions (EAP-IG edge ranking): CPR {_number(edge.cpr)}, CMD "
            f"{_number(edge.cmd)}"
        )
    return lines


def specificity_sentences(specificity: Specificity | None) -> list[str]:
    if not specificity:
        return []
    target = specificity.target.damage
    if target is None or specificity.control_damage is None:
        return ["specificity undefined: too few examples the model answers right"]
    controls = ", ".join(
        f"{name} {_percent(d.damage)}"
        for name, d in specificity.controls.items()
        if d.damage is not None
    )
    verdict = "specific" if specificity.specific else "NOT specific"
    return [
        f"{verdict}: ablating it removes {_percent(target)} of the margin on its own pairs and "
        f"up to {_percent(specificity.control_damage)} on controls ({controls})"
    ]


def cross_faithfulness_text(extra: DiffDetails, direction: str) -> str:
    """One direction of a diff's cross-faithfulness with its interval: `0.72 [0.65, 0.79]`."""
    value = getattr(extra.cross_faithfulness, direction)
    interval = getattr(extra.cross_faithfulness_interval, direction)
    if not defined(value):
        return "n/a"
    if not all(defined(v) for v in interval):
        return f"{value:.2f}"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _number(value) -> str:
    return f"{value:.2f}" if defined(value) else "n/a"


def mechanism_sentence(diff: CircuitDiff) -> str:
    if diff.extra is None:
        return "mechanism: not judged"
    return f"mechanism {diff.extra.mechanism.verdict}: {diff.extra.mechanism.why}"
