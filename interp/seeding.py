"""Random generators keyed by what they are for, so that one result's draws never depend on
what else a run computes (adding a pair to the manifest leaves every other interval as it was)."""

from __future__ import annotations

import hashlib

import numpy as np


def rng_for(*key) -> np.random.Generator:
    """A generator seeded from a stable key (its parts joined as text)."""
    digest = hashlib.sha256("\x1f".join(map(str, key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
