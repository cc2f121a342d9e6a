"""An independent reader of premise parses: which (agent, verb, patient) facts a sentence asserts.

Used to check generated labels: a hypothesis is entailed exactly when every fact it asserts is
asserted by the premise. It knows the operators of the grammar (which embeddings are factive) but
nothing of the templates.
"""

from probes.nli import lexicon as lx
from probes.nli.grammar import parse_bracket

PARTICIPLE_TO_PAST = {v.participle: v.past for v in lx.TRANSITIVE}
FACTIVE = set(lx.FACTIVE_VERBS) | set(lx.NP_S_VERBS) | set(lx.FACTIVE_SUBORDINATORS)
FACTIVE |= set(lx.CERTAINTY_ADVERBS)


def heads(np_tree):
    """Head nouns of an NP (two for a conjunction)."""
    if isinstance(np_tree, str):
        return [np_tree]
    children = np_tree[1:]
    if "and" in children:
        return [h for child in children if child != "and" for h in heads(child)]
    if isinstance(children[0], tuple) and children[0][0] == "NP":
        return heads(children[0])
    return [children[-1]]


def np_facts(np_tree):
    """Facts stated by relative clauses and nested NPs inside an NP."""
    facts = set()
    if isinstance(np_tree, str):
        return facts
    children = np_tree[1:]
    for child in children:
        if isinstance(child, tuple) and child[0] == "NP":
            facts |= np_facts(child)
        if isinstance(child, tuple) and child[0] == "PP":
            facts |= np_facts(child[2])
        if isinstance(child, tuple) and child[0] == "SBAR" and child[1] == "who":
            inner = child[2]
            head = heads(children[0])[0]
            if inner[1][0] == "VP":  # who saw the lawyer
                vp = inner[1]
                facts |= {(head, vp[1], h) for h in heads(vp[2])} | np_facts(vp[2])
            else:  # who the lawyer saw
                facts |= {(h, inner[2][1], head) for h in heads(inner[1])}
    return facts


def clause_facts(s):
    """Facts asserted by an S node."""
    children = s[1:]
    if children[0] == "nobody" or (
        isinstance(children[0], tuple) and children[0][1:2] == ("nobody",)
    ):
        return {("NEGATIVE",)}
    first = children[0]
    if first[0] == "SBAR":  # subordinate clause , main clause
        word, inner = first[1], first[2]
        if word not in FACTIVE:  # a conditional asserts neither antecedent nor consequent
            return set()
        return clause_facts(children[2]) | clause_facts(inner)
    if first[0] == "ADVP":
        return clause_facts(children[1]) if first[1] in FACTIVE else set()
    if first[0] == "S":  # coordination
        if children[1] == "and":
            return clause_facts(children[0]) | clause_facts(children[2])
        return set()  # a disjunction asserts neither disjunct
    subjects, vp = heads(first), children[1]
    facts = np_facts(first)
    words = vp[1:]
    if words[0] in ("did", "never"):
        return {("NEGATIVE",)}
    if words[0] == "was":  # passive: was <participle> by <agent>
        verb = PARTICIPLE_TO_PAST[words[1]]
        agents = heads(words[2][2])
        return facts | {(a, verb, s_) for a in agents for s_ in subjects} | np_facts(words[2][2])
    verb = words[0]
    complement = words[1] if len(words) > 1 and isinstance(words[1], tuple) else None
    if complement is not None and complement[0] in ("SBAR", "S"):  # believed (that) S
        embedded = complement[2] if complement[0] == "SBAR" else complement
        content = frozenset(clause_facts(embedded))  # what is believed or known
        inner = set(content) if verb in FACTIVE else set()
        return facts | {(s_, verb, content) for s_ in subjects} | inner
    if complement is not None and complement[0] == "NP":
        objects = heads(complement)
        return facts | {(s_, verb, o) for s_ in subjects for o in objects} | np_facts(complement)
    return facts | {(s_, verb, None) for s_ in subjects}


def sentence_facts(parse: str):
    root = parse_bracket(parse)
    return clause_facts(root[1])


def entailed(premise_parse: str, hypothesis_parse: str) -> bool:
    premise, hypothesis = sentence_facts(premise_parse), sentence_facts(hypothesis_parse)
    if ("NEGATIVE",) in premise | hypothesis:
        raise ValueError("the oracle reads positive sentences only")
    return hypothesis <= premise
