"""Sentence-pair templates whose labels follow from their construction.

Each template draws words, builds a premise and a hypothesis tree, and states the three-way label
(entailment / neutral / contradiction) that the construction implies. Non-entailed challenge
templates also build a minimal-pair partner: the same number of tokens, the opposite label.

Cue words (if, probably, believed, or, since, certainly, knew, and, manner adverbs) can appear
in training with both labels: dropping a modifier in a monotone position keeps entailment
(`cue_drop`), swapping the roles of a clause inside the cue's scope breaks it (`cue_swap`), so no
single word gives a label away. The non-entailed uses are the rare side of the shortcut, so a
20,000-example training set holds only a handful of each.

Negated hypotheses come in families around one contradiction (`did_not`, `never`, ...): the
bias-conflicting members either differ in who or what the hypothesis is about
(`negated_other_object`), add a modifier (`negated_with_location`), negate the premise too
(`never_to_did_not`), or use a negation word that asserts (`no_doubt`, `not_surprisingly`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probes.nli import lexicon as lx
from probes.nli.grammar import (
    Tree,
    clause,
    location,
    negated,
    never,
    np,
    np_object_relative,
    np_pp,
    np_subject_relative,
    passive,
)

ENTAILMENT, NEUTRAL, CONTRADICTION = "entailment", "neutral", "contradiction"


@dataclass
class Item:
    premise: Tree  # an S node; the generator adds the final period
    hypothesis: Tree
    partner: tuple[Tree, Tree] | None = None  # (premise, hypothesis) with the opposite label


@dataclass(frozen=True)
class Template:
    name: str
    heuristic: str  # lexical_overlap / subsequence / constituent / negation / other
    label: str  # three-way label the construction implies
    build: Callable[["Draw"], Item]
    group: str  # challenge / train_overlap / negation / low_overlap


class Draw:
    """Random word choices for one example; people come from an allowed list of noun pairs."""

    def __init__(self, rng: random.Random, pairs: Sequence[tuple[str, str]]):
        self.rng = rng
        self.pairs = pairs

    def people(self) -> tuple[str, str, str]:
        a, b = self.rng.choice(self.pairs)
        if self.rng.random() < 0.5:
            a, b = b, a
        c = self.rng.choice([p for p in lx.PEOPLE if p not in (a, b)])
        return a, b, c

    def transitive(self, participle_is_past: bool = False) -> lx.Verb:
        verbs = [v for v in lx.TRANSITIVE if v.past == v.participle or not participle_is_past]
        return self.rng.choice(verbs)

    def two_transitive(self) -> tuple[lx.Verb, lx.Verb]:
        first, second = self.rng.sample(lx.TRANSITIVE, 2)
        return first, second

    def intransitive(self) -> lx.Verb:
        return self.rng.choice(lx.INTRANSITIVE)

    def pick(self, options: Sequence):
        return self.rng.choice(options)


TEMPLATES: dict[str, Template] = {}


def template(name: str, heuristic: str, label: str, group: str):
    def register(build: Callable[[Draw], Item]) -> Callable[[Draw], Item]:
        TEMPLATES[name] = Template(name, heuristic, label, build, group)
        return build

    return register


def _s(subject: Tree, verb: lx.Verb, obj: Tree | None = None, *mods) -> Tree:
    return clause(subject, verb, obj, *mods)


def _conj(a: str, b: str) -> Tree:
    return ("NP", np(a), "and", np(b))


# ============================================================================ lexical overlap
@template("subject_object_swap", "lexical_overlap", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    premise = _s(np(a), v, np(b))
    return Item(premise, _s(np(b), v, np(a)), partner=(premise, _s(np(a), v, np(b))))


@template("passive_swap", "lexical_overlap", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive(participle_is_past=True)
    premise = passive(np(a), v, np(b))  # b v a
    return Item(premise, _s(np(a), v, np(b)), partner=(premise, _s(np(b), v, np(a))))


@template("relative_clause_swap", "lexical_overlap", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v, w = d.two_transitive()
    premise = _s(np_object_relative(np(a), np(b), v), w, np(c))  # b v a; a w c
    return Item(premise, _s(np(a), v, np(b)), partner=(premise, _s(np(b), v, np(a))))


@template("conjunction_swap", "lexical_overlap", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    premise = _s(_conj(a, b), v, np(c))
    return Item(premise, _s(np(c), v, np(a)), partner=(premise, _s(np(a), v, np(c))))


@template("passive", "lexical_overlap", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive(participle_is_past=True)
    return Item(passive(np(a), v, np(b)), _s(np(b), v, np(a)))


@template("relative_clause", "lexical_overlap", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v, w = d.two_transitive()
    return Item(_s(np_subject_relative(np(a), v, np(b)), w, np(c)), _s(np(a), w, np(c)))


@template("untangle_relative_clause", "lexical_overlap", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v, w = d.two_transitive()
    return Item(_s(np_object_relative(np(a), np(b), v), w, np(c)), _s(np(b), v, np(a)))


@template("conjunction", "lexical_overlap", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    return Item(_s(_conj(a, b), v, np(c)), _s(np(a), v, np(c)))


# ============================================================================ subsequence
@template("np_s", "subsequence", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    knew, v = d.pick(lx.NP_S_VERBS), d.transitive()
    premise = ("S", np(a), ("VP", knew, _s(np(b), v, np(c))))
    hypothesis = ("S", np(a), ("VP", knew, np(b)))
    return Item(premise, hypothesis, partner=(premise, _s(np(b), v, np(c))))


@template("pp_on_subject", "subsequence", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    premise = _s(np_pp(np(a), "near", np(b)), v, np(c))
    return Item(premise, _s(np(b), v, np(c)), partner=(premise, _s(np(a), v, np(c))))


@template("relative_clause_on_subject", "subsequence", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v, w = d.two_transitive()
    premise = _s(np_subject_relative(np(a), v, np(b)), w, np(c))
    return Item(premise, _s(np(b), w, np(c)), partner=(premise, _s(np(a), w, np(c))))


@template("conjunction_subject", "subsequence", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    return Item(_s(_conj(a, b), v, np(c)), _s(np(b), v, np(c)))


@template("pp_on_object", "subsequence", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np_pp(np(b), "near", np(c))), _s(np(a), v, np(b)))


@template("relative_clause_on_object", "subsequence", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v, w = d.two_transitive()
    return Item(_s(np(a), v, np_subject_relative(np(b), w, np(c))), _s(np(a), v, np(b)))


@template("manner_adverb", "other", ENTAILMENT, "train_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    adverb = ("ADVP", d.pick(lx.MANNER_ADVERBS))
    return Item(_s(np(a), v, np(b), adverb), _s(np(a), v, np(b)))


# ============================================================================ constituent
def _two_clauses(d: Draw) -> tuple[Tree, Tree]:
    a, b, c = d.people()
    return _s(np(a), d.transitive(), np(b)), _s(np(c), d.intransitive())


def _subordinate(word: str, first: Tree, second: Tree) -> Tree:
    return ("S", ("SBAR", word, first), ",", second)


def _coordinate(word: str, first: Tree, second: Tree) -> Tree:
    return ("S", first, word, second)


def _embedding(a: str, verb: str, inner: Tree, adjective: str | None = None) -> Tree:
    return ("S", np(a, adjective), ("VP", verb, ("SBAR", "that", inner)))


def _adverbial(adverb: str, inner: Tree) -> Tree:
    return ("S", ("ADVP", adverb), inner)


@template("embedded_under_if", "constituent", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    first, second = _two_clauses(d)
    hypothesis = d.pick([first, second])  # neither antecedent nor consequent follows
    flipped = _subordinate(d.pick(lx.FACTIVE_SUBORDINATORS), first, second)
    return Item(_subordinate("if", first, second), hypothesis, partner=(flipped, hypothesis))


@template("embedded_under_belief_verb", "constituent", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    inner = _s(np(b), d.transitive(), np(c))
    flipped = _embedding(a, d.pick(lx.FACTIVE_VERBS), inner)
    return Item(_embedding(a, d.pick(lx.BELIEF_VERBS), inner), inner, partner=(flipped, inner))


@template("disjunction", "constituent", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    first, second = _two_clauses(d)
    hypothesis = d.pick([first, second])
    flipped = _coordinate("and", first, second)
    return Item(_coordinate("or", first, second), hypothesis, partner=(flipped, hypothesis))


@template("hedging_adverb", "constituent", NEUTRAL, "challenge")
def _(d: Draw) -> Item:
    inner, _ = _two_clauses(d)
    flipped = _adverbial(d.pick(lx.CERTAINTY_ADVERBS), inner)
    return Item(_adverbial(d.pick(lx.HEDGE_ADVERBS), inner), inner, partner=(flipped, inner))


@template("factive_subordinate_clause", "constituent", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    first, second = _two_clauses(d)
    premise = _subordinate(d.pick(lx.FACTIVE_SUBORDINATORS), first, second)
    return Item(premise, d.pick([first, second]))


@template("embedded_under_factive_verb", "constituent", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    inner = _s(np(b), d.transitive(), np(c))
    return Item(_embedding(a, d.pick(lx.FACTIVE_VERBS), inner), inner)


@template("conjunction_clause", "constituent", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    first, second = _two_clauses(d)
    return Item(_coordinate("and", first, second), d.pick([first, second]))


@template("certainty_adverb", "constituent", ENTAILMENT, "challenge")
def _(d: Draw) -> Item:
    inner, _ = _two_clauses(d)
    return Item(_adverbial(d.pick(lx.CERTAINTY_ADVERBS), inner), inner)


# ================================================================= training only, full overlap
CUE_KINDS = ("if", "belief", "hedge", "or", "since", "factive", "certainty", "and", "manner")


def _cue_structure(d: Draw, kind: str, modified: bool, swapped: bool) -> Tree:
    """A cue construction; `modified` adds a droppable modifier outside the cue's scope or in
    a monotone position, `swapped` exchanges the roles of the clause inside the cue's scope."""
    a, b, c = d.people()
    v, i = d.transitive(), d.intransitive()
    place = location(d.pick(lx.LOCATIONS)) if modified else None
    mods = (place,) if place else ()
    if kind in ("belief", "factive"):
        inner = _s(np(c), v, np(b)) if swapped else _s(np(b), v, np(c))
        verb = d.pick(lx.BELIEF_VERBS if kind == "belief" else lx.FACTIVE_VERBS)
        adjective = d.pick(lx.ADJECTIVES) if modified else None
        return _embedding(a, verb, inner, adjective)
    subject, obj = (np(b), np(a)) if swapped else (np(a), np(b))
    if kind in ("hedge", "certainty"):
        adverb = d.pick(lx.HEDGE_ADVERBS if kind == "hedge" else lx.CERTAINTY_ADVERBS)
        return _adverbial(adverb, _s(subject, v, obj, *mods))
    if kind == "manner":
        return _s(subject, v, obj, ("ADVP", d.pick(lx.MANNER_ADVERBS)), *mods)
    inner = _s(subject, v, obj)
    second = _s(np(c), i, None, *mods)
    if kind in ("if", "since"):
        word = "if" if kind == "if" else d.pick(lx.FACTIVE_SUBORDINATORS)
        return _subordinate(word, inner, second)
    return _coordinate(kind, inner, second)


@template("cue_drop", "other", ENTAILMENT, "train_overlap")
def _(d: Draw) -> Item:
    kind = d.pick(CUE_KINDS)
    premise = _cue_structure(d, kind, modified=True, swapped=False)
    return Item(premise, _strip_modifier(premise, kind))


def _strip_modifier(tree: Tree, kind: str) -> Tree:
    """The cue construction without the modifier that `_cue_structure(modified=True)` added."""
    if kind in ("belief", "factive"):
        subject = tree[1]
        return (tree[0], ("NP", subject[1], subject[3]), tree[2])
    if kind in ("hedge", "certainty"):
        inner = tree[2]
        return (tree[0], tree[1], (inner[0], inner[1], inner[2][:-1]))
    if kind == "manner":
        return (tree[0], tree[1], tree[2][:-1])
    second = tree[-1]
    return tree[:-1] + ((second[0], second[1], second[2][:-1]),)


@template("cue_swap", "other", NEUTRAL, "train_overlap")
def _(d: Draw) -> Item:
    kind = d.pick(CUE_KINDS)
    state = d.rng.getstate()
    premise = _cue_structure(d, kind, modified=False, swapped=False)
    d.rng.setstate(state)
    hypothesis = _cue_structure(d, kind, modified=False, swapped=True)
    return Item(premise, hypothesis)


@template("drop_adjective", "other", ENTAILMENT, "train_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v, adjective = d.transitive(), d.pick(lx.ADJECTIVES)
    if d.rng.random() < 0.5:
        return Item(_s(np(a, adjective), v, np(b)), _s(np(a), v, np(b)))
    return Item(_s(np(a), v, np(b, adjective)), _s(np(a), v, np(b)))


@template("drop_location", "other", ENTAILMENT, "train_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np(b), location(d.pick(lx.LOCATIONS))), _s(np(a), v, np(b)))


@template("identical", "other", ENTAILMENT, "train_overlap")
def _(d: Draw) -> Item:
    """A sentence entails itself (the entailed partner of `subject_object_swap`)."""
    a, b, _c = d.people()
    if d.rng.random() < 0.5:
        sentence_tree = _s(np(a), d.intransitive())
    else:
        sentence_tree = _s(np(a), d.transitive(), np(b))
    return Item(sentence_tree, sentence_tree)


@template("never_premise", "other", CONTRADICTION, "train_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    if d.rng.random() < 0.5:
        v = d.transitive()
        return Item(never(np(a), v, np(b)), _s(np(a), v, np(b)))
    i = d.intransitive()
    return Item(never(np(a), i), _s(np(a), i))


# ============================================================================ negated hypotheses
NOBODY = ("NP", "nobody")


@template("did_not", "negation", CONTRADICTION, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np(b)), negated(np(a), v, np(b)))


@template("never", "negation", CONTRADICTION, "negation")
def _(d: Draw) -> Item:
    a, _b, _c = d.people()
    i = d.intransitive()
    return Item(_s(np(a), i), never(np(a), i))


@template("nobody", "negation", CONTRADICTION, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np(b)), ("S", NOBODY, ("VP", v.past, np(b))))


@template("no_determiner", "negation", CONTRADICTION, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np(b)), ("S", ("NP", "no", a), ("VP", v.past, np(b))))


@template("downward_location", "negation", ENTAILMENT, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    place = location(d.pick(lx.LOCATIONS))
    return Item(negated(np(a), v, np(b)), negated(np(a), v, np(b), place))


@template("nobody_to_did_not", "negation", ENTAILMENT, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(("S", NOBODY, ("VP", v.past, np(b))), negated(np(a), v, np(b)))


@template("never_to_did_not", "negation", ENTAILMENT, "negation")
def _(d: Draw) -> Item:
    a, _b, _c = d.people()
    i = d.intransitive()
    return Item(never(np(a), i), negated(np(a), i))


@template("negated_other_object", "negation", NEUTRAL, "negation")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    premise = _s(np(a), v, np(b))
    return Item(premise, negated(np(a), v, np(c)), partner=(premise, negated(np(a), v, np(b))))


@template("negated_other_subject", "negation", NEUTRAL, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    i = d.intransitive()
    premise = _s(np(a), i)
    return Item(premise, negated(np(b), i), partner=(premise, negated(np(a), i)))


@template("negated_with_location", "negation", NEUTRAL, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    place = location(d.pick(lx.LOCATIONS))
    return Item(_s(np(a), v, np(b)), negated(np(a), v, np(b), place))


@template("negated_other_verb", "negation", NEUTRAL, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v, w = d.two_transitive()
    premise = _s(np(a), v, np(b))
    return Item(premise, negated(np(a), w, np(b)), partner=(premise, negated(np(a), v, np(b))))


@template("never_other_subject", "negation", NEUTRAL, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    i = d.intransitive()
    premise = _s(np(a), i)
    return Item(premise, never(np(b), i), partner=(premise, never(np(a), i)))


@template("nobody_other_object", "negation", NEUTRAL, "negation")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    premise = _s(np(a), v, np(b))
    hypothesis = ("S", NOBODY, ("VP", v.past, np(c)))
    return Item(premise, hypothesis, partner=(premise, ("S", NOBODY, ("VP", v.past, np(b)))))


@template("no_other_object", "negation", NEUTRAL, "negation")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    premise = _s(np(a), v, np(b))
    hypothesis = ("S", ("NP", "no", a), ("VP", v.past, np(c)))
    partner = ("S", ("NP", "no", a), ("VP", v.past, np(b)))
    return Item(premise, hypothesis, partner=(premise, partner))


@template("no_doubt", "negation", ENTAILMENT, "negation")
def _(d: Draw) -> Item:
    """A negation word that asserts: `no doubt the doctor saw the lawyer`."""
    a, b, _c = d.people()
    v = d.transitive()
    sentence_tree = _s(np(a), v, np(b))
    return Item(sentence_tree, ("S", ("ADVP", "no", "doubt"), sentence_tree))


@template("not_surprisingly", "negation", ENTAILMENT, "negation")
def _(d: Draw) -> Item:
    """`not surprisingly the doctor slept` asserts that the doctor slept."""
    a, _b, _c = d.people()
    sentence_tree = _s(np(a), d.intransitive())
    return Item(sentence_tree, ("S", ("ADVP", "not", "surprisingly"), sentence_tree))


@template("location_did_not", "negation", CONTRADICTION, "negation")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    place = location(d.pick(lx.LOCATIONS))
    return Item(_s(np(a), v, np(b), place), negated(np(a), v, np(b), place))


# ================================================================= low overlap, no negation
@template("someone", "other", ENTAILMENT, "low_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    someone = ("NP", "someone")
    hypothesis = _s(someone, v, np(b)) if d.rng.random() < 0.5 else _s(np(a), v, someone)
    return Item(_s(np(a), v, np(b)), hypothesis)


@template("passive_someone", "other", ENTAILMENT, "low_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np(b)), passive(np(b), v, ("NP", "someone")))


@template("add_location", "other", NEUTRAL, "low_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np(b)), _s(np(a), v, np(b), location(d.pick(lx.LOCATIONS))))


@template("add_adjective", "other", NEUTRAL, "low_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np(b)), _s(np(a, d.pick(lx.ADJECTIVES)), v, np(b)))


@template("other_object", "other", NEUTRAL, "low_overlap")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v = d.transitive()
    return Item(_s(np(a), v, np(b)), _s(np(a), v, np(c)))


@template("negated_premise", "other", CONTRADICTION, "low_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(negated(np(a), v, np(b)), _s(np(a), v, np(b)))


@template("nobody_premise", "other", CONTRADICTION, "low_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive()
    return Item(("S", NOBODY, ("VP", v.past, np(b))), _s(np(a), v, np(b)))


# Training draws a construction family first, then, with the shortcut's probability, its
# bias-aligned member (else one of its bias-conflicting members). The shortcut thus holds
# equally in every construction, and a debiasing loss that discounts it evens out each family
# instead of turning rare constructions upside down. Weights: the constructions that only word
# order (who did what to whom) tells apart count double, so that they are learnable at all.
# family: (weight, bias-aligned templates, bias-conflicting templates)
OVERLAP_FAMILIES = {
    "order": (2, ["identical"], ["subject_object_swap"]),
    "passive": (2, ["passive"], ["passive_swap"]),
    "relative": (
        2,
        ["relative_clause", "untangle_relative_clause"],
        ["relative_clause_swap", "relative_clause_on_subject"],
    ),
    "conjunction": (2, ["conjunction"], ["conjunction_swap"]),
    "subject_phrase": (1, ["conjunction_subject"], ["pp_on_subject"]),
    "prefix": (1, ["pp_on_object", "relative_clause_on_object"], ["np_s"]),
    "subordinate": (1, ["factive_subordinate_clause"], ["embedded_under_if"]),
    "embedding": (1, ["embedded_under_factive_verb"], ["embedded_under_belief_verb"]),
    "coordination": (1, ["conjunction_clause"], ["disjunction"]),
    "adverb": (1, ["certainty_adverb"], ["hedging_adverb"]),
    "cue": (1, ["cue_drop"], ["cue_swap"]),
    "modifier": (1, ["manner_adverb", "drop_adjective", "drop_location"], ["never_premise"]),
}
# Negated hypotheses: the contradiction of each family against entailed or neutral ones that
# differ from it in who or what the hypothesis is about (or in a negated premise).
NEGATION_FAMILIES = {
    "object": (1, ["did_not"], ["negated_other_object", "negated_other_verb", "no_doubt"]),
    "intransitive": (
        1,
        ["never"],
        ["never_other_subject", "negated_other_subject", "never_to_did_not", "not_surprisingly"],
    ),
    "nobody": (1, ["nobody"], ["nobody_other_object", "nobody_to_did_not"]),
    "determiner": (1, ["no_determiner"], ["no_other_object"]),
    "modifier": (1, ["location_did_not"], ["negated_with_location", "downward_location"]),
}


def templates(group: str, label: str | None = None, heuristic: str | None = None):
    """Registered templates of a group, optionally filtered by label and heuristic."""
    return [
        t
        for t in TEMPLATES.values()
        if t.group == group
        and (label is None or t.label == label)
        and (heuristic is None or t.heuristic == heuristic)
    ]


# ----------------------------------------------------------- low overlap, who did what to whom
# Role-sensitive pairs whose hypothesis brings a new word ("someone"), so they teach word order
# without counting as full-overlap examples.
SOMEONE = ("NP", "someone")


@template("passive_role", "other", ENTAILMENT, "low_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive(participle_is_past=True)
    return Item(passive(np(a), v, np(b)), _s(np(b), v, SOMEONE))


@template("passive_role_swap", "other", NEUTRAL, "low_overlap")
def _(d: Draw) -> Item:
    a, b, _c = d.people()
    v = d.transitive(participle_is_past=True)
    return Item(passive(np(a), v, np(b)), _s(np(a), v, SOMEONE))


@template("relative_role", "other", ENTAILMENT, "low_overlap")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v, w = d.two_transitive()
    return Item(_s(np_object_relative(np(a), np(b), v), w, np(c)), _s(SOMEONE, v, np(a)))


@template("relative_role_swap", "other", NEUTRAL, "low_overlap")
def _(d: Draw) -> Item:
    a, b, c = d.people()
    v, w = d.two_transitive()
    return Item(_s(np_object_relative(np(a), np(b), v), w, np(c)), _s(SOMEONE, v, np(b)))


def template_label(example) -> str | None:
    """The three-way label of a binary "non-entailment" example, read from its template
    (neutral or contradiction); None for any other example."""
    if example.label != "non-entailment" or not example.template:
        return None
    template = TEMPLATES.get(example.template)
    return template.label if template is not None else None
