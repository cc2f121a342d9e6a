"""Colour-biased digits: scikit-learn's bundled 8x8 digits in RGB with two spurious features.

Each digit is drawn in a stroke colour and framed on a 12x12 canvas that carries a small white
corner marker. In training, the colour is the class's own colour with probability `colour_bias`
and the marker sits in the class's own slot with probability `marker_bias`; otherwise each is
drawn from another class. Evaluation suites use held-out digits and set the features apart:
`aligned` draws both the class's own, `colour_conflicting` / `marker_conflicting` another
class's colour / slot, `both_conflicting` both. The `augment` set holds the training digits
recoloured (another class's colour, a random marker): the counterfactual augmentation fix.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from probes.core import Example, ProbeSet

IMAGE_SIZE = 12
BORDER = 2
LABELS = [str(d) for d in range(10)]
COLOURS = np.array(
    [
        (0.90, 0.10, 0.10),
        (0.10, 0.80, 0.10),
        (0.15, 0.30, 0.95),
        (0.95, 0.85, 0.10),
        (0.85, 0.15, 0.85),
        (0.10, 0.85, 0.85),
        (0.95, 0.55, 0.10),
        (0.55, 0.25, 0.85),
        (0.55, 0.80, 0.30),
        (0.95, 0.45, 0.65),
    ],
    dtype=np.float32,
)
# Top-left corners of the 2x2 marker squares, all inside the 2-pixel frame.
MARKER_SLOTS = [(0, x) for x in range(0, 12, 2)] + [(10, x) for x in (1, 4, 7, 10)]
SUITES = (
    "in_distribution",
    "aligned",
    "colour_conflicting",
    "marker_conflicting",
    "both_conflicting",
    "unbiased",
)


@dataclass(frozen=True)
class DigitsConfig:
    seed: int = 0
    colour_bias: float = 0.95
    marker_bias: float = 0.9
    test_fraction: float = 0.3
    renders: int = 1  # renderings of each training digit, each with its own colour and marker

    def __post_init__(self) -> None:
        for name in ("colour_bias", "marker_bias"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
        if self.renders < 1:
            raise ValueError(f"renders must be at least 1, got {self.renders}")


@dataclass
class DigitsBenchmark:
    config: DigitsConfig
    train: ProbeSet
    suites: dict[str, ProbeSet]
    augment: ProbeSet


def render(digit: np.ndarray, colour: int, marker: int) -> np.ndarray:
    """An 8x8 digit (values 0..16) in `colour` on a 12x12 canvas with a marker: [3, 12, 12]."""
    canvas = np.zeros((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    stroke = (digit.astype(np.float32) / 16.0)[None] * COLOURS[colour][:, None, None]
    canvas[:, BORDER : BORDER + 8, BORDER : BORDER + 8] = stroke
    row, col = MARKER_SLOTS[marker]
    canvas[:, row : row + 2, col : col + 2] = 1.0
    return canvas


def _other(rng: random.Random, label: int) -> int:
    return rng.choice([c for c in range(10) if c != label])


def _feature(rng: random.Random, label: int, mode: str, bias: float) -> int:
    """aligned: the class's own; conflicting: another class's; biased: own with prob `bias`;
    random: uniform over all ten."""
    if mode == "aligned":
        return label
    if mode == "conflicting":
        return _other(rng, label)
    if mode == "biased":
        return label if rng.random() < bias else _other(rng, label)
    return rng.randrange(10)


SUITE_MODES = {
    "train": ("biased", "biased"),
    "augment": ("conflicting", "random"),
    "in_distribution": ("biased", "biased"),
    "aligned": ("aligned", "aligned"),
    "colour_conflicting": ("conflicting", "aligned"),
    "marker_conflicting": ("aligned", "conflicting"),
    "both_conflicting": ("conflicting", "conflicting"),
    "unbiased": ("random", "random"),
}


def _subcase(colour_ok: bool, marker_ok: bool) -> str:
    if colour_ok and marker_ok:
        return "aligned"
    if marker_ok:
        return "colour_conflicting"
    if colour_ok:
        return "marker_conflicting"
    return "both_conflicting"


def _bias_type(colour_ok: bool, marker_ok: bool) -> str:
    """The shortcut an example tests: the one it conflicts with, both, or (aligned) both."""
    if colour_ok != marker_ok:
        return "marker" if colour_ok else "colour"
    return "colour+marker"


def _build(
    name: str, indices: list[int], images, targets, cfg: DigitsConfig, rng: random.Random
) -> ProbeSet:
    colour_mode, marker_mode = SUITE_MODES[name]
    examples, partners, pairs = [], [], []
    for position, index in enumerate(indices):
        label = int(targets[index])
        colour = _feature(rng, label, colour_mode, cfg.colour_bias)
        marker = _feature(rng, label, marker_mode, cfg.marker_bias)
        colour_ok, marker_ok = colour == label, marker == label
        # The class a conflicting feature points to: the foil of the example's minimal pair.
        bias_label = label if colour_ok and marker_ok else (marker if colour_ok else colour)
        example = Example(
            id=f"{name}-{position:05d}",
            label=LABELS[label],
            suite=name,
            heuristic="colour+marker",
            subcase=_subcase(colour_ok, marker_ok),
            bias_type=_bias_type(colour_ok, marker_ok),
            bias_aligned=colour_ok and marker_ok,
            image=render(images[index], colour, marker),
            extra={
                "digit_index": int(index),
                "colour": colour,
                "marker": marker,
                "bias_label": LABELS[bias_label],
            },
        )
        examples.append(example)
        if name not in ("train", "augment") and not example.bias_aligned:
            partner = Example(
                **{
                    **example.__dict__,
                    "id": f"{example.id}-partner",
                    "subcase": "aligned",
                    "bias_aligned": True,
                    "image": render(images[index], label, label),
                    "extra": {
                        "digit_index": int(index),
                        "colour": label,
                        "marker": label,
                        "bias_label": LABELS[label],
                    },
                }
            )
            partners.append(partner)
            pairs.append((example.id, partner.id))
    return ProbeSet(name, list(LABELS), examples, partners, pairs)


def generate_digits(cfg: DigitsConfig = DigitsConfig(), n_per_suite: int | None = None):
    """Training set from 70% of the digits, suites from the held-out rest (same seed, same data).

    Minimal pairs: each bias-conflicting suite example is paired with the same digit drawn with
    its aligned colour and marker; the label stays, the spurious evidence flips (the example's
    `extra["bias_label"]` names the class it points to). The augmentation set recolours the
    training digits.
    """
    from sklearn.datasets import load_digits  # lazy: scikit-learn is slow to import

    data = load_digits()
    order = list(range(len(data.target)))
    random.Random(f"digits-split-{cfg.seed}").shuffle(order)
    cut = round(len(order) * cfg.test_fraction)
    test, train = order[:cut], order[cut:]
    if n_per_suite is not None:
        test = test[:n_per_suite]
    train_set = _build(
        "train", train * cfg.renders, data.images, data.target, cfg, random.Random(cfg.seed)
    )
    suites = {
        name: _build(name, test, data.images, data.target, cfg, random.Random(f"{cfg.seed}-{name}"))
        for name in SUITES
    }
    augment = _build(
        "augment", train, data.images, data.target, cfg, random.Random(f"{cfg.seed}-augment")
    )
    return DigitsBenchmark(cfg, train_set, suites, augment)


def images_of(probe_set: ProbeSet, partners: bool = False) -> np.ndarray:
    """Stacked images [n, 3, 12, 12] of the examples (or of the partners)."""
    items = probe_set.partners if partners else probe_set.examples
    if not items:
        raise ValueError(f"probe set '{probe_set.name}' has no images to stack")
    return np.stack([e.image for e in items])
