"""Inputs: probe examples (sentence pairs or images) as a model's Batch, and batched prediction.

Training, evaluation, contrast pairs and the study all encode through here: text with the model's
own tokenizer, images stacked as pixel values for the model's patch front end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from interp.errors import NotAnalysable
from interp.models.batch import Batch
from interp.models.hooked import HookedClassifier
from interp.models.tokenize import encode_texts
from probes.core import Example, ProbeSet


@dataclass
class EncodedSet:
    """All examples of a set as one padded Batch plus gold label ids (in `labels` order)."""

    batch: Batch
    label_ids: Tensor
    labels: list[str]

    def __len__(self) -> int:
        return len(self.label_ids)

    def rows(self, index: Tensor) -> Batch:
        """The rows `index`, trimmed to their longest sequence (text) to save compute."""
        batch = self.batch[index]
        if batch.input_ids is not None:
            longest = int(batch.attention_mask.sum(1).max())
            batch = Batch(
                input_ids=batch.input_ids[:, :longest],
                attention_mask=batch.attention_mask[:, :longest],
                token_type_ids=None
                if batch.token_type_ids is None
                else batch.token_type_ids[:, :longest],
            )
        return batch


def label_index(examples: Sequence[Example], labels: Sequence[str]) -> Tensor:
    index = {label: i for i, label in enumerate(labels)}
    missing = sorted({e.label for e in examples} - set(index))
    if missing:
        raise NotAnalysable(
            f"examples carry labels {missing} that the model does not have {labels}"
        )
    return torch.tensor([index[e.label] for e in examples], dtype=torch.long)


def encode_examples(
    model: HookedClassifier,
    examples: Sequence[Example],
    labels: Sequence[str] | None = None,
    with_labels: bool = True,
) -> EncodedSet:
    """Encode with the model's own tokenizer (text) or stack the images (vision), on CPU.

    `with_labels=False` skips the gold labels (for predicting on another label scheme).
    """
    if not examples:
        raise ValueError("no examples to encode")
    labels = list(labels or model.cfg.labels)
    if model.cfg.modality == "vision":
        pixels = torch.from_numpy(np.stack([e.image for e in examples]))
        batch = Batch(pixel_values=pixels, n_positions=model.cfg.n_positions)
    else:
        if model.tokenizer is None:
            raise ValueError("a text model needs a tokenizer to encode examples")
        batch = encode_texts(
            model.tokenizer,
            [e.premise for e in examples],
            [e.hypothesis for e in examples],
            max_length=model.cfg.n_positions,
        )
    gold = label_index(examples, labels) if with_labels else torch.full((len(examples),), -1)
    return EncodedSet(batch, gold, labels)


@torch.no_grad()
def predict_logits(model: HookedClassifier, data: EncodedSet, batch_size: int = 256) -> Tensor:
    """Logits for every example, in order, computed in chunks on the model's device (CPU out)."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        out.append(model(data.rows(index)).float().cpu())
    model.train(was_training)
    return torch.cat(out)


BINARY = ["entailment", "non-entailment"]


def check_labels(model: HookedClassifier, probe_set: ProbeSet) -> None:
    """The model's label names must express the suite's: the same names, or a three-way NLI
    model read in the binary HANS scheme. Checked before any scoring, so that a model
    labelled `LABEL_0..2` (or a binary model on a three-way suite) is not scored silently."""
    ours, theirs = list(model.cfg.labels), list(probe_set.labels)
    if not probe_set.examples:
        raise ValueError(f"probe suite '{probe_set.name}' is empty: nothing to score")
    if set(theirs) <= set(ours):
        return
    if theirs == BINARY and "entailment" in ours and {"neutral", "contradiction"} & set(ours):
        return
    name = model.meta.get("id") or model.meta.get("path") or "the model"
    raise ValueError(
        f"{name} has labels {ours}, which do not name the labels {theirs} of suite "
        f"'{probe_set.name}'; give its manifest entry a label_map "
        f"(e.g. {{{ours[0]}: {theirs[0]}, ...}})"
    )


ENCODE_CHUNK = 2048  # examples tokenised (and padded) together when streaming a suite


def encoding_key(model: HookedClassifier) -> str:
    """Models with the same key read the same inputs: the same tokenizer (or image size)."""
    if model.tokenizer is None:
        return f"images-{model.cfg.image_size}-{model.cfg.n_channels}"
    return hashlib.sha256(model.tokenizer.to_str().encode()).hexdigest()


def _content_key(examples: Sequence[Example]) -> str:
    """A digest of what the examples hold (ids alone repeat across benchmark seeds)."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(f"{e.id}\t{e.premise}\t{e.hypothesis}\n".encode())
        if e.image is not None:
            digest.update(np.ascontiguousarray(e.image).tobytes())
    return digest.hexdigest()


def encode_in_chunks(
    model: HookedClassifier,
    examples: Sequence[Example],
    cache: dict | None = None,
    name: str = "",
) -> list[EncodedSet]:
    """A suite's examples encoded `ENCODE_CHUNK` at a time (each chunk padded to its own
    longest input), once per tokenizer when a `cache` dict is shared between models."""
    key = (encoding_key(model), name, _content_key(examples))
    if cache is not None and name and key in cache:
        return cache[key]
    parts = [
        encode_examples(model, examples[start : start + ENCODE_CHUNK], with_labels=False)
        for start in range(0, len(examples), ENCODE_CHUNK)
    ]
    if cache is not None and name:
        cache[key] = parts
    return parts


@torch.no_grad()
def predict_labels(
    model: HookedClassifier,
    probe_set: ProbeSet,
    batch_size: int = 256,
    cache: dict | None = None,
) -> list[str]:
    """Predicted label strings in the probe set's scheme (three-way -> binary where needed).

    The suite is encoded and predicted in chunks; with a shared `cache`, a suite is tokenised
    once for all models that share a tokenizer."""
    check_labels(model, probe_set)
    predicted = []
    for part in encode_in_chunks(model, probe_set.examples, cache, probe_set.name):
        logits = predict_logits(model, part, batch_size)
        predicted += [model.cfg.labels[i] for i in logits.argmax(-1)]
    if probe_set.labels == BINARY and not set(BINARY) <= set(model.cfg.labels):
        return ["entailment" if p == "entailment" else "non-entailment" for p in predicted]
    return predicted
