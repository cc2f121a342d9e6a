"""Colour-biased digits from scikit-learn's bundled 8x8 digits."""

from probes.vision.digits import DigitsBenchmark, DigitsConfig, generate_digits, images_of, render

__all__ = ["DigitsBenchmark", "DigitsConfig", "generate_digits", "images_of", "render"]
