"""Batch: the tensors one forward pass of a HookedClassifier reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch
from jaxtyping import Float, Int
from torch import Tensor


@dataclass
class Batch:
    """Inputs for one model: token ids with their masks (text) or pixels (vision), plus labels.

    `shape` is `(batch, positions)`, the shape of the token ids a TransformerLens function expects
    when it is handed a batch in place of tokens (it reads `shape[-1]` as the number of positions).
    """

    input_ids: Int[Tensor, "batch pos"] | None = None
    attention_mask: Int[Tensor, "batch pos"] | None = None
    token_type_ids: Int[Tensor, "batch pos"] | None = None
    pixel_values: Float[Tensor, "batch channel height width"] | None = None
    labels: Int[Tensor, " batch"] | None = None
    # Per token, its tokenizer-independent unit (`interp.models.tokenize.word_units`): 0 the
    # first special token, 1 the other special tokens, 2 + k the k-th word, -1 padding.
    word_ids: Int[Tensor, "batch pos"] | None = None
    # Per token, 0 in the premise (first sentence), 1 in the hypothesis, -1 for special tokens
    # and padding: what tells the two apart when a tokenizer leaves token types at 0 (RoBERTa).
    sequence_ids: Int[Tensor, "batch pos"] | None = None
    # Vision models prepend a [CLS] vector, so positions = patches + 1; set by the encoder.
    n_positions: int | None = None

    def __post_init__(self) -> None:
        if (self.input_ids is None) == (self.pixel_values is None):
            raise ValueError("a Batch holds either input_ids (text) or pixel_values (vision)")
        if self.input_ids is not None:
            if self.input_ids.ndim != 2:
                raise ValueError(
                    f"input_ids must be [batch, pos], got shape {tuple(self.input_ids.shape)}"
                )
            if self.attention_mask is None:
                self.attention_mask = torch.ones_like(self.input_ids)
            for name in ("attention_mask", "token_type_ids", "word_ids", "sequence_ids"):
                value = getattr(self, name)
                if value is not None and value.shape != self.input_ids.shape:
                    raise ValueError(
                        f"{name} has shape {tuple(value.shape)}, input_ids has "
                        f"{tuple(self.input_ids.shape)}"
                    )
        elif self.pixel_values.ndim != 4:
            raise ValueError(
                "pixel_values must be [batch, channel, height, width], got shape "
                f"{tuple(self.pixel_values.shape)}"
            )
        if self.labels is not None and self.labels.shape[0] != len(self):
            raise ValueError(
                f"labels has {self.labels.shape[0]} entries for a batch of {len(self)}"
            )

    def __len__(self) -> int:
        main = self.input_ids if self.input_ids is not None else self.pixel_values
        return int(main.shape[0])

    @property
    def shape(self) -> torch.Size:
        if self.input_ids is not None:
            return self.input_ids.shape
        return torch.Size((len(self), self.n_positions if self.n_positions is not None else -1))

    @property
    def device(self) -> torch.device:
        main = self.input_ids if self.input_ids is not None else self.pixel_values
        return main.device

    def _tensor_fields(self) -> dict[str, Tensor]:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }

    def to(self, device: torch.device | str) -> "Batch":
        return replace(self, **{k: v.to(device) for k, v in self._tensor_fields().items()})

    def __getitem__(self, index: slice | Sequence[int] | Tensor) -> "Batch":
        """Rows of the batch (a slice, a list of indices or a boolean/integer tensor)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return replace(self, **{k: v[index] for k, v in self._tensor_fields().items()})

    def repeat(self, times: int) -> "Batch":
        """The batch stacked `times` times along the batch axis (rows 0..n-1, then 0..n-1, ...)."""
        return replace(
            self,
            **{k: v.repeat(times, *([1] * (v.ndim - 1))) for k, v in self._tensor_fields().items()},
        )

    @staticmethod
    def cat(batches: Sequence["Batch"]) -> "Batch":
        """Concatenate batches with the same fields and sequence length along the batch axis."""
        if not batches:
            raise ValueError("Batch.cat needs at least one batch")
        first = batches[0]
        merged = {}
        for name in first._tensor_fields():
            parts = [getattr(b, name) for b in batches]
            if any(p is None for p in parts):
                raise ValueError(f"Batch.cat: field {name} is missing from some batches")
            merged[name] = torch.cat(parts, dim=0)
        return replace(first, **merged)
