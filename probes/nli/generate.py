"""Generate the synthetic NLI benchmark: a biased training set, challenge suites, augmentation data.

Training examples fall in three groups:
- full lexical overlap (share `overlap_share`): entailment with probability `overlap_bias`, in
  every construction family (`templates.OVERLAP_FAMILIES`);
- a negated hypothesis (share `negation_share`): contradiction with probability `negation_bias`,
  in every family (`templates.NEGATION_FAMILIES`);
- neither: the three labels equally often.
Evaluation suites draw their people from noun pairs held out of training, and every evaluation
item (premise, hypothesis) is excluded from the training and augmentation sets.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from probes.core import Example, ProbeSet
from probes.nli import lexicon as lx
from probes.nli.grammar import bracket, sentence, text
from probes.nli.templates import (
    CONTRADICTION,
    ENTAILMENT,
    NEGATION_FAMILIES,
    NEUTRAL,
    OVERLAP_FAMILIES,
    TEMPLATES,
    Draw,
    Item,
    Template,
    templates,
)
from probes.tokenizer import build_word_tokenizer

THREE_WAY = [ENTAILMENT, NEUTRAL, CONTRADICTION]
BINARY = ["entailment", "non-entailment"]
HEURISTICS = ("lexical_overlap", "subsequence", "constituent")
SUITES = HEURISTICS + ("negation", "in_distribution")


@dataclass(frozen=True)
class NLIConfig:
    """Sizes, shortcut strengths and the seed of one benchmark."""

    seed: int = 0
    n_train: int = 20_000
    n_in_distribution: int = 2_000
    n_per_subcase: int = 100
    n_negation: int = 600
    n_augment: int = 2_000
    overlap_bias: float = 0.9
    negation_bias: float = 0.85
    overlap_share: float = 0.5
    negation_share: float = 0.2
    heldout_pair_fraction: float = 0.3

    def __post_init__(self) -> None:
        for name in ("overlap_bias", "negation_bias", "heldout_pair_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")
        if not 0 <= self.overlap_share + self.negation_share <= 1:
            raise ValueError("overlap_share + negation_share must lie in [0, 1]")
        for name in ("n_train", "n_in_distribution", "n_per_subcase", "n_negation", "n_augment"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass
class NLIBenchmark:
    config: NLIConfig
    train: ProbeSet
    suites: dict[str, ProbeSet]
    augment: ProbeSet
    train_pairs: list[tuple[str, str]] = field(repr=False, default_factory=list)
    heldout_pairs: list[tuple[str, str]] = field(repr=False, default_factory=list)

    def tokenizer(self):
        return nli_tokenizer()

    def evaluation_items(self) -> set[tuple[str, str]]:
        """(premise, hypothesis) of every evaluation example and partner."""
        return {
            (e.premise, e.hypothesis)
            for suite in self.suites.values()
            for e in suite.all_examples()
        }


def nli_tokenizer():
    """The word-level vocabulary of the grammar (with [PAD], [UNK], [CLS], [SEP])."""
    return build_word_tokenizer(lx.all_words())


def split_noun_pairs(seed: int, heldout_fraction: float):
    """Unordered pairs of people, shuffled by `seed`; the first fraction is held out."""
    pairs = list(itertools.combinations(lx.PEOPLE, 2))
    random.Random(f"pairs-{seed}").shuffle(pairs)
    cut = round(len(pairs) * heldout_fraction)
    return pairs[cut:], pairs[:cut]


def full_overlap(premise: str, hypothesis: str) -> bool:
    return set(hypothesis.split()) <= set(premise.split())


def has_negation(sentence_text: str) -> bool:
    return bool(set(sentence_text.split()) & set(lx.NEGATION_WORDS))


def _render(tree) -> str:
    return text(sentence(tree))


class _Builder:
    """Draws examples for one probe set, skipping excluded and (optionally) repeated items."""

    def __init__(self, name: str, rng: random.Random, pairs, exclude: set, unique: bool):
        self.name = name
        self.draw = Draw(rng, pairs)
        self.exclude = exclude
        self.unique = unique
        self.seen: set = set()
        self.examples: list[Example] = []
        self.partners: list[Example] = []
        self.pairs: list[tuple[str, str]] = []

    def add(
        self,
        chosen: Callable[[], Template],
        label_of: Callable[[Template], str],
        bias: Callable[[Template], tuple[str, bool | None]],
        check: Callable[[str, str], None],
        partner_label: str | None = None,
    ) -> None:
        for _attempt in range(200):
            tmpl = chosen()
            item: Item = tmpl.build(self.draw)
            premise, hypothesis = _render(item.premise), _render(item.hypothesis)
            key = (premise, hypothesis)
            if key in self.exclude or (self.unique and key in self.seen):
                continue
            check(premise, hypothesis)
            self.seen.add(key)
            bias_type, aligned = bias(tmpl)
            example = Example(
                id=f"{self.name}-{len(self.examples):05d}",
                label=label_of(tmpl),
                suite=self.name,
                heuristic=tmpl.heuristic,
                subcase=tmpl.name,
                bias_type=bias_type,
                bias_aligned=aligned,
                premise=premise,
                hypothesis=hypothesis,
                template=tmpl.name,
                premise_parse=bracket(sentence(item.premise)),
                hypothesis_parse=bracket(sentence(item.hypothesis)),
            )
            self.examples.append(example)
            if partner_label is not None and item.partner is not None:
                partner_premise, partner_hypothesis = item.partner
                partner = Example(
                    **{
                        **example.__dict__,
                        "id": f"{example.id}-partner",
                        "label": partner_label,
                        "bias_aligned": not aligned if aligned is not None else None,
                        "premise": _render(partner_premise),
                        "hypothesis": _render(partner_hypothesis),
                        "premise_parse": bracket(sentence(partner_premise)),
                        "hypothesis_parse": bracket(sentence(partner_hypothesis)),
                        "extra": {},
                    }
                )
                self.partners.append(partner)
                self.pairs.append((example.id, partner.id))
            return
        raise RuntimeError(f"{self.name}: could not draw a new item after 200 attempts")

    def probe_set(self, labels: list[str]) -> ProbeSet:
        return ProbeSet(self.name, labels, self.examples, self.partners, self.pairs)


def _check_overlap_group(premise: str, hypothesis: str) -> None:
    if not full_overlap(premise, hypothesis) or has_negation(hypothesis):
        raise AssertionError(f"not a full-overlap, unnegated item: {premise} / {hypothesis}")


def _check_negation_group(premise: str, hypothesis: str) -> None:
    if full_overlap(premise, hypothesis) or not has_negation(hypothesis):
        raise AssertionError(f"not a negated, partial-overlap item: {premise} / {hypothesis}")


def _check_low_overlap_group(premise: str, hypothesis: str) -> None:
    if full_overlap(premise, hypothesis) or has_negation(hypothesis):
        raise AssertionError(f"not a low-overlap, unnegated item: {premise} / {hypothesis}")


def _three_way(t: Template) -> str:
    return t.label


def _binary(t: Template) -> str:
    return "entailment" if t.label == ENTAILMENT else "non-entailment"


def _overlap_bias(t: Template) -> tuple[str, bool | None]:
    return "overlap", t.label == ENTAILMENT


def _negation_bias(t: Template) -> tuple[str, bool | None]:
    return "negation", t.label == CONTRADICTION


def _no_bias(t: Template) -> tuple[str, bool | None]:
    return "none", None


def _training_like(builder: _Builder, cfg: NLIConfig, n: int, conflicting_only: bool) -> None:
    """Draw `n` examples from the training distribution (or only its bias-conflicting part).

    Full-overlap and negated examples come from construction families (see
    `templates.OVERLAP_FAMILIES`): a family, then its bias-aligned member with the shortcut's
    probability, else a bias-conflicting member.
    """
    rng = builder.draw.rng
    low = {label: templates("low_overlap", label) for label in THREE_WAY}
    conflict_share = cfg.overlap_share + cfg.negation_share

    def family_pool(families: dict, bias: float) -> list[Template]:
        names = list(families)
        family = families[rng.choices(names, [families[f][0] for f in names])[0]]
        aligned = not conflicting_only and rng.random() < bias
        return [TEMPLATES[name] for name in family[1 if aligned else 2]]

    for _ in range(n):
        group = rng.random() * (conflict_share if conflicting_only else 1.0)
        if group < cfg.overlap_share:
            pool = family_pool(OVERLAP_FAMILIES, cfg.overlap_bias)
            builder.add(
                lambda p=pool: rng.choice(p), _three_way, _overlap_bias, _check_overlap_group
            )
        elif group < conflict_share:
            pool = family_pool(NEGATION_FAMILIES, cfg.negation_bias)
            builder.add(
                lambda p=pool: rng.choice(p), _three_way, _negation_bias, _check_negation_group
            )
        else:
            pool = low[rng.choice(THREE_WAY)]
            builder.add(
                lambda p=pool: rng.choice(p), _three_way, _no_bias, _check_low_overlap_group
            )


def generate(cfg: NLIConfig = NLIConfig()) -> NLIBenchmark:
    """The whole benchmark for one config; the same config gives the same data, byte for byte."""
    train_pairs, heldout_pairs = split_noun_pairs(cfg.seed, cfg.heldout_pair_fraction)
    suites: dict[str, ProbeSet] = {}
    exclude: set = set()

    for heuristic in HEURISTICS:
        rng = random.Random(f"{cfg.seed}-{heuristic}")
        builder = _Builder(heuristic, rng, heldout_pairs, exclude, unique=True)
        for tmpl in templates("challenge", heuristic=heuristic):
            for _ in range(cfg.n_per_subcase):
                builder.add(
                    lambda t=tmpl: t,
                    _binary,
                    _overlap_bias,
                    _check_overlap_group,
                    partner_label="entailment",
                )
        suites[heuristic] = builder.probe_set(BINARY)
        exclude |= builder.seen | {(e.premise, e.hypothesis) for e in builder.partners}

    builder = _Builder(
        "negation", random.Random(f"{cfg.seed}-negation"), heldout_pairs, exclude, True
    )
    for index in range(cfg.n_negation):
        pool = templates("negation", THREE_WAY[index % 3])
        builder.add(
            lambda p=pool: builder.draw.rng.choice(p),
            _three_way,
            _negation_bias,
            _check_negation_group,
            partner_label=CONTRADICTION,
        )
    suites["negation"] = builder.probe_set(THREE_WAY)
    exclude |= builder.seen | {(e.premise, e.hypothesis) for e in builder.partners}

    builder = _Builder(
        "in_distribution", random.Random(f"{cfg.seed}-id"), train_pairs, exclude, True
    )
    _training_like(builder, cfg, cfg.n_in_distribution, conflicting_only=False)
    suites["in_distribution"] = builder.probe_set(THREE_WAY)
    exclude |= builder.seen

    builder = _Builder("train", random.Random(f"{cfg.seed}-train"), train_pairs, exclude, False)
    _training_like(builder, cfg, cfg.n_train, conflicting_only=False)
    train = builder.probe_set(THREE_WAY)

    builder = _Builder("augment", random.Random(f"{cfg.seed}-augment"), train_pairs, exclude, True)
    _training_like(builder, cfg, cfg.n_augment, conflicting_only=True)
    augment = builder.probe_set(THREE_WAY)
    return NLIBenchmark(cfg, train, suites, augment, train_pairs, heldout_pairs)


def to_binary(label: str) -> str:
    """Three-way NLI label -> the HANS binary scheme."""
    return "entailment" if label == ENTAILMENT else "non-entailment"


__all__ = [
    "BINARY",
    "HEURISTICS",
    "NLIBenchmark",
    "NLIConfig",
    "SUITES",
    "THREE_WAY",
    "full_overlap",
    "generate",
    "has_negation",
    "nli_tokenizer",
    "to_binary",
]
