"""HookedClassifier: hook vocabulary, caching, hook hygiene, TransformerLens interoperability."""

from collections import Counter

import pytest
import torch
from transformer_lens import patching

from interp.models import Batch, HookedClassifier
from tests.conftest import padded_batch, tiny_config

GLOBAL_HOOKS = {
    "hook_embed": ("batch", "pos", "d_model"),
    "hook_pos_embed": ("batch", "pos", "d_model"),
    "hook_token_type_embed": ("batch", "pos", "d_model"),
    "hook_cls": ("batch", "d_model"),
    "hook_pooled": ("batch", "d_model"),
    "hook_logits": ("batch", "n_labels"),
}
BLOCK_HOOKS = {
    "hook_resid_pre": ("batch", "pos", "d_model"),
    "ln1.hook_scale": ("batch", "pos", 1),
    "ln1.hook_normalized": ("batch", "pos", "d_model"),
    "ln2.hook_scale": ("batch", "pos", 1),
    "ln2.hook_normalized": ("batch", "pos", "d_model"),
    "attn.hook_q": ("batch", "pos", "head", "d_head"),
    "attn.hook_k": ("batch", "pos", "head", "d_head"),
    "attn.hook_v": ("batch", "pos", "head", "d_head"),
    "attn.hook_attn_scores": ("batch", "head", "pos", "pos"),
    "attn.hook_pattern": ("batch", "head", "pos", "pos"),
    "attn.hook_z": ("batch", "pos", "head", "d_head"),
    "hook_attn_out": ("batch", "pos", "d_model"),
    "hook_resid_mid": ("batch", "pos", "d_model"),
    "hook_mlp_in": ("batch", "pos", "d_model"),
    "mlp.hook_pre": ("batch", "pos", "d_mlp"),
    "mlp.hook_post": ("batch", "pos", "d_mlp"),
    "hook_mlp_out": ("batch", "pos", "d_model"),
    "hook_resid_post": ("batch", "pos", "d_model"),
}
OPT_IN_RESULT = {"attn.hook_result": ("batch", "pos", "head", "d_model")}
OPT_IN_SPLIT = {
    "hook_q_input": ("batch", "pos", "head", "d_model"),
    "hook_k_input": ("batch", "pos", "head", "d_model"),
    "hook_v_input": ("batch", "pos", "head", "d_model"),
}


def expected_hooks(model: HookedClassifier, batch: Batch) -> dict[str, tuple[int, ...]]:
    cfg = model.cfg
    sizes = {
        "batch": len(batch),
        "pos": batch.shape[1],
        "d_model": cfg.d_model,
        "head": cfg.n_heads,
        "d_head": cfg.d_head,
        "d_mlp": cfg.d_mlp,
        "n_labels": cfg.n_labels,
    }
    block = dict(BLOCK_HOOKS)
    if cfg.use_attn_result:
        block.update(OPT_IN_RESULT)
    if cfg.use_split_qkv_input:
        block.update(OPT_IN_SPLIT)
        if cfg.norm == "pre":  # one ln1 call over the q, k and v copies of every head
            block["ln1.hook_scale"] = ("batch", "pos", 3 * cfg.n_heads, 1)
            block["ln1.hook_normalized"] = ("batch", "pos", 3 * cfg.n_heads, "d_model")
    glob = dict(GLOBAL_HOOKS)
    if cfg.modality == "vision":
        del glob["hook_embed"], glob["hook_token_type_embed"]
        glob["hook_patch_embed"] = ("batch", "pos", "d_model")
    names = dict(glob)
    for layer in range(cfg.n_layers):
        names.update({f"blocks.{layer}.{k}": v for k, v in block.items()})

    def resolve(shape):
        return tuple(sizes.get(s, s) if isinstance(s, str) else s for s in shape)

    return {name: resolve(shape) for name, shape in names.items()}


def record_hooks(model: HookedClassifier, batch: Batch):
    calls: Counter = Counter()
    shapes = {}

    def record(tensor, hook):
        calls[hook.name] += 1
        shapes[hook.name] = tuple(tensor.shape)

    model.run_with_hooks(batch, fwd_hooks=[(lambda name: True, record)])
    return calls, shapes


def vision_model(**overrides):
    cfg = tiny_config(
        modality="vision", vocab_size=None, image_size=8, patch_size=4, n_channels=3, **overrides
    )
    return HookedClassifier(cfg, seed=0).eval()


def vision_batch():
    pixels = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return Batch(pixel_values=pixels, n_positions=5)


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("opt_in", ["none", "result", "split", "both"])
def test_every_documented_text_hook_fires_once_with_its_shape(norm, opt_in):
    model = HookedClassifier(tiny_config(norm=norm), seed=0).eval()
    model.set_use_attn_result(opt_in in ("result", "both"))
    model.set_use_split_qkv_input(opt_in in ("split", "both"))
    batch = padded_batch()
    calls, shapes = record_hooks(model, batch)
    expected = expected_hooks(model, batch)
    assert set(calls) == set(expected)
    assert all(count == 1 for count in calls.values()), calls
    assert shapes == expected
    assert set(model.firing_hook_names()) == set(expected)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_every_documented_vision_hook_fires_once_with_its_shape(norm):
    model = vision_model(norm=norm)
    batch = vision_batch()
    calls, shapes = record_hooks(model, batch)
    assert all(count == 1 for count in calls.values())
    assert shapes == expected_hooks(model, batch)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_opt_in_hooks_leave_logits_unchanged(norm):
    model = HookedClassifier(tiny_config(norm=norm), seed=3).eval()
    batch = padded_batch()
    plain = model(batch)
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    assert torch.allclose(model(batch), plain, atol=1e-6)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_a_hook_on_the_layer_norm_scale_is_honoured(norm):
    """Unhooked norms use the fused kernel; a hooked scale takes the explicit path, which gives
    the same logits when the hook only reads, and whose writes reach the normalised output."""
    model = HookedClassifier(tiny_config(norm=norm), seed=3).eval()
    batch = padded_batch()
    scale, normalized = "blocks.0.ln1.hook_scale", "blocks.0.ln1.hook_normalized"
    fused, plain = model.run_with_cache(batch, names_filter=[normalized])
    read, cache = model.run_with_cache(batch, names_filter=[scale, normalized])
    assert torch.allclose(read, fused, atol=1e-5)
    assert torch.allclose(cache[normalized], plain[normalized], atol=1e-5)
    with model.hooks(fwd_hooks=[(scale, lambda act, hook: act * 2)]):
        _, doubled = model.run_with_cache(batch, names_filter=[normalized])
    bias = model.blocks[0].ln1.b
    expected = (plain[normalized] - bias) / 2 + bias
    assert torch.allclose(doubled[normalized], expected, atol=1e-5)


def test_resid_post_is_next_layers_resid_pre(tiny_model):
    _, cache = tiny_model.run_with_cache(padded_batch())
    assert torch.equal(cache["blocks.0.hook_resid_post"], cache["blocks.1.hook_resid_pre"])


def test_padding_does_not_change_the_logits_of_shorter_rows(tiny_model):
    batch = padded_batch()
    full = tiny_model(batch)
    alone = tiny_model(
        Batch(
            input_ids=batch.input_ids[1:2, :6],
            attention_mask=batch.attention_mask[1:2, :6],
            token_type_ids=batch.token_type_ids[1:2, :6],
        )
    )
    assert torch.allclose(full[1:2], alone, atol=1e-5)


def test_run_with_cache_keeps_only_the_requested_names(tiny_model):
    wanted = ["blocks.1.attn.hook_pattern", "hook_cls"]
    _, cache = tiny_model.run_with_cache(padded_batch(), names_filter=wanted)
    assert set(cache) == set(wanted)
    _, cache = tiny_model.run_with_cache(
        padded_batch(), names_filter=lambda name: name.endswith("hook_z")
    )
    assert set(cache) == {"blocks.0.attn.hook_z", "blocks.1.attn.hook_z"}


def no_hooks_left(model: HookedClassifier) -> bool:
    return all(not hp.fwd_hooks and not hp.bwd_hooks for hp in model.hook_dict.values()) and all(
        not module._forward_hooks and not module._backward_hooks for module in model.modules()
    )


def test_no_hooks_remain_after_an_exception_inside_a_hook(tiny_model):
    def broken(tensor, hook):
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        tiny_model.run_with_hooks(
            padded_batch(),
            fwd_hooks=[("blocks.0.hook_resid_pre", lambda t, hook: t * 2), ("hook_cls", broken)],
        )
    assert no_hooks_left(tiny_model)
    with pytest.raises(RuntimeError, match="hook failed"):
        with tiny_model.hooks(fwd_hooks=[("hook_logits", broken)]):
            tiny_model.run_with_cache(padded_batch(), names_filter="hook_cls")
    assert no_hooks_left(tiny_model)


def test_no_hooks_remain_after_an_exception_inside_a_metric(tiny_model):
    def metric(logits):
        raise ValueError("metric failed")

    with pytest.raises(ValueError, match="metric failed"):
        with tiny_model.hooks(fwd_hooks=[("blocks.1.attn.hook_z", lambda t, hook: t)]):
            metric(tiny_model(padded_batch()))
    assert no_hooks_left(tiny_model)


def test_transformer_lens_head_patching_runs_and_gives_layers_by_heads(tiny_model):
    clean = padded_batch(seed=0)
    corrupt = padded_batch(seed=1)
    corrupt.attention_mask = clean.attention_mask.clone()
    _, clean_cache = tiny_model.run_with_cache(clean)

    def metric(logits):
        return (logits[:, 0] - logits[:, 1]).mean()

    result = patching.get_act_patch_attn_head_out_all_pos(tiny_model, corrupt, clean_cache, metric)
    assert result.shape == (tiny_model.cfg.n_layers, tiny_model.cfg.n_heads)
    assert torch.isfinite(result).all()
    assert no_hooks_left(tiny_model)


def test_out_of_vocabulary_ids_are_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="token ids must lie in"):
        tiny_model(torch.tensor([[2, 999, 3]]))


def test_too_long_sequences_are_a_clear_error(tiny_model):
    with pytest.raises(ValueError, match="positions"):
        tiny_model(torch.full((1, 40), 5))


def test_encode_uses_the_model_tokenizer_with_pair_token_types(tiny_model):
    batch = tiny_model.encode(["the doctor saw the lawyer ."], ["the lawyer saw the doctor"])
    tokenizer = tiny_model.tokenizer
    assert batch.input_ids[0, 0] == tokenizer.token_to_id("[CLS]")
    assert batch.token_type_ids[0].tolist() == [0] * 8 + [1] * 6
    assert tiny_model(batch).shape == (1, 2)


def test_same_seed_gives_same_weights_and_logits():
    a = HookedClassifier(tiny_config(), seed=7).eval()
    b = HookedClassifier(tiny_config(), seed=7).eval()
    c = HookedClassifier(tiny_config(), seed=8).eval()
    batch = padded_batch()
    assert torch.equal(a(batch), b(batch))
    assert not torch.equal(a(batch), c(batch))
