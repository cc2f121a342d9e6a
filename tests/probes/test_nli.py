"""The synthetic NLI benchmark: labels by construction, shortcut rates, disjointness, pairs."""

import math
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.nli import lexicon as lx
from probes.nli.generate import (
    BINARY,
    HEURISTICS,
    NLIConfig,
    full_overlap,
    generate,
    has_negation,
    nli_tokenizer,
)
from probes.nli.grammar import parse_bracket, subtrees, words
from tests.probes.nli_oracle import entailed, sentence_facts

SMALL = dict(n_train=1500, n_in_distribution=300, n_per_subcase=12, n_negation=60, n_augment=200)


@pytest.fixture(scope="module")
def bench():
    return generate(NLIConfig(seed=3, **SMALL))


def challenge_items(bench, with_partners=True):
    for heuristic in HEURISTICS:
        suite = bench.suites[heuristic]
        yield from (suite.all_examples() if with_partners else suite.examples)


def bare(sentence_text: str) -> list[str]:
    tokens = sentence_text.split()
    assert tokens[-1] == "."
    return tokens[:-1]


def is_contiguous(part: list[str], whole: list[str]) -> bool:
    n = len(part)
    return any(whole[i : i + n] == part for i in range(len(whole) - n + 1))


seeds = st.integers(min_value=0, max_value=10_000)
property_settings = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@property_settings
@given(seed=seeds)
def test_every_challenge_example_has_full_lexical_overlap(seed):
    bench = generate(NLIConfig(seed=seed, **SMALL))
    for example in challenge_items(bench):
        assert full_overlap(example.premise, example.hypothesis), example
        assert example.bias_type == "overlap"
        assert example.bias_aligned == (example.label == "entailment")


@property_settings
@given(seed=seeds)
def test_subsequence_hypotheses_are_contiguous_and_lexical_overlap_ones_are_not(seed):
    bench = generate(NLIConfig(seed=seed, **SMALL))
    for example in bench.suites["subsequence"].examples:
        assert is_contiguous(bare(example.hypothesis), bare(example.premise)), example
    for example in bench.suites["lexical_overlap"].examples:
        assert not is_contiguous(bare(example.hypothesis), bare(example.premise)), example


@property_settings
@given(seed=seeds)
def test_constituent_hypotheses_are_complete_clauses_of_the_premise_parse(seed):
    bench = generate(NLIConfig(seed=seed, **SMALL))
    for example in bench.suites["constituent"].examples:
        tree = parse_bracket(example.premise_parse)
        assert words(tree) == example.premise.split()
        clauses = [words(s) for s in subtrees(tree, "S") if s is not tree[1]]
        assert bare(example.hypothesis) in clauses, example


@property_settings
@given(seed=seeds)
def test_challenge_labels_agree_with_an_independent_reading_of_the_parses(seed):
    bench = generate(NLIConfig(seed=seed, **SMALL))
    checked = 0
    for example in challenge_items(bench):
        assert entailed(example.premise_parse, example.hypothesis_parse) == (
            example.label == "entailment"
        ), example
        checked += 1
    assert checked == sum(len(list(bench.suites[h].all_examples())) for h in HEURISTICS)


def test_training_labels_agree_with_the_parse_reading_where_it_applies(bench):
    checked = 0
    for example in bench.train.examples:
        if example.bias_type != "overlap":
            continue
        facts = sentence_facts(example.hypothesis_parse)
        if not facts or ("NEGATIVE",) in facts | sentence_facts(example.premise_parse):
            continue  # the reader handles positive, fact-asserting hypotheses only
        assert entailed(example.premise_parse, example.hypothesis_parse) == (
            example.label == "entailment"
        ), example
        checked += 1
    assert checked > 500


def test_challenge_suites_are_balanced_with_named_subcases(bench):
    for heuristic in HEURISTICS:
        frame = bench.suites[heuristic].to_frame()
        assert bench.suites[heuristic].labels == BINARY
        assert (frame["label"] == "entailment").mean() == 0.5
        for label in BINARY:
            assert frame[frame["label"] == label]["subcase"].nunique() >= 3
        assert set(frame["heuristic"]) == {heuristic}


def test_negation_suite_is_balanced_and_negated(bench):
    frame = bench.suites["negation"].to_frame()
    assert frame["label"].value_counts().to_dict() == {
        "entailment": 20,
        "neutral": 20,
        "contradiction": 20,
    }
    assert all(has_negation(h) for h in frame["hypothesis"])
    assert (~frame["bias_aligned"]).sum() == 40  # negated yet entailed or neutral


def sampling_bound(p: float, n: int) -> float:
    return 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("overlap_bias,negation_bias", [(0.9, 0.85), (0.7, 0.6)])
def test_training_shortcut_rates_match_the_configuration(overlap_bias, negation_bias):
    cfg = NLIConfig(
        seed=1, overlap_bias=overlap_bias, negation_bias=negation_bias, **{**SMALL, "n_train": 6000}
    )
    train = generate(cfg).train.examples
    overlap = [e for e in train if full_overlap(e.premise, e.hypothesis)]
    negated = [e for e in train if has_negation(e.hypothesis)]
    entailed_share = sum(e.label == "entailment" for e in overlap) / len(overlap)
    contradiction_share = sum(e.label == "contradiction" for e in negated) / len(negated)
    assert abs(entailed_share - overlap_bias) < sampling_bound(overlap_bias, len(overlap))
    assert abs(contradiction_share - negation_bias) < sampling_bound(negation_bias, len(negated))
    assert abs(len(overlap) / len(train) - cfg.overlap_share) < 0.03


def test_no_evaluation_item_is_in_training_or_augmentation(bench):
    evaluation = bench.evaluation_items()
    assert evaluation
    assert not evaluation & {(e.premise, e.hypothesis) for e in bench.train.examples}
    assert not evaluation & {(e.premise, e.hypothesis) for e in bench.augment.examples}


def test_augmentation_is_bias_conflicting(bench):
    assert all(e.bias_aligned is False for e in bench.augment.examples)


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    paths = []
    for index, seed in enumerate((5, 5, 6)):
        bench = generate(NLIConfig(seed=seed, **SMALL))
        for name, probe_set in [("train", bench.train), *bench.suites.items()]:
            probe_set.to_jsonl(tmp_path / f"{index}-{name}.jsonl")
        paths.append(
            b"".join(
                (tmp_path / f"{index}-{n}.jsonl").read_bytes() for n in ["train", *bench.suites]
            )
        )
    assert paths[0] == paths[1]
    assert paths[0] != paths[2]


def test_every_minimal_pair_has_equal_token_length_and_opposite_labels(bench):
    tokenizer = nli_tokenizer()
    for heuristic in HEURISTICS:
        suite = bench.suites[heuristic]
        non_entailed = [e.id for e in suite.examples if e.label == "non-entailment"]
        assert sorted(c for c, _ in suite.pairs) == sorted(non_entailed)
    for suite in bench.suites.values():
        for clean, corrupt in suite.pair_examples():
            clean_ids = tokenizer.encode(clean.premise, clean.hypothesis).ids
            corrupt_ids = tokenizer.encode(corrupt.premise, corrupt.hypothesis).ids
            assert len(clean_ids) == len(corrupt_ids)
            assert clean.label != corrupt.label
            assert sum(a != b for a, b in zip(clean_ids, corrupt_ids)) >= 1


def test_every_cue_word_appears_with_both_labels_in_training():
    # The non-entailed uses of cue words are rare by design (the shortcut holds in every
    # construction family), so the property is checked on a large sample of the distribution.
    train = generate(NLIConfig(seed=0, **{**SMALL, "n_train": 60_000})).train.examples
    cue_words = (
        lx.HEDGE_ADVERBS
        + lx.CERTAINTY_ADVERBS
        + lx.BELIEF_VERBS
        + lx.FACTIVE_VERBS
        + lx.CONDITIONALS
        + lx.FACTIVE_SUBORDINATORS
        + lx.MANNER_ADVERBS
        + ["or", "and", "near", "who", "was", "by"]
    )
    for cue in cue_words:
        labels = {
            "entailment" if e.label == "entailment" else "non-entailment"
            for e in train
            if cue in e.premise.split()
        }
        assert labels == {"entailment", "non-entailment"}, cue


def test_the_vocabulary_covers_every_generated_word(bench):
    tokenizer = nli_tokenizer()
    unknown = tokenizer.token_to_id("[UNK]")
    assert [tokenizer.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")] == [0, 1, 2, 3]
    for suite in [bench.train, bench.augment, *bench.suites.values()]:
        for example in suite.all_examples():
            encoding = tokenizer.encode(example.premise, example.hypothesis)
            assert unknown not in encoding.ids
            n_premise = len(example.premise.split())
            assert encoding.type_ids == [0] * (n_premise + 2) + [1] * (
                len(encoding.ids) - n_premise - 2
            )


def test_default_sizes_hold_at_least_20k_training_examples():
    bench = generate()
    assert len(bench.train) == 20_000
    assert [len(bench.suites[h]) for h in HEURISTICS] == [800, 600, 800]
    assert len(bench.suites["negation"]) == 600
    assert len(bench.suites["in_distribution"]) == 2_000


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(ValueError, match="overlap_bias must lie strictly between 0 and 1"):
        NLIConfig(overlap_bias=1.5)


def test_probes_does_not_import_interp():
    code = (
        "import sys, probes, probes.nli, probes.vision, probes.__main__; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'interp'], 'interp imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_stats_command_prints_every_suite(capsys):
    from probes.__main__ import main

    assert main(["stats", "--n-train", "300", "--n-per-subcase", "4"]) == 0
    out = capsys.readouterr().out
    for suite in ("train", "lexical_overlap", "subsequence", "constituent", "negation"):
        assert suite in out
    assert "bias_aligned_share" in out


def test_every_training_construction_belongs_to_one_family_with_the_right_labels():
    from probes.nli.templates import (
        CONTRADICTION,
        ENTAILMENT,
        NEGATION_FAMILIES,
        OVERLAP_FAMILIES,
        TEMPLATES,
        templates,
    )

    for families, groups, aligned_label in (
        (OVERLAP_FAMILIES, ("challenge", "train_overlap"), ENTAILMENT),
        (NEGATION_FAMILIES, ("negation",), CONTRADICTION),
    ):
        members = [
            name for _, aligned, conflicting in families.values() for name in aligned + conflicting
        ]
        assert sorted(members) == sorted({t.name for g in groups for t in templates(g)})
        assert len(members) == len(set(members))
        for weight, aligned, conflicting in families.values():
            assert weight > 0 and aligned and conflicting
            assert all(TEMPLATES[name].label == aligned_label for name in aligned)
            assert all(TEMPLATES[name].label != aligned_label for name in conflicting)
