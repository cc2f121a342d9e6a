"""Everything the study measures inside one model on one probe suite.

For a model and the suite's minimal pairs: node attribution (EAP-IG by default), exact denoising
of every head and MLP as the reference, their rank agreement, the faithfulness curve of the
attribution ranking, the smallest circuit reaching a target faithfulness, edge scores inside that
circuit (pre-norm models), and per-head attention statistics on the clean inputs.

EAP-IG over the input path is the default ranking because it finds the smallest faithful
circuits on the zoo (`make bench`, attribution section), although plain EAP tracks the effect
of patching one node alone more closely: when several components carry the same signal, EAP-IG
shares the joint effect among them, which is what a circuit's faithfulness measures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from scipy.stats import spearmanr

from interp.attention import head_statistics
from interp.attribution import Method, attribute_edges, attribute_nodes
from interp.chunking import batch_chunks
from interp.circuits import Circuit, circuit_from_curve, faithfulness_curve
from interp.contrast import ContrastPairs
from interp.models import HookedClassifier
from interp.patching import metric_rows, patch_components
from probes.nli.lexicon import NEGATION_WORDS

SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>")


@dataclass
class ModelAnalysis:
    model: str
    suite: str
    n_pairs: int
    clean_metric: float  # mean logit difference on clean inputs
    corrupt_metric: float
    attribution_method: str  # eap, eap-ig or eap-ig-activations
    attribution: dict[str, float]  # node scores of that method
    exact: dict[str, float]  # exact denoising effect of each node (metric minus corrupt metric)
    spearman: float  # attribution vs exact, over nodes
    curve: dict  # faithfulness curve of the attribution ranking
    circuit: dict  # Circuit fields
    edges: dict[str, float]  # edge scores between circuit nodes (empty for post-norm models)
    head_stats: dict[str, list[list[float]]]  # statistic -> [layer][head]; NaN if undefined
    n_layers: int
    n_heads: int

    def circuit_object(self) -> Circuit:
        return Circuit(**self.circuit)


def special_ids(model: HookedClassifier) -> list[int]:
    if model.tokenizer is None:
        return []
    found = [model.tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    return [i for i in found if i is not None]


def negation_ids(model: HookedClassifier) -> list[int]:
    if model.tokenizer is None:
        return []
    found = [model.tokenizer.token_to_id(word) for word in NEGATION_WORDS]
    return [i for i in found if i is not None]


def _node_of_input(name: str) -> str:
    """`a2.h1.q` -> `a2.h1`; `m1` and `logits` stay."""
    return name.rsplit(".", 1)[0] if name.count(".") == 2 else name


def _circuit_edges(
    model, pairs: ContrastPairs, nodes: list[str], steps: int, batch_size: int | None
) -> dict[str, float]:
    """Edge scores among circuit nodes (plus the embeddings and logits); pre-norm text only."""
    if model.cfg.norm != "pre":
        return {}
    scores, _ = attribute_edges(
        model, pairs.clean, pairs.corrupt, pairs.metric(), steps=steps, batch_size=batch_size
    )
    keep = set(nodes) | {"embed", "logits"}
    return {
        name: value
        for name, value in scores.edges().items()
        if name.split("->")[0] in keep and _node_of_input(name.split("->")[1]) in keep
    }


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


def analyse_model(
    model: HookedClassifier,
    model_id: str,
    suite: str,
    pairs: ContrastPairs,
    target: float = 0.8,
    steps: int = 5,
    method: Method = "eap-ig",
    batch_size: int | None = None,
) -> ModelAnalysis:
    """Attribution, exact patching, circuit and attention statistics (module docstring), each
    streamed over chunks of `batch_size` pairs (default: from the model size)."""
    metric = pairs.metric()
    model.eval()
    clean_value, corrupt_value = mean_metrics(model, pairs, batch_size)
    chunked = dict(batch_size=batch_size)
    scores = attribute_nodes(model, pairs.clean, pairs.corrupt, metric, method, steps, **chunked)
    heads = patch_components(model, pairs.clean, pairs.corrupt, metric, "head", **chunked)
    mlps = patch_components(model, pairs.clean, pairs.corrupt, metric, "mlp", **chunked)
    heads, mlps = heads - corrupt_value, mlps - corrupt_value
    exact = {}
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            exact[f"a{layer}.h{head}"] = float(heads[layer, head])
        exact[f"m{layer}"] = float(mlps[layer])
    attribution = scores.as_dict()
    names = list(attribution)
    rho = spearmanr([attribution[n] for n in names], [exact[n] for n in names]).statistic
    curve = faithfulness_curve(model, pairs.clean, pairs.corrupt, metric, scores, **chunked)
    circuit = circuit_from_curve(curve, scores, target)
    edges = _circuit_edges(model, pairs, circuit.nodes, steps, batch_size)
    circuit.edges = sorted(edges)
    stats = head_statistics(
        model, pairs.clean, special_ids(model), negation_ids(model), batch_size=batch_size
    )
    return ModelAnalysis(
        model=model_id,
        suite=suite,
        n_pairs=len(pairs),
        attribution_method=method,
        clean_metric=clean_value,
        corrupt_metric=corrupt_value,
        attribution=attribution,
        exact=exact,
        spearman=float(rho),
        curve=curve,
        circuit=asdict(circuit),
        edges=edges,
        head_stats={k: v.tolist() for k, v in stats.items()},  # NaN: undefined, never 0
        n_layers=model.cfg.n_layers,
        n_heads=model.cfg.n_heads,
    )
