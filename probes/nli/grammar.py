"""Parse trees of the synthetic grammar: build phrases, read their words, print brackets.

A tree is a tuple `(label, *children)` whose children are trees or words. Sentences are
`("ROOT", S, ".")`; the S nodes are the constituents that the constituent heuristic extracts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Union

from probes.nli.lexicon import Verb

Tree = tuple
Node = Union[Tree, str]


def words(tree: Node) -> list[str]:
    """The leaves of a tree, left to right."""
    if isinstance(tree, str):
        return [tree]
    return [word for child in tree[1:] for word in words(child)]


def text(tree: Node) -> str:
    return " ".join(words(tree))


def bracket(tree: Node) -> str:
    """Penn-style bracketing: `(ROOT (S (NP the doctor) (VP slept)) .)`."""
    if isinstance(tree, str):
        return tree
    return "(" + " ".join([tree[0]] + [bracket(child) for child in tree[1:]]) + ")"


def parse_bracket(source: str) -> Tree:
    """Inverse of `bracket`."""
    tokens = source.replace("(", " ( ").replace(")", " ) ").split()
    position = 0

    def read() -> Node:
        nonlocal position
        token = tokens[position]
        position += 1
        if token != "(":
            return token
        label = tokens[position]
        position += 1
        children = []
        while tokens[position] != ")":
            children.append(read())
        position += 1
        return (label, *children)

    tree = read()
    if position != len(tokens):
        raise ValueError(f"trailing tokens after the tree: {tokens[position:]}")
    return tree


def subtrees(tree: Node, label: str | None = None) -> Iterator[Tree]:
    """Every subtree (with the given label), the tree itself included."""
    if isinstance(tree, str):
        return
    if label is None or tree[0] == label:
        yield tree
    for child in tree[1:]:
        yield from subtrees(child, label)


# ----------------------------------------------------------------------------- phrase builders
def np(noun: str, adjective: str | None = None) -> Tree:
    return ("NP", "the", noun) if adjective is None else ("NP", "the", ("ADJP", adjective), noun)


def np_pp(head: Tree, preposition: str, other: Tree) -> Tree:
    return ("NP", head, ("PP", preposition, other))


def np_subject_relative(head: Tree, verb: Verb, obj: Tree) -> Tree:
    """`the doctor who saw the lawyer`."""
    return ("NP", head, ("SBAR", "who", ("S", ("VP", verb.past, obj))))


def np_object_relative(head: Tree, subject: Tree, verb: Verb) -> Tree:
    """`the doctor who the lawyer saw`."""
    return ("NP", head, ("SBAR", "who", ("S", subject, ("VP", verb.past))))


def clause(subject: Tree, verb: Verb, obj: Tree | None = None, *modifiers: Node) -> Tree:
    """A past-tense clause, transitive when `obj` is given; modifiers attach to the VP."""
    vp = ("VP", verb.past) if obj is None else ("VP", verb.past, obj)
    return ("S", subject, vp + tuple(modifiers))


def negated(subject: Tree, verb: Verb, obj: Tree | None = None, *modifiers: Node) -> Tree:
    """`the doctor did not see the lawyer`."""
    vp = ("VP", "did", "not", verb.base) + (() if obj is None else (obj,)) + tuple(modifiers)
    return ("S", subject, vp)


def never(subject: Tree, verb: Verb, obj: Tree | None = None) -> Tree:
    vp = ("VP", "never", verb.past) + (() if obj is None else (obj,))
    return ("S", subject, vp)


def passive(patient: Tree, verb: Verb, agent: Tree) -> Tree:
    """`the doctor was paid by the lawyer`."""
    return ("S", patient, ("VP", "was", verb.participle, ("PP", "by", agent)))


def location(place: str) -> Tree:
    return ("PP", "in", np(place))


def sentence(s: Tree) -> Tree:
    return ("ROOT", s, ".")
