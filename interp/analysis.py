"""Everything the study measures inside one model on one probe suite.

For a model and the suite's minimal pairs: attribution of every unit (EAP-IG by default; heads
and MLPs, each of them at [CLS] and elsewhere, or the edges between them in pre-norm models:
`interp.units`), exact denoising of every unit
as the reference, their rank agreement, the faithfulness curve of the ranking (with MIB's CPR and
CMD), the smallest circuit reaching a target faithfulness, that circuit against random circuits
of its shape (`interp.chance`) and, given control examples, its specificity
(`interp.specificity`), edge scores inside the circuit (pre-norm models), and per-head attention
statistics on the clean inputs.

Where the attribution ranks units unlike exact patching (Spearman below RELIABLE_SPEARMAN), the
ranking is unreliable and the circuit is built from the exact effects instead; the analysis
records which ranking built it.

EAP-IG over the input path is the default ranking because it finds the smallest faithful
circuits on the zoo (`make bench`, attribution section), although plain EAP tracks the effect
of patching one node alone more closely: when several components carry the same signal, EAP-IG
shares the joint effect among them, which is what a circuit's faithfulness measures.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from scipy.stats import spearmanr

from interp import defaults
from interp.attention import head_statistics
from interp.attribution import Method, NodeScores, attribute_edges, attribute_nodes
from interp.chance import chance_baseline
from interp.chunking import batch_chunks
from interp.circuits import (
    MIB_FRACTIONS,
    circuit_from_curve,
    denoise_units,
    faithfulness_curve,
)
from interp.contrast import ContrastPairs
from interp.controls import Controls
from interp.edges import check_edges
from interp.io import defined
from interp.models import HookedClassifier
from interp.patching import metric_rows, patch_components
from interp.results import ModelAnalysis
from interp.seeding import rng_for
from interp.specificity import ExampleSet, specificity
from interp.units import UNITS, Units, check_units, head_name, unit_names
from probes.tasks import cue_words

SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>")
RELIABLE_SPEARMAN = 0.6  # below: the attribution ranking is unreliable, exact effects rank


def special_ids(model: HookedClassifier) -> list[int]:
    if model.tokenizer is None:
        return []
    found = [model.tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    return [i for i in found if i is not None]


def negation_ids(model: HookedClassifier) -> list[int]:
    if model.tokenizer is None:
        return []
    found = [model.tokenizer.token_to_id(word) for word in cue_words()]
    return [i for i in found if i is not None]


def _node_of_input(name: str) -> str:
    """`a2.h1.q` -> `a2.h1`; `m1` and `logits` stay."""
    return name.rsplit(".", 1)[0] if name.count(".") == 2 else name


def _all_edge_scores(model, pairs: ContrastPairs, steps: int, batch_size: int | None) -> dict:
    """EAP-IG scores of every edge (pre-norm models; empty for post-norm ones)."""
    if model.cfg.norm != "pre":
        return {}
    scores, _ = attribute_edges(
        model, pairs.clean, pairs.corrupt, pairs.metric(), steps=steps, batch_size=batch_size
    )
    return scores.edges()


def _circuit_edges(scores: dict[str, float], nodes: list[str]) -> dict[str, float]:
    """Edge scores among circuit nodes (plus the embeddings and logits)."""
    keep = set(nodes) | {"embed", "logits"}
    return {
        name: value
        for name, value in scores.items()
        if name.split("->")[0] in keep and _node_of_input(name.split("->")[1]) in keep
    }


def edge_mib(model, pairs: ContrastPairs, scores: dict[str, float], batch_size) -> dict:
    """MIB's CPR and CMD over edge fractions: the edges ranked by `scores`, each top fraction
    evaluated as an edge circuit by exact edge patching (`interp.edges`)."""
    names = unit_names(model.cfg.n_layers, model.cfg.n_heads, "edge")
    ranked = NodeScores(torch.tensor([scores[n] for n in names]), names)
    sizes = [int(fraction * len(names)) for fraction in MIB_FRACTIONS]
    curve = faithfulness_curve(
        model,
        pairs.clean,
        pairs.corrupt,
        pairs.metric(),
        ranked,
        sizes=sizes,
        batch_size=batch_size,
    )
    return curve["mib"]


@torch.no_grad()
def mean_metrics(
    model: HookedClassifier, pairs: ContrastPairs, batch_size: int | None = None
) -> tuple[float, float]:
    """Mean metric on the clean and on the corrupt inputs, streamed over chunks."""
    n = len(pairs.clean)
    sums = [0.0, 0.0]
    metric = pairs.metric()
    for part in batch_chunks(model.cfg, pairs.clean, batch_size):
        chunk_metric = metric_rows(metric, part, n)
        sums[0] += float(chunk_metric(model(pairs.clean[part])).sum())
        sums[1] += float(chunk_metric(model(pairs.corrupt[part])).sum())
    return sums[0] / n, sums[1] / n


# The forward rate that converts an analysis's FLOPs into seconds when `units="auto"` picks the
# finest units within a time budget: a fixed figure (measured on a 2-core CPU machine, see
# README), so that the choice, and with it the results, do not depend on timing noise.
FLOPS_PER_SECOND = 5e10
UNIT_ORDER: tuple[str, ...] = ("position", "node")  # finest first


def analysis_flops(
    model: HookedClassifier, pairs: ContrastPairs, units: str, steps: int, chance_samples: int
) -> float:
    """Estimated FLOPs of one analysis: forward passes over the pairs (exact denoising of each
    unit, the faithfulness curve, the chance baseline, attribution) at 2 FLOPs per block
    parameter and token."""
    cfg = model.cfg
    n_units = len(unit_names(cfg.n_layers, cfg.n_heads, units))
    curve_points = len(curve_sizes(n_units, units) or range(n_units + 1))
    passes = n_units + (curve_points + 2) + (chance_samples + 2) + 3 * (steps + 1)
    block_params = sum(p.numel() for p in model.blocks.parameters())
    batch = pairs.clean
    tokens = (
        int(batch.attention_mask.shape[0] * batch.attention_mask.shape[1])
        if batch.attention_mask is not None
        else len(pairs) * cfg.n_positions
    )
    return float(passes) * 2.0 * block_params * tokens


def choose_units(
    model: HookedClassifier,
    pairs: ContrastPairs,
    budget_s: float,
    steps: int = 5,
    chance_samples: int = defaults.CHANCE_SAMPLES,
) -> tuple[str, dict]:
    """The finest units whose estimated analysis time fits `budget_s` (node units when none
    does), and the estimates in seconds behind the choice."""
    estimates = {
        units: analysis_flops(model, pairs, units, steps, chance_samples) / FLOPS_PER_SECOND
        for units in UNIT_ORDER
    }
    chosen = next((u for u in UNIT_ORDER if estimates[u] <= budget_s), UNIT_ORDER[-1])
    return chosen, {"budget_s": budget_s, "estimated_s": estimates, "chosen": chosen}


def _exact_effects(model, pairs, metric, units: Units, corrupt_value, batch_size) -> dict:
    """Exact denoising effect of every unit (metric minus the corrupt metric)."""
    cfg = model.cfg
    if units in ("position", "edge"):
        names = unit_names(cfg.n_layers, cfg.n_heads, units)
        values = denoise_units(
            model, pairs.clean, pairs.corrupt, metric, names, batch_size=batch_size
        )
        return {name: float(v) - corrupt_value for name, v in zip(names, values)}
    chunked = dict(batch_size=batch_size)
    heads = patch_components(model, pairs.clean, pairs.corrupt, metric, "head", **chunked)
    mlps = patch_components(model, pairs.clean, pairs.corrupt, metric, "mlp", **chunked)
    heads, mlps = heads - corrupt_value, mlps - corrupt_value
    exact = {}
    for layer in range(cfg.n_layers):
        for head in range(cfg.n_heads):
            exact[head_name(layer, head)] = float(heads[layer, head])
        exact[f"m{layer}"] = float(mlps[layer])
    return exact


EDGE_CURVE_POINTS = 40  # circuit sizes on the edge faithfulness curve, besides MIB's


def curve_sizes(n_units: int, units: str) -> list[int] | None:
    """The circuit sizes a faithfulness curve evaluates: every size for nodes and positions;
    for edges (hundreds or thousands) MIB's sizes and EDGE_CURVE_POINTS sizes spaced
    geometrically from 1 to every edge."""
    if units != "edge":
        return None
    grid = np.unique(np.geomspace(1, n_units, EDGE_CURVE_POINTS).round().astype(int))
    mib = [int(fraction * n_units) for fraction in MIB_FRACTIONS]
    return sorted({0, n_units, *grid.tolist(), *mib})


def _attribution(model, pairs, metric, method, steps, units, batch_size) -> NodeScores:
    """Attribution scores of every unit (for edges, `attribute_edges` in edge-name order)."""
    if units != "edge":
        return attribute_nodes(
            model,
            pairs.clean,
            pairs.corrupt,
            metric,
            method,
            steps,
            units=units,
            batch_size=batch_size,
        )
    scores, _ = attribute_edges(
        model, pairs.clean, pairs.corrupt, metric, method, steps, batch_size=batch_size
    )
    by_name = scores.edges()
    names = unit_names(model.cfg.n_layers, model.cfg.n_heads, "edge")
    return NodeScores(torch.tensor([by_name[n] for n in names]), names)


@dataclass(frozen=True)
class AnalysisSettings:
    """How a model is analysed: the one object the commands build from their options and the
    study from its configuration. The defaults are the commands' (`interp.defaults`)."""

    target: float = defaults.TARGET  # faithfulness a circuit must reach
    ig_steps: int = defaults.IG_STEPS  # integration steps of EAP-IG
    attribution: Method = defaults.ATTRIBUTION  # eap, eap-ig or eap-ig-activations
    units: Units | str = defaults.UNITS  # node, position, edge, or auto (`choose_units`)
    chance_samples: int = defaults.CHANCE_SAMPLES  # random circuits per circuit; 0: none
    time_budget_s: float = defaults.TIME_BUDGET_S  # with units auto
    batch_size: int | None = None  # pairs per chunk; None: from the model size

    @classmethod
    def of(cls, options) -> AnalysisSettings:
        """The settings from an object with attributes of the same names: a study's
        configuration, or the parsed options of `interp circuit`, `diff` and `study`."""
        return cls(**{f.name: getattr(options, f.name) for f in fields(cls)})

    def check(self) -> None:
        """A ValueError naming the command-line option of a setting out of its range."""
        if self.units not in ("auto", *UNITS):
            raise ValueError(f"--units {self.units}: auto, {' or '.join(UNITS)}")
        if not self.chance_samples >= 0:
            raise ValueError(f"--chance-samples {self.chance_samples}: 0 (none) or more")
        if not self.time_budget_s > 0 or self.time_budget_s == float("inf"):
            raise ValueError(f"--time-budget {self.time_budget_s}: a positive number of seconds")


def analyse_model(
    model: HookedClassifier,
    model_id: str,
    suite: str,
    pairs: ContrastPairs,
    settings: AnalysisSettings | None = None,
    controls: Controls | None = None,
    **changes,
) -> ModelAnalysis:
    """Attribution, exact patching, circuit, its chance baseline and specificity, and attention
    statistics (module docstring), with `settings` (default `AnalysisSettings()`; keyword
    `changes` replace single fields, e.g. `units="node"`), each streamed over chunks of
    `batch_size` pairs. `chance_samples=0` skips the chance baseline. `units="auto"`: the
    finest units whose estimated analysis time fits `time_budget_s` (`choose_units`)."""
    settings = replace(settings or AnalysisSettings(), **changes)
    settings.check()
    steps, batch_size = settings.ig_steps, settings.batch_size
    units, units_choice = settings.units, None
    if units == "auto":
        units, units_choice = choose_units(
            model, pairs, settings.time_budget_s, steps, settings.chance_samples
        )
    check_units(units)
    if units == "edge":
        check_edges(model)
    metric = pairs.metric()
    model.eval()
    clean_value, corrupt_value = mean_metrics(model, pairs, batch_size)
    scores = _attribution(model, pairs, metric, settings.attribution, steps, units, batch_size)
    exact = _exact_effects(model, pairs, metric, units, corrupt_value, batch_size)
    attribution = scores.as_dict()
    names = list(attribution)
    rho = spearmanr([attribution[n] for n in names], [exact[n] for n in names]).statistic
    ranking = "attribution"
    if not rho >= RELIABLE_SPEARMAN:  # NaN too: a ranking that cannot be checked
        ranking = "exact"
        scores = NodeScores(torch.tensor([exact[n] for n in names]), names)
    sizes = curve_sizes(len(names), units)
    curve = faithfulness_curve(
        model, pairs.clean, pairs.corrupt, metric, scores, sizes=sizes, batch_size=batch_size
    )
    circuit = circuit_from_curve(curve, scores, settings.target)
    circuit.meta.ranking = ranking
    chance = None
    if circuit.nodes and settings.chance_samples > 0:
        rng = rng_for("chance", model_id, suite, units)
        chance = chance_baseline(
            model, pairs, circuit.nodes, settings.chance_samples, rng, batch_size
        )
    specific = None
    if circuit.nodes and controls is not None and defined(circuit.meta.faithfulness):
        target_set = ExampleSet(pairs.clean, pairs.gold, pairs.foil)
        specific = specificity(
            model, circuit.nodes, target_set, controls.examples, controls.reference, batch_size
        )
    edges, edges_mib = _edges_of(model, pairs, circuit, attribution, units, steps, batch_size)
    if edges_mib is not None:
        curve["edge_mib"] = edges_mib
    circuit.edges = sorted(edges)
    stats = head_statistics(
        model, pairs.clean, special_ids(model), negation_ids(model), batch_size=batch_size
    )
    return ModelAnalysis(
        model=model_id,
        suite=suite,
        n_pairs=len(pairs),
        attribution_method=settings.attribution,
        clean_metric=clean_value,
        corrupt_metric=corrupt_value,
        attribution=attribution,
        exact=exact,
        spearman=float(rho),
        curve=curve,
        circuit=circuit,
        edges=edges,
        head_stats={k: v.tolist() for k, v in stats.items()},  # NaN: undefined, never 0
        n_layers=model.cfg.n_layers,
        n_heads=model.cfg.n_heads,
        units=units,
        ranking=ranking,
        chance=chance,
        specificity=specific,
        units_choice=units_choice,
    )


def _edges_of(model, pairs: ContrastPairs, circuit, attribution, units, steps, batch_size):
    """The circuit's edges with their scores, and at node units of a pre-norm model MIB's
    scores of the EAP-IG edge ranking over edge fractions (None otherwise)."""
    if units == "edge":
        return {name: attribution[name] for name in circuit.nodes}, None
    if units != "node":
        return {}, None
    every_edge = _all_edge_scores(model, pairs, steps, batch_size)
    edges = _circuit_edges(every_edge, circuit.nodes)
    if every_edge and defined(circuit.meta.faithfulness):
        return edges, edge_mib(model, pairs, every_edge, batch_size)
    return edges, None
