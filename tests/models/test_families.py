"""Every supported family and option: converted with parity against the Hugging Face eager
forward (logits, every hidden state, every attention pattern, padded batches, within 1e-4), or
refused by name. The test walks `interp.models.families.FAMILIES`, the table of docs/models.md."""

import json
import warnings

import pytest
import torch
import transformers as hf

from interp.cli import main
from interp.errors import CheckpointError
from interp.models import families, load, load_hf
from interp.models.batch import Batch
from interp.models.families import FAMILIES, options_table
from interp.models.selfcheck import forward_gaps
from tests.conftest import padded_batch

TOLERANCE = 1e-4
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]

TEXT = dict(
    vocab_size=40,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    max_position_embeddings=32,
    num_labels=3,
)
VISION = dict(
    image_size=12,
    patch_size=4,
    num_channels=3,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    num_labels=3,
)
# The base config of each family (beside its defaults) and its classification class.
BASE = {
    "bert": (hf.BertConfig, hf.BertForSequenceClassification, TEXT),
    "distilbert": (
        hf.DistilBertConfig,
        hf.DistilBertForSequenceClassification,
        dict(
            vocab_size=40,
            dim=32,
            n_layers=2,
            n_heads=4,
            hidden_dim=48,
            max_position_embeddings=32,
            num_labels=3,
        ),
    ),
    "roberta": (hf.RobertaConfig, hf.RobertaForSequenceClassification, TEXT),
    "xlm-roberta": (hf.XLMRobertaConfig, hf.XLMRobertaForSequenceClassification, TEXT),
    "electra": (hf.ElectraConfig, hf.ElectraForSequenceClassification, TEXT),
    # DeBERTa-v3's choices: relative attention in log buckets, both terms, shared keys,
    # a normed table, no absolute positions, no token types
    "deberta-v2": (
        hf.DebertaV2Config,
        hf.DebertaV2ForSequenceClassification,
        dict(
            TEXT,
            relative_attention=True,
            pos_att_type="p2c|c2p",
            position_buckets=8,
            max_relative_positions=16,
            share_att_key=True,
            norm_rel_ebd="layer_norm",
            position_biased_input=False,
            type_vocab_size=0,
            layer_norm_eps=1e-7,
        ),
    ),
    # ModernBERT: layer 0 global, layer 1 local (two keys each side)
    "modernbert": (
        hf.ModernBertConfig,
        hf.ModernBertForSequenceClassification,
        dict(
            TEXT,
            global_attn_every_n_layers=2,
            local_attention=4,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            cls_token_id=2,
            sep_token_id=3,
        ),
    ),
    "vit": (hf.ViTConfig, hf.ViTForImageClassification, VISION),
    "deit": (hf.DeiTConfig, hf.DeiTForImageClassification, VISION),
}


def build(family: str, cls=None, **overrides):
    config_cls, default_cls, base = BASE[family]
    torch.manual_seed(0)
    config = config_cls(**{**base, **overrides})
    config._attn_implementation = "eager"
    model = (cls or default_cls)(config).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a swapped one shows
        for param in model.parameters():
            if param.ndim == 1:
                param.add_(torch.randn_like(param) * 0.1)
    return model


def text_batch(family: str):
    batch = padded_batch(vocab_size=40)
    if family in ("roberta", "xlm-roberta"):
        batch.input_ids[batch.attention_mask == 0] = 1  # they pad with id 1
        batch.token_type_ids = torch.zeros_like(batch.input_ids)
    if family == "distilbert":
        batch.token_type_ids = None
    return batch


def fit_token_types(batch, reference):
    """Types the reference has: none beyond its type vocabulary."""
    if batch.token_type_ids is not None and getattr(reference.config, "type_vocab_size", 2) < 2:
        batch.token_type_ids = torch.zeros_like(batch.token_type_ids)
    return batch


def reference_outputs(reference, family: str, batch):
    with torch.no_grad():
        if family in ("vit", "deit"):
            return reference(pixel_values=batch, output_hidden_states=True, output_attentions=True)
        kwargs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        if batch.token_type_ids is not None and getattr(reference.config, "type_vocab_size", 0):
            kwargs["token_type_ids"] = batch.token_type_ids
        return reference(**kwargs, output_hidden_states=True, output_attentions=True)


def parity(reference, family: str, folder, word_tokenizer) -> dict:
    """Save the reference, load it, and return the max abs differences
    (`interp.models.selfcheck.forward_gaps`, the embeddings included)."""
    reference.save_pretrained(folder)
    if family in ("vit", "deit"):
        pixels = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))
        batch = Batch(pixel_values=pixels)
    else:
        word_tokenizer.save(str(folder / "tokenizer.json"))
        batch = fit_token_types(text_batch(family), reference)
    return forward_gaps(load(folder), reference, batch, embeddings=True)


def assert_parity(gaps: dict) -> None:
    worst = max(gaps, key=gaps.get)
    assert gaps[worst] < TOLERANCE, f"{worst}: max abs difference {gaps[worst]:.2e}"


@pytest.mark.parametrize("family", list(BASE))
def test_each_family_matches_the_reference(family, tmp_path, word_tokenizer):
    assert_parity(parity(build(family), family, tmp_path, word_tokenizer))


VARIANTS = [
    (family, option.key, value)
    for family, spec in FAMILIES.items()
    for option in spec.options
    for value in option.converted_examples
]


@pytest.mark.parametrize("family,key,value", VARIANTS)
def test_every_converted_option_value_keeps_parity(family, key, value, tmp_path, word_tokenizer):
    reference = build(family, **{key: value})
    assert getattr(reference.config, key) == value or key == "pos_att_type"
    assert_parity(parity(reference, family, tmp_path, word_tokenizer))


REFUSED = [
    (family, option.key, option.refused_example)
    for family, spec in FAMILIES.items()
    for option in spec.options
    if option.refused_example is not None
]


@pytest.mark.parametrize("family,key,value", REFUSED)
def test_every_unsupported_option_value_is_refused_by_name(family, key, value, tmp_path):
    build(family).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config[key] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"option {key}={value!r} is not supported"):
        load_hf(tmp_path)


def test_every_family_has_a_parity_test_and_the_docs_table_is_current():
    assert set(BASE) == set(FAMILIES)
    assert options_table() in (ROOT / "docs" / "models.md").read_text()


def test_deberta_with_separate_position_projections_and_narrow_embeddings(tmp_path, word_tokenizer):
    """DeBERTa-v2's own choices: pos_key/pos_query projections, absolute positions added,
    embeddings narrower than the width, token types."""
    reference = build(
        "deberta-v2",
        share_att_key=False,
        position_biased_input=True,
        embedding_size=24,
        type_vocab_size=2,
        position_buckets=-1,
        max_relative_positions=6,
    )
    assert_parity(parity(reference, "deberta-v2", tmp_path, word_tokenizer))


def test_the_distilled_deit_averages_its_two_heads(tmp_path, word_tokenizer):
    reference = build("deit", cls=hf.DeiTForImageClassificationWithTeacher)
    assert_parity(parity(reference, "deit", tmp_path, word_tokenizer))
    model = load(tmp_path)
    assert model.cfg.head == "deit_distilled" and model.cfg.n_special == 2
    assert model.cfg.n_positions == 9 + 2


@pytest.mark.parametrize(
    "family,bare",
    [("electra", hf.ElectraModel), ("deberta-v2", hf.DebertaV2Model), ("deit", hf.DeiTModel)],
)
def test_a_bare_encoder_of_each_new_family_gets_a_fresh_head(
    family, bare, tmp_path, word_tokenizer
):
    reference = build(family, cls=bare)
    reference.save_pretrained(tmp_path)
    word_tokenizer.save(str(tmp_path / "tokenizer.json"))
    with pytest.warns(UserWarning, match="freshly initialised"):
        model = load_hf(tmp_path, labels=["a", "b"])
    batch = torch.rand(2, 3, 12, 12) if family == "deit" else text_batch(family)
    expected = reference_outputs(reference, family, batch)
    _, cache = model.run_with_cache(batch)
    last = model.cfg.n_layers - 1
    hidden = cache[f"blocks.{last}.hook_resid_post"]
    if family == "deit":  # the reference's last hidden state is after the final norm
        hidden = model.ln_final(hidden)
        expected_hidden = expected.last_hidden_state
    else:
        expected_hidden = expected.hidden_states[-1]
    assert (hidden - expected_hidden).abs().max() < TOLERANCE


@pytest.mark.parametrize("family", ["deberta-v2", "modernbert"])
def test_every_hook_fires_once_on_the_new_attention_kinds(family, tmp_path, word_tokenizer):
    """The hook vocabulary holds on disentangled and on rotary, local attention: each hook
    fires once with every opt-in hook on, and the logits are those of the plain forward."""
    reference = build(family)
    reference.save_pretrained(tmp_path)
    word_tokenizer.save(str(tmp_path / "tokenizer.json"))
    model = load(tmp_path)
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    batch = text_batch(family)
    counts: dict[str, int] = {}

    def count(value, hook):
        counts[hook.name] = counts.get(hook.name, 0) + 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logits = model.run_with_hooks(batch, fwd_hooks=[(lambda name: True, count)])
    assert set(counts.values()) == {1}
    assert set(model.firing_hook_names()) == set(counts)
    with torch.no_grad():
        plain = model(batch)
    assert (plain - logits).abs().max() < TOLERANCE


@pytest.mark.parametrize("family", ["deberta-v2", "electra", "xlm-roberta", "modernbert", "deit"])
def test_inspect_reports_a_folder_and_its_parity(family, tmp_path, word_tokenizer, capsys):
    cls = hf.DeiTForImageClassificationWithTeacher if family == "deit" else None
    build(family, cls=cls).save_pretrained(tmp_path)
    if family != "deit":
        word_tokenizer.save(str(tmp_path / "tokenizer.json"))
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"huggingface ({family})" in out and "layers      2, 4 heads each, width 32" in out
    assert "parity      holds" in out and "labels      LABEL_0, LABEL_1, LABEL_2" in out


def test_inspect_refuses_an_unsupported_option_in_one_line(tmp_path, word_tokenizer, capsys):
    build("deberta-v2").save_pretrained(tmp_path)
    word_tokenizer.save(str(tmp_path / "tokenizer.json"))
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "conv_kernel_size": 3}))
    assert main(["inspect", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "option conv_kernel_size=3 is not supported" in err[0]


def test_inspect_exits_2_when_parity_fails(tmp_path, word_tokenizer, capsys, monkeypatch):
    """A conversion that computes another function (here GELU read as ReLU) is caught."""
    build("bert").save_pretrained(tmp_path)
    word_tokenizer.save(str(tmp_path / "tokenizer.json"))
    monkeypatch.setitem(families.ACTIVATIONS, "gelu", "relu")
    assert main(["inspect", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "parity      FAILS" in captured.out
    assert "differs from the Hugging Face forward" in captured.err
