"""Bias models: features, fit, save and load."""

import pytest
import torch

from interp.errors import CheckpointError
from interp.train.bias import BiasModel, fit_bias_model, nli_features
from probes.core import Example
from probes.nli import THREE_WAY, NLIConfig, generate
from probes.vision import DigitsConfig, generate_digits


def example(premise, hypothesis, parse=""):
    return Example(
        "x", "entailment", "s", "h", "c", "overlap", True, premise, hypothesis, premise_parse=parse
    )


def test_nli_features_read_overlap_subsequence_constituent_and_negation():
    parse = "(ROOT (S (SBAR if (S (NP the judge) (VP slept))) , (S (NP the actor) (VP ran))) .)"
    features = nli_features(
        example("if the judge slept , the actor ran .", "the actor ran .", parse)
    )
    assert features == [1.0, 1.0, 1.0, 1.0, 0.0]
    features = nli_features(example("the judge slept .", "the judge did not sleep ."))
    assert features[0] == pytest.approx(2 / 5) and features[1:] == [0.0, 0.0, 0.0, 1.0]
    swapped = nli_features(example("the doctor saw the lawyer .", "the lawyer saw the doctor ."))
    assert swapped[:3] == [1.0, 1.0, 0.0]


@pytest.fixture(scope="module")
def bench():
    return generate(
        NLIConfig(
            seed=0, n_train=3000, n_in_distribution=300, n_per_subcase=4, n_negation=6, n_augment=10
        )
    )


def test_nli_bias_model_learns_the_shortcuts_and_round_trips(tmp_path, bench):
    model = fit_bias_model("nli", bench.train.examples, THREE_WAY)
    overlap = [e for e in bench.train.examples if e.bias_type == "overlap"]
    assert model.log_probs(overlap).argmax(-1).eq(0).float().mean() > 0.95  # -> entailment
    negated = [e for e in bench.train.examples if e.bias_type == "negation"]
    assert model.log_probs(negated).argmax(-1).eq(2).float().mean() > 0.85  # -> contradiction
    assert 0.6 < model.accuracy(bench.suites["in_distribution"].examples) < 0.95
    loaded = BiasModel.load(model.save(tmp_path / "bias"))
    assert torch.equal(loaded.log_probs(overlap), model.log_probs(overlap))


@pytest.mark.parametrize("feature", ["colour", "marker"])
def test_digit_bias_models_read_one_spurious_feature(feature):
    digits = generate_digits(DigitsConfig(seed=0), n_per_suite=100)
    model = fit_bias_model("digits", digits.train.examples, [str(d) for d in range(10)], [feature])
    aligned = digits.suites["in_distribution"].examples
    assert model.accuracy(aligned) > 0.8
    conflicting = "colour_conflicting" if feature == "colour" else "marker_conflicting"
    assert model.accuracy(digits.suites[conflicting].examples) < 0.1


def test_a_digit_bias_model_on_both_features_reads_both_and_round_trips(tmp_path):
    digits = generate_digits(DigitsConfig(seed=0), n_per_suite=100)
    labels = [str(d) for d in range(10)]
    model = fit_bias_model("digits", digits.train.examples, labels, ["colour", "marker"])
    assert model.feature_matrix(digits.train.examples[:5]).shape == (5, 20)
    assert model.accuracy(digits.suites["aligned"].examples) > 0.95
    # colour (95% right in training) outweighs the marker (90%) when they disagree ...
    assert model.accuracy(digits.suites["colour_conflicting"].examples) < 0.1
    assert model.accuracy(digits.suites["marker_conflicting"].examples) > 0.9
    # ... but the marker's class still gets more mass than the classes neither feature names
    marker = digits.suites["marker_conflicting"].examples
    probs = model.log_probs(marker).exp()
    pointed = probs[torch.arange(len(marker)), [e.extra["marker"] for e in marker]]
    assert (pointed > 2 * (1 - probs.max(-1).values - pointed) / 8).all()
    loaded = BiasModel.load(model.save(tmp_path / "bias"))
    examples = digits.suites["aligned"].examples
    assert torch.equal(loaded.log_probs(examples), model.log_probs(examples))
    with pytest.raises(ValueError, match="colour, marker or both"):
        fit_bias_model("digits", digits.train.examples, labels, ["colour", "colour"])


def test_bad_bias_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown NLI bias features"):
        fit_bias_model("nli", [example("a .", "a .")], THREE_WAY, ["colour"])
    with pytest.raises(ValueError, match="no examples"):
        fit_bias_model("nli", [], THREE_WAY)
    (tmp_path / "config.json").write_text('{"kind": "classifier"}')
    with pytest.raises(CheckpointError, match="not a bias model"):
        BiasModel.load(tmp_path)
