"""Word-level `tokenizers` vocabularies with BERT-style special tokens and pair templates."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def build_word_tokenizer(words: Iterable[str]) -> Tokenizer:
    """A lower-casing word-level tokenizer: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, then `words`.

    Pairs encode as `[CLS] premise [SEP] hypothesis [SEP]` with token types 0 (premise, its
    [CLS] and first [SEP]) and 1 (hypothesis and final [SEP]), as in BERT.
    """
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in sorted({w.lower() for w in words}):
        if word not in vocab:
            vocab[word] = len(vocab)
    return bert_style(Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]")), vocab)


def bert_style(tokenizer: Tokenizer, vocab: dict[str, int]) -> Tokenizer:
    """Lower-casing, whitespace and punctuation splitting, and BERT's pair template
    `[CLS] A [SEP] B [SEP]` (token types 0, then 1), around any vocabulary model."""
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tokenizer
