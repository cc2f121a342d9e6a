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
        "aligned": (True, True),
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


def test_the_augmentation_set_recolours_the_training_digits(bench):
    augment = bench.augment.examples
    assert [e.extra["digit_index"] for e in augment] == [
        e.extra["digit_index"] for e in bench.train
    ]
    assert all(e.extra["colour"] != int(e.label) for e in augment)
    assert not bench.augment.pairs


def test_each_example_names_the_bias_type_it_tests_and_the_class_it_points_to(bench):
    for name, bias_type in (("colour_conflicting", "colour"), ("marker_conflicting", "marker")):
        for example in bench.suites[name]:
            assert example.bias_type == bias_type
            feature = example.extra[bias_type]
            assert example.extra["bias_label"] == str(feature) != example.label
    assert all(e.extra["bias_label"] == e.label for e in bench.suites["aligned"])


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
    assert not bench.suites["aligned"].pairs


@pytest.mark.parametrize("name", ["colour_conflicting", "marker_conflicting"])
def test_pairs_differ_only_in_the_colour_or_marker_pixels(bench, name):
    for example, partner in bench.suites[name].pair_examples():
        changed = np.any(example.image != partner.image, axis=0)  # [12, 12]
        stroke = np.zeros_like(changed)
        stroke[2:10, 2:10] = example.image[:, 2:10, 2:10].max(0) > 0
        markers = np.zeros_like(changed)
        for slot in (example.extra["marker"], partner.extra["marker"]):
            row, col = MARKER_SLOTS[slot]
            markers[row : row + 2, col : col + 2] = True
        assert changed.any()
        if name == "colour_conflicting":  # only stroke pixels change, and only in hue
            assert not (changed & ~stroke).any()
            assert np.array_equal(example.image.max(0) > 0, partner.image.max(0) > 0)
        else:  # only the two marker squares move
            assert not (changed & ~markers).any()


def test_same_seed_same_images():
    a = generate_digits(DigitsConfig(seed=4), n_per_suite=20)
    b = generate_digits(DigitsConfig(seed=4), n_per_suite=20)
    c = generate_digits(DigitsConfig(seed=5), n_per_suite=20)
    assert np.array_equal(images_of(a.suites["unbiased"]), images_of(b.suites["unbiased"]))
    assert not np.array_equal(images_of(a.train), images_of(c.train))


def test_bad_bias_is_a_clear_error():
    with pytest.raises(ValueError, match="colour_bias must lie in"):
        DigitsConfig(colour_bias=2.0)


def test_renders_draw_each_training_digit_again_with_fresh_features():
    once = generate_digits(DigitsConfig(seed=0), n_per_suite=20)
    thrice = generate_digits(DigitsConfig(seed=0, renders=3), n_per_suite=20)
    digits = [e.extra["digit_index"] for e in once.train]
    assert [e.extra["digit_index"] for e in thrice.train] == digits * 3
    first = thrice.train.examples[: len(digits)]
    assert [e.extra["colour"] for e in first] == [e.extra["colour"] for e in once.train]
    later = thrice.train.examples[len(digits) :]
    assert [e.extra["colour"] for e in later[: len(digits)]] != [e.extra["colour"] for e in first]
    assert (
        images_of(thrice.suites["aligned"]).tobytes() == images_of(once.suites["aligned"]).tobytes()
    )
    with pytest.raises(ValueError, match="renders must be at least 1"):
        DigitsConfig(renders=0)
