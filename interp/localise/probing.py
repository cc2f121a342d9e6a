"""Linear probes for the label at every layer (Alain and Bengio 2016), each against a control
fitted the same way on shuffled labels (in the manner of Hewitt and Liang 2019): a label that a
layer holds is decoded from held-out examples well above the control; a shuffled label only
at chance. Probes are trained on some templates (or digits) and tested on the others, so that
they cannot memorise one template's wording; a template often fixes the label, so a test set
holds few independent groups, and each accuracy is the mean over several such splits."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import StandardScaler
from torch import Tensor

PROBE_C = 0.1  # inverse L2 penalty of the logistic probes (on standardised features)
N_SPLITS = 4  # random template splits each probe accuracy is averaged over


def held_out_splits(
    groups: Sequence[str], rng: np.random.Generator, n: int = N_SPLITS
) -> list[np.ndarray]:
    """Boolean masks of test rows, one per split: about half of the groups (templates,
    digits), drawn at random, all of whose rows are held out."""
    names = sorted(set(groups))
    if len(names) < 2:
        raise ValueError("probes need examples of at least two templates to hold one out")
    splits = []
    for _ in range(n):
        held = set(rng.permutation(names)[: max(1, len(names) // 2)])
        splits.append(np.array([g in held for g in groups]))
    return splits


def probe_accuracy(features: np.ndarray, labels: np.ndarray, test: np.ndarray) -> float:
    """Balanced accuracy on the test rows of a logistic probe trained on the other rows (NaN
    when the training rows hold a single label)."""
    train = ~test
    if len(set(labels[train])) < 2 or not test.any():
        return float("nan")
    scaler = StandardScaler().fit(features[train])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe = LogisticRegression(C=PROBE_C, max_iter=500)
        probe.fit(scaler.transform(features[train]), labels[train])
        predicted = probe.predict(scaler.transform(features[test]))
        # a held-out split may lack a label the probe predicts: that is a wrong answer, not news
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(labels[test], predicted))


def probe_curve(
    readout: Tensor, labels: Sequence[str], splits: list[np.ndarray], rng: np.random.Generator
) -> tuple[list[float], list[float]]:
    """Per stream ([stream, n, d] readout rows): the probe's held-out balanced accuracy, and
    that of the control probe trained on the same rows with their labels shuffled, each the
    mean over the splits."""
    gold = np.asarray(labels)
    controls = []
    for test in splits:
        shuffled = gold.copy()
        shuffled[~test] = rng.permutation(gold[~test])
        controls.append(shuffled)
    real, control = [], []
    for stream in readout.double().numpy():
        real.append(np.nanmean([probe_accuracy(stream, gold, test) for test in splits]))
        control.append(
            np.nanmean(
                [probe_accuracy(stream, c, test) for c, test in zip(controls, splits, strict=True)]
            )
        )
    return real, control
