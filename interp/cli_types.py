"""Argument types of the command line: each value is checked where it is parsed, so a bad one is
one line and exit code 2 before any work (argparse's own error path)."""

from __future__ import annotations

import argparse
import math


def count(text: str) -> int:
    """A whole number of at least 1 (pairs, resamples, steps, jobs, batch sizes)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text}")
    return value


def count_or_zero(text: str) -> int:
    """A whole number of at least 0 (0 turns the step off)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 0, got {text}")
    return value


def seed(text: str) -> int:
    """A seed: a whole number of at least 0."""
    return count_or_zero(text)


def positive(text: str) -> float:
    """A finite number above 0 (seconds)."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def non_negative(text: str) -> float:
    """A finite number of at least 0 (logit margins)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1] (a faithfulness target)."""
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text}")
    return value


def run_folder(text: str) -> str:
    """One folder name (the report stays inside --out): no separator, not '.' or '..', no
    control characters, at most 100 characters."""
    if (
        not text
        or text in (".", "..")
        or "/" in text
        or "\\" in text
        or any(ord(c) < 32 or ord(c) == 127 for c in text)
        or len(text) > 100
    ):
        raise argparse.ArgumentTypeError(
            f"must be one folder name (no '/', not '.' or '..', printable, at most 100 "
            f"characters), got {text!r}"
        )
    return text


class Unique(argparse.Action):
    """A list option whose values may not repeat (`--seeds 0 0` would count a model twice)."""

    def __call__(self, parser, namespace, values, option_string=None):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            parser.error(f"argument {option_string}: repeats {', '.join(repeated)}")
        setattr(namespace, self.dest, values)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value
