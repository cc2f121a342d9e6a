"""Bias models: small classifiers on hand-made shortcut features that give p_b(y | x).

NLI: lexical-overlap and negation features of the pair (overlap rate, full overlap, contiguous
subsequence, complete constituent, negated hypothesis). Digits: the stroke colour, the marker
slot, or both (one-hot each). A bias model sees the shortcut features only, so that debiasing losses
discount exactly the shortcut (a bias model that also solves the task makes PoE collapse).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from interp.errors import CheckpointError
from interp.io import atomic_write_text, write_folder
from interp.models.weights import read_safetensors, write_safetensors
from probes.core import Example
from probes.nli.grammar import parse_bracket, subtrees, words
from probes.vision.digits import BORDER, COLOURS, MARKER_SLOTS

NEGATION_WORDS = {"not", "never", "no", "nobody", "n't", "nothing", "none"}
PUNCTUATION = {".", ",", "!", "?", ";", ":"}
NLI_FEATURES = ("overlap_rate", "full_overlap", "subsequence", "constituent", "negation")
OPTIONAL_NLI_FEATURES = ("length_difference",)
DIGIT_FEATURES = {"colour": "colour", "marker": "marker"}


def _words(sentence: str) -> list[str]:
    return [w for w in sentence.lower().split() if w not in PUNCTUATION]


def _is_contiguous(part: list[str], whole: list[str]) -> bool:
    n = len(part)
    return n > 0 and any(whole[i : i + n] == part for i in range(len(whole) - n + 1))


def _is_constituent(hypothesis: list[str], premise_parse: str) -> bool:
    if not premise_parse:
        return False
    try:
        tree = parse_bracket(premise_parse)
    except (IndexError, ValueError):
        return False
    return any(
        [w.lower() for w in words(s) if w not in PUNCTUATION] == hypothesis
        for s in subtrees(tree, "S")
    )


def nli_features(example: Example, names: Sequence[str] = NLI_FEATURES) -> list[float]:
    premise, hypothesis = _words(example.premise), _words(example.hypothesis)
    premise_set = set(premise)
    overlap = sum(w in premise_set for w in hypothesis) / max(len(hypothesis), 1)
    values = {
        "overlap_rate": overlap,
        "full_overlap": float(overlap == 1.0),
        "subsequence": float(_is_contiguous(hypothesis, premise)),
        "constituent": float(_is_constituent(hypothesis, example.premise_parse)),
        "negation": float(bool(set(hypothesis) & NEGATION_WORDS)),
        "length_difference": (len(hypothesis) - len(premise)) / 10.0,
    }
    return [values[name] for name in names]


def digit_features(example: Example, feature: str) -> list[float]:
    """One-hot of the nearest palette colour of the stroke, or of the marker slot."""
    image = example.image
    if feature == "marker":
        scores = [image[:, r : r + 2, c : c + 2].min() for r, c in MARKER_SLOTS]
        index = int(np.argmax(scores))
    else:
        inner = image[:, BORDER:-BORDER, BORDER:-BORDER].reshape(3, -1)
        strength = inner.max(0)
        stroke = inner[:, strength > 0.5 * strength.max()]
        colour = stroke.mean(1) / max(stroke.mean(1).max(), 1e-6)
        palette = COLOURS / COLOURS.max(1, keepdims=True)
        index = int(np.argmin(((palette - colour) ** 2).sum(1)))
    one_hot = [0.0] * 10
    one_hot[index] = 1.0
    return one_hot


@dataclass
class BiasModel:
    """Multinomial logistic regression on shortcut features; `log_probs` gives log p_b(y | x)."""

    task: str  # nli or digits
    features: list[str]
    labels: list[str]
    weight: torch.Tensor  # [n_labels, n_features]
    bias: torch.Tensor  # [n_labels]
    meta: dict

    def feature_matrix(self, examples: Sequence[Example]) -> torch.Tensor:
        if self.task == "nli":
            rows = [nli_features(e, self.features) for e in examples]
        else:
            rows = [sum((digit_features(e, f) for f in self.features), []) for e in examples]
        return torch.tensor(rows, dtype=torch.float32)

    def log_probs(self, examples: Sequence[Example]) -> torch.Tensor:
        """[n_examples, n_labels] log p_b(y | x), in the order of `self.labels`."""
        logits = self.feature_matrix(examples) @ self.weight.T + self.bias
        return torch.log_softmax(logits, dim=-1)

    def accuracy(self, examples: Sequence[Example]) -> float:
        index = {label: i for i, label in enumerate(self.labels)}
        gold = torch.tensor([index[e.label] for e in examples])
        return float((self.log_probs(examples).argmax(-1) == gold).float().mean())

    def save(self, folder: str | Path) -> Path:
        """Write the bias model to `folder` as a whole (complete or absent after any failure)."""
        config = {
            "kind": "bias_model",
            "task": self.task,
            "features": self.features,
            "labels": self.labels,
        }

        def write(staging: Path) -> None:
            tensors = {"weight": self.weight, "bias": self.bias}
            write_safetensors(staging / "model.safetensors", tensors)
            atomic_write_text(
                staging / "train.json", json.dumps(self.meta, indent=2, sort_keys=True)
            )
            atomic_write_text(staging / "config.json", json.dumps(config, indent=2))

        return write_folder(folder, write)

    @classmethod
    def load(cls, folder: str | Path) -> "BiasModel":
        folder = Path(folder)
        try:
            config = json.loads((folder / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{folder / 'config.json'}: cannot be read ({err})") from None
        if config.get("kind") != "bias_model":
            raise CheckpointError(f"{folder}: not a bias model (kind {config.get('kind')!r})")
        state = read_safetensors(folder / "model.safetensors")
        n_labels, n_features = len(config["labels"]), len(config["features"])
        if config["task"] == "digits":
            n_features = 10 * len(config["features"])
        if tuple(state["weight"].shape) != (n_labels, n_features):
            raise CheckpointError(
                f"{folder}: weight has shape {tuple(state['weight'].shape)}, config implies "
                f"{(n_labels, n_features)}"
            )
        meta = (
            json.loads((folder / "train.json").read_text())
            if (folder / "train.json").exists()
            else {}
        )
        return cls(
            config["task"],
            config["features"],
            config["labels"],
            state["weight"],
            state["bias"],
            meta,
        )


def fit_bias_model(
    task: str,
    examples: Sequence[Example],
    labels: list[str],
    features: Sequence[str] | None = None,
    seed: int = 0,
) -> BiasModel:
    """Fit the bias model by multinomial logistic regression (scikit-learn, L-BFGS)."""
    if not examples:
        raise ValueError("cannot fit a bias model on no examples")
    if task == "nli":
        names = list(features or NLI_FEATURES)
        unknown = set(names) - set(NLI_FEATURES + OPTIONAL_NLI_FEATURES)
        if unknown:
            raise ValueError(f"unknown NLI bias features {sorted(unknown)}")
    elif task == "digits":
        names = list(features or ["colour"])
        if not names or len(set(names)) != len(names) or set(names) - set(DIGIT_FEATURES):
            raise ValueError(
                f"a digits bias model uses colour, marker or both, each once; got {names}"
            )
    else:
        raise ValueError(f"unknown task '{task}' for a bias model")
    model = BiasModel(task, names, list(labels), torch.zeros(0), torch.zeros(0), {})
    x = model.feature_matrix(examples).numpy()
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[e.label] for e in examples])
    classifier = LogisticRegression(max_iter=1000, random_state=seed)
    classifier.fit(x, y)
    weight = np.zeros((len(labels), x.shape[1]), dtype=np.float32)
    bias = np.full(len(labels), -1e4, dtype=np.float32)  # labels never seen get ~zero mass
    for row, cls in enumerate(classifier.classes_):
        if len(classifier.classes_) == 2:
            sign = 1.0 if row == 1 else -1.0
            weight[cls] = 0.5 * sign * classifier.coef_[0]
            bias[cls] = 0.5 * sign * classifier.intercept_[0]
        else:
            weight[cls] = classifier.coef_[row]
            bias[cls] = classifier.intercept_[row]
    model.weight, model.bias = torch.from_numpy(weight), torch.from_numpy(bias)
    model.meta = {"train_accuracy": model.accuracy(examples), "n_train": len(examples)}
    return model
