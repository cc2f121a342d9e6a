"""Bias-heavy probe suites: synthetic NLI with HANS-like challenge sets, colour-biased digits.

Probes are data: this package never imports `interp`.
"""

from probes.core import Example, ProbeSet, stats_frame

__all__ = ["Example", "ProbeSet", "stats_frame"]
