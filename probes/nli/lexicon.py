"""The words of the synthetic NLI grammar, grouped by the role they play in a sentence."""

from __future__ import annotations

from typing import NamedTuple


class Verb(NamedTuple):
    past: str
    base: str
    participle: str


PEOPLE = (
    "doctor lawyer artist judge student senator manager scientist banker actor author secretary "
    "tourist president athlete professor dancer painter singer teacher pilot nurse chef farmer"
).split()

LOCATIONS = "park bank library station museum office hospital theater".split()

TRANSITIVE = tuple(
    Verb(*forms)
    for forms in (
        ("saw", "see", "seen"),
        ("paid", "pay", "paid"),
        ("helped", "help", "helped"),
        ("called", "call", "called"),
        ("thanked", "thank", "thanked"),
        ("advised", "advise", "advised"),
        ("admired", "admire", "admired"),
        ("recognized", "recognize", "recognized"),
        ("avoided", "avoid", "avoided"),
        ("supported", "support", "supported"),
        ("contacted", "contact", "contacted"),
        ("encouraged", "encourage", "encouraged"),
        ("introduced", "introduce", "introduced"),
        ("mentioned", "mention", "mentioned"),
        ("visited", "visit", "visited"),
        ("stopped", "stop", "stopped"),
    )
)

INTRANSITIVE = tuple(
    Verb(past, base, past)
    for past, base in (
        ("slept", "sleep"),
        ("danced", "dance"),
        ("ran", "run"),
        ("waited", "wait"),
        ("arrived", "arrive"),
        ("laughed", "laugh"),
        ("shouted", "shout"),
        ("smiled", "smile"),
        ("left", "leave"),
        ("stayed", "stay"),
    )
)

ADJECTIVES = "tall old young happy famous smart quiet angry".split()
MANNER_ADVERBS = "quickly quietly happily slowly carefully".split()

# Cue words: each pair of lists is (non-entailing, entailing) for the same syntactic slot.
HEDGE_ADVERBS = "probably supposedly maybe perhaps".split()
CERTAINTY_ADVERBS = "certainly clearly definitely obviously".split()
BELIEF_VERBS = "believed thought hoped claimed".split()
FACTIVE_VERBS = "knew realized noticed learned forgot remembered".split()
CONDITIONALS = ["if"]
FACTIVE_SUBORDINATORS = "since because although".split()
# Verbs that take a person or a clause without "that" (the NP/S ambiguity); all factive.
NP_S_VERBS = "knew forgot remembered".split()

NEGATION_WORDS = ("not", "never", "no", "nobody")
# Words that turn a negation word into an assertion (`no doubt`, `not surprisingly`).
NEGATION_CUES = ("doubt", "surprisingly")
FUNCTION_WORDS = "the a who that was by did and or near in someone , .".split()


def all_words() -> list[str]:
    """Every word the grammar can produce, for building the vocabulary."""
    words = set(PEOPLE + LOCATIONS + ADJECTIVES + MANNER_ADVERBS + FUNCTION_WORDS)
    words |= set(NEGATION_WORDS) | set(NEGATION_CUES)
    for verb in TRANSITIVE + INTRANSITIVE:
        words |= set(verb)
    for group in (
        HEDGE_ADVERBS,
        CERTAINTY_ADVERBS,
        BELIEF_VERBS,
        FACTIVE_VERBS,
        CONDITIONALS,
        FACTIVE_SUBORDINATORS,
        NP_S_VERBS,
    ):
        words |= set(group)
    return sorted(words)
