"""Turn sentences or sentence pairs into a Batch with a `tokenizers` vocabulary."""

from __future__ import annotations

import bisect
import re
import warnings
from collections.abc import Sequence

import torch
from tokenizers import Tokenizer

from interp.models.batch import Batch

PAD_CANDIDATES = ("[PAD]", "<pad>")


def pad_token_id(tokenizer: Tokenizer) -> int:
    """The id of the tokenizer's padding token ([PAD] or <pad>)."""
    if tokenizer.padding is not None:
        return tokenizer.padding["pad_id"]
    for token in PAD_CANDIDATES:
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return token_id
    raise ValueError(f"the tokenizer has none of the padding tokens {PAD_CANDIDATES}")


def encode_texts(
    tokenizer: Tokenizer,
    premises: Sequence[str],
    hypotheses: Sequence[str] | None = None,
    max_length: int = 512,
    device: str | torch.device = "cpu",
) -> Batch:
    """Encode sentences (or premise/hypothesis pairs), padded to the longest, as a Batch.

    Special tokens and token types come from the tokenizer's own post-processor, so a BERT
    vocabulary gives `[CLS] premise [SEP] hypothesis [SEP]` with types 0 and 1. Sequences longer
    than `max_length` are truncated with a warning.
    """
    if len(premises) == 0:
        raise ValueError("encode_texts got no sentences")
    if hypotheses is not None and len(hypotheses) != len(premises):
        raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses")
    tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: padding settings stay local
    tokenizer.no_truncation()
    tokenizer.enable_padding(pad_id=pad_token_id(tokenizer))
    inputs = list(premises) if hypotheses is None else list(zip(premises, hypotheses))
    encodings = tokenizer.encode_batch(inputs)
    if len(encodings[0].ids) > max_length:
        too_long = sum(sum(e.attention_mask) > max_length for e in encodings)
        warnings.warn(
            f"{too_long} of {len(encodings)} inputs exceed {max_length} tokens and were truncated",
            stacklevel=2,
        )
        tokenizer.enable_truncation(max_length=max_length)
        encodings = tokenizer.encode_batch(inputs)

    def tensor(attr: str) -> torch.Tensor:
        return torch.tensor([getattr(e, attr) for e in encodings], dtype=torch.long, device=device)

    texts = [(p,) if hypotheses is None else p for p in inputs]
    words = [word_units(e, t) for e, t in zip(encodings, texts, strict=True)]
    sequences = [
        [s if s is not None and kept else -1 for s, kept in zip(e.sequence_ids, e.attention_mask)]
        for e in encodings
    ]
    return Batch(
        input_ids=tensor("ids"),
        attention_mask=tensor("attention_mask"),
        token_type_ids=tensor("type_ids"),
        word_ids=torch.tensor(words, dtype=torch.long, device=device),
        sequence_ids=torch.tensor(sequences, dtype=torch.long, device=device),
    )


CLS_UNIT, SEPARATOR_UNIT, FIRST_WORD_UNIT = 0, 1, 2


def word_units(encoding, texts: Sequence[str]) -> list[int]:
    """Per token, a unit that does not depend on the tokenizer: 0 for the first special token
    ([CLS], <s>), 1 for the other special tokens (separators), 2 + k for the k-th
    whitespace-separated word of the input (the premise's words, then the hypothesis's), -1 for
    padding. Two tokenizers of the same text give the same units, so attention can be pooled
    from tokens to words and compared across them."""
    offsets_before = [0]
    word_ends = []
    for text in texts:
        ends = [match.end() for match in re.finditer(r"\S+", text)]
        word_ends.append(ends)
        offsets_before.append(offsets_before[-1] + len(ends))
    units, seen_special = [], False
    for sequence, (start, _), mask in zip(
        encoding.sequence_ids, encoding.offsets, encoding.attention_mask, strict=True
    ):
        if not mask:
            units.append(-1)
        elif sequence is None:
            units.append(SEPARATOR_UNIT if seen_special else CLS_UNIT)
            seen_special = True
        else:  # the word whose end lies after the token's first character
            ends = word_ends[sequence]
            index = min(bisect.bisect_right(ends, start), len(ends) - 1)
            units.append(FIRST_WORD_UNIT + offsets_before[sequence] + index)
    return units
