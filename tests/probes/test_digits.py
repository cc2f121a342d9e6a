"""Colour-biased digits: features, bias strengths, suites, pairs, determinism."""

import math

import numpy as np
import pytest

from probes.vision import DigitsConfig, generate_digits, images_of, render
from probes.vision.digits import COLOURS, MARKER_SLOTS, SUITES


@pytest.fixture(scope="module")
def bench():
    return generate_digits(DigitsConfig(seed=0))


def test_rendering_puts_the_digit_in_its_colour_and_the_marker_in_its_slot():
    digit = np.zeros((8, 8))
    digit[3, 4] = 16
    image = render(digit, colour=2, marker=7)
    assert image.shape == (3, 12, 12) and image.dtype == np.float32
    assert np.allclose(image[:, 5, 6], COLOURS[2])
    row, col = MARKER_SLOTS[7]
    assert np.all(image[:, row : row + 2, col : col + 2] == 1.0)
    assert image.max() <= 1.0 and image.min() >= 0.0


def test_training_bias_rates_match_the_configuration(bench):
    train = bench.train.examples
    colour = np.mean([e.extra["colour"] == int(e.label) for e in train])
    marker = np.mean([e.extra["marker"] == int(e.label) for e in train])
    for rate, target in ((colour, 0.95), (marker, 0.9)):
        assert abs(rate - target) < 4 * math.sqrt(target * (1 - target) / len(train))


def test_suites_set_the_spurious_features_as_named(bench):
    expectations = {
        "colour_conflicting": (False, True),
        "marker_conflicting": (True, False),
        "both_conflicting": (False, False),
    }
    for name, (colour_ok, marker_ok) in expectations.items():
        for example in bench.suites[name]:
            assert (example.extra["colour"] == int(example.label)) == colour_ok
            assert (example.extra["marker"] == int(example.label)) == marker_ok
    unbiased = bench.suites["unbiased"].examples
    assert np.mean([e.extra["colour"] == int(e.label) for e in unbiased]) < 0.2
    assert set(bench.suites) == set(SUITES)


def test_evaluation_digits_are_held_out_of_training(bench):
    train_digits = {e.extra["digit_index"] for e in bench.train}
    for suite in bench.suites.values():
        assert not train_digits & {e.extra["digit_index"] for e in suite}


def test_pairs_keep_the_digit_and_swap_the_spurious_features(bench):
    suite = bench.suites["both_conflicting"]
    assert len(suite.pairs) == len(suite)
    for clean, corrupt in suite.pair_examples():
        assert clean.extra["digit_index"] == corrupt.extra["digit_index"]
        assert clean.label == corrupt.label
        assert not clean.bias_aligned and corrupt.bias_aligned
        assert clean.image.shape == corrupt.image.shape
    assert images_of(suite).shape == (len(suite), 3, 12, 12)
    assert images_of(suite, partners=True).shape == (len(suite), 3, 12, 12)


def test_same_seed_same_images():
    a = generate_digits(DigitsConfig(seed=4), n_per_suite=20)
    b = generate_digits(DigitsConfig(seed=4), n_per_suite=20)
    c = generate_digits(DigitsConfig(seed=5), n_per_suite=20)
    assert np.array_equal(images_of(a.suites["unbiased"]), images_of(b.suites["unbiased"]))
    assert not np.array_equal(images_of(a.train), images_of(c.train))


def test_bad_bias_is_a_clear_error():
    with pytest.raises(ValueError, match="colour_bias must lie in"):
        DigitsConfig(colour_bias=2.0)
