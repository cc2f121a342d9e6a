"""Argument types of the command line: each value is checked where it is parsed, so a bad one is
one line and exit code 2 before any work (argparse's own error path)."""

from __future__ import annotations

import argparse
import math

from interp.checks import is_folder_name, repeated


def _bounded(parse, within, requirement: str, doc: str):
    """An argument type: `parse` the text, then require `within(value)`."""

    def check(text: str):
        value = parse(text)
        if not within(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    check.__doc__ = doc
    check.checked = True  # an argument type that checks its value (the fuzz tests find these)
    return check


count = _bounded(
    lambda t: _int(t),
    lambda v: v >= 1,
    "a whole number of at least 1",
    "A whole number of at least 1 (pairs, resamples, steps, jobs, batch sizes).",
)
count_or_zero = _bounded(
    lambda t: _int(t),
    lambda v: v >= 0,
    "a whole number of at least 0",
    "A whole number of at least 0 (0 turns the step off).",
)


def count_up_to(limit: int, what: str, least: int = 1):
    """A whole number from `least` (1, or 0 where 0 turns a step off) to `limit`: a bound
    stated in the error, so that a typo in the exponent is one line, not an allocation that
    fails or a run without end."""
    return _bounded(
        lambda t: _int(t),
        lambda v: least <= v <= limit,
        f"a whole number from {least} to {limit:,} ({what})",
        f"A whole number from {least} to {limit:,} ({what}).",
    )


seed = _bounded(lambda t: _int(t), lambda v: v >= 0, "a whole number of at least 0", "A seed.")
positive = _bounded(
    lambda t: _float(t),
    lambda v: v > 0,
    "a finite number above 0",
    "A finite number above 0 (seconds).",
)
non_negative = _bounded(
    lambda t: _float(t),
    lambda v: v >= 0,
    "a finite number of at least 0",
    "A finite number of at least 0 (logit margins).",
)
fraction = _bounded(
    lambda t: _float(t), lambda v: 0 < v <= 1, "in (0, 1]", "A number in (0, 1] (a target)."
)


def run_folder(text: str) -> str:
    """One folder name (the report stays inside --out): no separator, not '.' or '..', no
    control characters, at most 100 characters."""
    if not is_folder_name(text):
        raise argparse.ArgumentTypeError(
            f"must be one folder name (no '/', not '.' or '..', printable, at most 100 "
            f"characters), got {text!r}"
        )
    return text


class Unique(argparse.Action):
    """A list option whose values may not repeat (`--seeds 0 0` would count a model twice)."""

    def __call__(self, parser, namespace, values, option_string=None):
        repeats = repeated(values)
        if repeats:
            parser.error(f"argument {option_string}: repeats {', '.join(repeats)}")
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
