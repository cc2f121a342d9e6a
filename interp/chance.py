"""Is a circuit better than chance? Its faithfulness against random unit sets of its shape.

A circuit of k units is set against `n_samples` sets drawn at random with the same shape: the
same number of heads in each layer (and position class), and the same number of MLPs (their
layers drawn at random), evaluated on the same minimal pairs with the same patching. The
circuit beats chance when its faithfulness is above the 95th percentile of the random sets'.
The empirical p-value (1 + #random sets at least as faithful) / (1 + n_samples) is the chance
that a random set of this shape does as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from interp import defaults
from interp.circuits import faithfulness_of, faithfulness_rows
from interp.contrast import ContrastPairs
from interp.models import HookedClassifier
from interp.results import ChanceBaseline
from interp.units import strata, unit_names, units_of

CHANCE_PERCENTILE = 95.0  # a circuit beats chance above this percentile of random sets


def _pools(every: Sequence[str], circuit: Sequence[str]) -> list[tuple[list[str], int]]:
    """(units of one stratum, how many the circuit takes from it), in a fixed order."""
    pools: dict[tuple, list[str]] = {}
    for name in every:
        pools.setdefault(strata(name), []).append(name)
    taken: dict[tuple, int] = {}
    for name in circuit:
        taken[strata(name)] = taken.get(strata(name), 0) + 1
    return [(pools[key], taken.get(key, 0)) for key in sorted(pools, key=str)]


def random_circuits(
    every: Sequence[str], circuit: Sequence[str], n_samples: int, rng: np.random.Generator
) -> tuple[list[list[str]], int]:
    """`n_samples` random unit sets of the circuit's shape, and how many distinct ones exist."""
    pools = _pools(every, circuit)
    n_possible = 1
    for units, k in pools:
        n_possible = min(n_possible * math.comb(len(units), k), 10**12)
    drawn = []
    for _ in range(n_samples):
        chosen: list[str] = []
        for units, k in pools:
            if k:
                chosen += [units[i] for i in sorted(rng.choice(len(units), size=k, replace=False))]
        drawn.append(chosen)
    return drawn, n_possible


def against_chance(
    own: float, random: np.ndarray, n_possible: int
) -> tuple[float, float, bool | None]:
    """Where a value stands among the same measure of random sets of its shape: its
    percentile (the share of random values below it, %), the random values' 95th percentile,
    and whether it beats chance (above that; None when its shape admits a single set)."""
    p95 = float(np.percentile(random, CHANCE_PERCENTILE))
    beats = None if n_possible <= 1 else bool(own > p95 + 1e-9)
    return float(100.0 * np.mean(random < own - 1e-9)), p95, beats


def chance_baseline(
    model: HookedClassifier,
    pairs: ContrastPairs,
    circuit: Sequence[str],
    n_samples: int = defaults.CHANCE_SAMPLES,
    rng: np.random.Generator | None = None,
    batch_size: int | None = None,
) -> ChanceBaseline:
    """The circuit's faithfulness on `pairs` against `n_samples` random sets of its shape."""
    if n_samples < 1:
        raise ValueError(f"a chance baseline needs at least one random set, got {n_samples}")
    if not circuit:  # no circuit, nothing to set against chance
        return _undefined(n_samples, 1)
    every = unit_names(model.cfg.n_layers, model.cfg.n_heads, units_of(circuit[0]))
    rng = rng if rng is not None else np.random.default_rng(0)
    drawn, n_possible = random_circuits(every, circuit, n_samples, rng)
    full, empty, rows = faithfulness_rows(
        model, pairs.clean, pairs.corrupt, pairs.metric(), [list(circuit), *drawn], batch_size
    )
    values = faithfulness_of(full, empty, rows).numpy().astype(float)
    own, random = values[0], values[1:]
    if not np.isfinite(own):
        return _undefined(n_samples, n_possible)
    percentile, p95, beats = against_chance(own, random, n_possible)
    at_least = int(np.sum(random >= own - 1e-9))
    return ChanceBaseline(
        faithfulness=float(own),
        n_samples=n_samples,
        n_possible=n_possible,
        random_mean=float(random.mean()),
        random_p95=p95,
        percentile=percentile,
        p_value=(1 + at_least) / (1 + n_samples),
        beats_chance=beats,
    )


def _undefined(n_samples: int, n_possible: int) -> ChanceBaseline:
    """No circuit, or no behaviour: nothing to set against chance."""
    return ChanceBaseline(
        faithfulness=None,
        n_samples=n_samples,
        n_possible=n_possible,
        random_mean=None,
        random_p95=None,
        percentile=None,
        p_value=None,
        beats_chance=None,
    )
