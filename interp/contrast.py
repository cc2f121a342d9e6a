"""Clean/corrupt batches from a probe set's minimal pairs, with the label ids a metric needs.

The clean example of a pair is the bias-conflicting one; its corrupt partner differs minimally
and carries the other label. The metric of an analysis is the logit difference between the
clean example's gold label and the partner's label, so that denoising a component measures how
much of the model's clean answer it carries. Suites labelled in the binary HANS scheme are read
in a three-way model's labels through the template that built each example.

An image pair keeps its label (the same digit drawn with the colour or marker of its own class
and of another): its clean example is the aligned rendering, its corrupt one the conflicting
rendering, and the foil is the class the conflicting colour or marker belongs to
(`extra["bias_label"]`). The metric then measures how far the spurious feature pulls the model
from the digit towards that class, and patching locates the components that carry the pull.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from interp.errors import NotAnalysable
from interp.inputs import encode_examples
from interp.models import Batch, HookedClassifier
from interp.patching import Metric, logit_diff
from probes.core import Example, ProbeSet
from probes.tasks import finer_labels


@dataclass
class ContrastPairs:
    clean: Batch
    corrupt: Batch
    gold: Tensor  # [pair] label id of each clean example
    foil: Tensor  # [pair] label id of each corrupt partner
    pairs: list[tuple[Example, Example]]

    def __len__(self) -> int:
        return len(self.pairs)

    def metric(self) -> Metric:
        return logit_diff(self.gold, self.foil)


def model_label(example: Example, labels: list[str]) -> str:
    """The example's label in the model's label set, or a finer label its task gives it
    (`probes.tasks.finer_labels`: a binary NLI example read through its template)."""
    if example.label in labels:
        return example.label
    for label in finer_labels(example):
        if label in labels:
            return label
    raise NotAnalysable(
        f"example '{example.id}' has label '{example.label}', which the model's labels "
        f"{labels} cannot express"
    )


def pair_labels(clean: Example, corrupt: Example, labels: list[str]) -> tuple[str, str] | None:
    """(gold, foil) of a clean/corrupt pair in the model's labels: the two examples' labels, or,
    when they agree, the class the corrupt example's spurious feature points to; None when the
    pair carries no contrast in this orientation."""
    gold, other = model_label(clean, labels), model_label(corrupt, labels)
    if gold != other:
        return gold, other
    bias_label = corrupt.extra.get("bias_label")
    if bias_label in labels and bias_label != gold:
        return gold, bias_label
    return None


def oriented_pair(
    example: Example, partner: Example, labels: list[str]
) -> tuple[Example, Example] | None:
    """A suite's minimal pair as (clean, corrupt): as stored when the labels differ, the aligned
    rendering first when they agree (images); None when neither orientation has a contrast."""
    for clean, corrupt in ((example, partner), (partner, example)):
        if pair_labels(clean, corrupt, labels) is not None:
            return clean, corrupt
    return None


def _encode(model: HookedClassifier, examples: list[Example]) -> Batch:
    return encode_examples(model, examples, with_labels=False).batch


def _lengths(model: HookedClassifier, examples: list[Example]) -> list[int]:
    batch = _encode(model, examples)
    if batch.attention_mask is None:
        return [0] * len(examples)
    return batch.attention_mask.sum(1).tolist()


def _round_robin(pairs: list[tuple[Example, Example]]) -> list[tuple[Example, Example]]:
    """Pairs reordered to take one from each subcase in turn, so a prefix covers them all."""
    groups: dict[str, list] = {}
    for pair in pairs:
        conflicting = [e for e in pair if e.bias_aligned is False]
        groups.setdefault((conflicting or pair)[0].subcase, []).append(pair)
    columns = list(groups.values())
    return [
        column[i]
        for i in range(max((len(c) for c in columns), default=0))
        for column in columns
        if i < len(column)
    ]


def _candidates(
    model: HookedClassifier, suite: ProbeSet
) -> tuple[list[tuple[Example, Example]], str]:
    """Oriented pairs (clean, corrupt) that carry a contrast in the model's labels and whose
    token lengths agree, and a sentence saying how many of the suite's pairs were left out and
    why."""
    labels = list(model.cfg.labels)
    every = suite.pair_examples()
    oriented = [oriented_pair(example, partner, labels) for example, partner in every]
    candidates = [pair for pair in oriented if pair is not None]
    same_label = len(every) - len(candidates)
    if candidates:
        clean_len = _lengths(model, [c for c, _ in candidates])
        corrupt_len = _lengths(model, [k for _, k in candidates])
        candidates = [p for p, a, b in zip(candidates, clean_len, corrupt_len) if a == b]
    lengths = len(every) - same_label - len(candidates)
    why = (
        f"suite '{suite.name}' has {len(every)} minimal pairs: {same_label} carry no contrast "
        f"in the model's labels and {lengths} tokenize to different lengths"
    )
    return candidates, why


def _build(model, chosen, device) -> ContrastPairs:
    labels = list(model.cfg.labels)
    index = {label: i for i, label in enumerate(labels)}
    oriented = [pair_labels(clean, corrupt, labels) for clean, corrupt in chosen]
    return ContrastPairs(
        clean=_encode(model, [c for c, _ in chosen]).to(device),
        corrupt=_encode(model, [k for _, k in chosen]).to(device),
        gold=torch.tensor([index[gold] for gold, _ in oriented], device=device),
        foil=torch.tensor([index[foil] for _, foil in oriented], device=device),
        pairs=chosen,
    )


@torch.no_grad()
def separated_pairs(
    model: HookedClassifier, suite: ProbeSet, min_separation: float = 0.5, chunk: int = 256
) -> set[str]:
    """Clean ids of the pairs on which `model` prefers the clean label by at least
    `min_separation` logits more on the clean input than on the corrupt one: the pairs whose
    difference the model actually computes, so patching has a behaviour to locate."""
    model.eval()
    candidates, _ = _candidates(model, suite)
    kept = set()
    for start in range(0, len(candidates), chunk):
        part = _build(model, candidates[start : start + chunk], model.cfg.device)
        metric = part.metric()
        gap = metric(model(part.clean)) - metric(model(part.corrupt))
        kept |= {c.id for (c, _), g in zip(part.pairs, gap.tolist()) if g >= min_separation}
    return kept


MIN_SEPARATED = 8  # fewer separated pairs than this: analyse all pairs instead


def teacher_selected_pairs(
    teacher: HookedClassifier,
    suite: ProbeSet,
    n_pairs: int,
    min_separation: float,
    device: str | None = None,
) -> tuple[ContrastPairs, dict]:
    """The minimal pairs a study analyses: those the teacher tells apart by at least
    `min_separation` logits (a circuit needs a behaviour to carry), or every pair if the teacher
    separates fewer than MIN_SEPARATED; and a dict describing the selection."""
    kept = separated_pairs(teacher, suite, min_separation)
    only = kept if len(kept) >= MIN_SEPARATED else None
    selection = {
        "min_separation": min_separation,
        "separated_by_teacher": len(kept),
        "rule": "pairs the teacher separates" if only is not None else "all pairs",
    }
    return contrast_pairs(teacher, suite, n_pairs, device, only), selection


def contrast_pairs(
    model: HookedClassifier,
    suite: ProbeSet,
    n: int | None = None,
    device: str | None = None,
    only: set[str] | None = None,
) -> ContrastPairs:
    """`n` pairs of `suite` (subcases in turn) that carry a contrast and whose token lengths
    agree, each oriented as (clean, corrupt).

    Pairs with the same label in the model's scheme (and no other class their spurious feature
    points to) carry no contrast and are skipped, and so are pairs that the model's tokenizer
    splits into different lengths (positions must align). With `only` (clean example ids, e.g.
    from `separated_pairs`), only those pairs are used.
    """
    candidates, why = _candidates(model, suite)
    usable = len(candidates)
    if only is not None:
        candidates = [p for p in candidates if p[0].id in only]
    chosen = _round_robin(candidates)
    chosen = chosen[:n] if n is not None else chosen
    if not chosen:
        selected = f"; none of the {usable} left is among the selected ones" if usable else ""
        raise NotAnalysable(f"no minimal pair to analyse: {why}{selected}")
    return _build(model, chosen, device or model.cfg.device)
