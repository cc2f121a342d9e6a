"""Minimal pairs as clean/corrupt batches: labels, alignment, subcase coverage, selection."""

import pytest
import torch

from interp.contrast import contrast_pairs, model_label, separated_pairs
from interp.models import ClassifierConfig, HookedClassifier
from probes.nli import THREE_WAY, NLIConfig, generate, nli_tokenizer


@pytest.fixture(scope="module")
def bench():
    return generate(
        NLIConfig(n_train=100, n_in_distribution=30, n_per_subcase=5, n_negation=30, n_augment=10)
    )


@pytest.fixture(scope="module")
def model():
    tokenizer = nli_tokenizer()
    cfg = ClassifierConfig(
        n_layers=1,
        d_model=16,
        n_heads=2,
        labels=THREE_WAY,
        vocab_size=tokenizer.get_vocab_size(),
        max_positions=64,
    )
    return HookedClassifier(cfg, seed=0, tokenizer=tokenizer).eval()


def test_binary_suites_are_read_in_three_way_labels_through_templates(bench, model):
    pairs = contrast_pairs(model, bench.suites["lexical_overlap"])
    assert len(pairs) == 4 * 5  # four non-entailed subcases, each example with its partner
    assert pairs.gold.tolist() == [THREE_WAY.index("neutral")] * 20
    assert pairs.foil.tolist() == [THREE_WAY.index("entailment")] * 20
    assert pairs.clean.shape == pairs.corrupt.shape
    for (clean, corrupt), row in zip(pairs.pairs, range(len(pairs))):
        assert clean.label == "non-entailment" and corrupt.label == "entailment"
        ids = model.encode([clean.premise], [clean.hypothesis]).input_ids[0]
        assert torch.equal(pairs.clean.input_ids[row, : len(ids)], ids)


def test_a_prefix_takes_the_subcases_in_turn(bench, model):
    pairs = contrast_pairs(model, bench.suites["lexical_overlap"], n=4)
    assert len({clean.subcase for clean, _ in pairs.pairs}) == 4


def test_pairs_with_one_label_are_skipped_and_an_empty_selection_is_an_error(bench, model):
    negation = contrast_pairs(model, bench.suites["negation"])
    assert all(model_label(c, THREE_WAY) != model_label(k, THREE_WAY) for c, k in negation.pairs)
    assert (negation.gold != negation.foil).all()
    with pytest.raises(ValueError, match="no minimal pair"):
        contrast_pairs(model, bench.suites["lexical_overlap"], only=set())


def test_separated_pairs_are_those_whose_metric_the_model_moves(bench, model):
    suite = bench.suites["lexical_overlap"]
    everything = contrast_pairs(model, suite)
    metric = everything.metric()
    with torch.no_grad():
        gap = metric(model(everything.clean)) - metric(model(everything.corrupt))
    threshold = float(gap.median())
    expected = {c.id for (c, _), g in zip(everything.pairs, gap.tolist()) if g >= threshold}
    assert separated_pairs(model, suite, threshold) == expected
    chosen = contrast_pairs(model, suite, only=expected)
    assert {c.id for c, _ in chosen.pairs} == expected


@pytest.fixture(scope="module")
def digits():
    from probes.vision import DigitsConfig, generate_digits

    return generate_digits(DigitsConfig(seed=0), n_per_suite=40)


@pytest.fixture(scope="module")
def vit():
    cfg = ClassifierConfig(
        n_layers=1,
        d_model=16,
        n_heads=2,
        labels=[str(d) for d in range(10)],
        modality="vision",
        image_size=12,
        patch_size=2,
    )
    return HookedClassifier(cfg, seed=0).eval()


@pytest.mark.parametrize("suite_name", ["colour_conflicting", "marker_conflicting"])
def test_image_pairs_put_the_aligned_rendering_first_and_foil_the_class_of_the_feature(
    digits, vit, suite_name
):
    suite = digits.suites[suite_name]
    pairs = contrast_pairs(vit, suite)
    assert len(pairs) == len(suite.pairs) > 0
    feature = "colour" if suite_name == "colour_conflicting" else "marker"
    for row, (clean, corrupt) in enumerate(pairs.pairs):
        assert clean.bias_aligned and not corrupt.bias_aligned
        assert clean.extra["digit_index"] == corrupt.extra["digit_index"]
        assert pairs.gold[row] == int(clean.label) == int(corrupt.label)
        assert pairs.foil[row] == corrupt.extra[feature] != int(clean.label)
        assert torch.equal(pairs.clean.pixel_values[row], torch.from_numpy(clean.image))
        assert torch.equal(pairs.corrupt.pixel_values[row], torch.from_numpy(corrupt.image))
    kept = separated_pairs(vit, suite, min_separation=-1e9)
    assert kept == {clean.id for clean, _ in pairs.pairs}
    assert len(contrast_pairs(vit, suite, only=set(list(kept)[:3]))) == 3
