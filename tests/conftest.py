import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from interp.models import Batch, ClassifierConfig, HookedClassifier  # noqa: E402
from probes.tokenizer import build_word_tokenizer  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))

WORDS = "the a doctor lawyer artist saw paid helped near by not who and . , if".split()


@pytest.fixture
def word_tokenizer():
    return build_word_tokenizer(WORDS)


def tiny_config(**overrides) -> ClassifierConfig:
    fields = dict(
        n_layers=2,
        d_model=16,
        n_heads=4,
        d_mlp=32,
        labels=["entailment", "non-entailment"],
        vocab_size=len(WORDS) + 8,
        max_positions=24,
    )
    fields.update(overrides)
    return ClassifierConfig(**fields)


def padded_batch(vocab_size: int = 20, seed: int = 0) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, vocab_size, (3, 9), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    types = torch.zeros_like(ids)
    types[:, 5:] = 1
    types[mask == 0] = 0
    return Batch(input_ids=ids, attention_mask=mask, token_type_ids=types)


@pytest.fixture
def tiny_model(word_tokenizer) -> HookedClassifier:
    return HookedClassifier(tiny_config(), seed=1, tokenizer=word_tokenizer).eval()


def blank_model(**fields) -> HookedClassifier:
    """A one-layer pre-norm classifier with every weight zero and unit LayerNorm scales, to be
    wired by hand (no token types, four positions)."""
    cfg = ClassifierConfig(
        n_layers=1, d_mlp=4, max_positions=4, n_token_types=0, norm="pre", **fields
    )
    model = HookedClassifier(cfg, seed=0).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for name, p in model.named_parameters():
            if name.endswith((".w", "ln_final.weight")):
                p.fill_(1.0)
    return model
