"""Exact patching and ablation against transformer_lens.patching and direct computation."""

import pytest
import torch
from transformer_lens import patching as tl_patching

from interp.models import Batch, HookedClassifier
from interp.models.config import RelativeAttention
from interp.patching import (
    ablate_components,
    kl_to_clean,
    logit_diff,
    normalised_recovery,
    patch_components,
    patch_sweep,
    run_cache,
)
from tests.conftest import tiny_config
from tests.models.test_hooked import no_hooks_left

TOLERANCE = 1e-5


def pair_batches(seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 20, (5, 8), generator=generator)
    mask = torch.ones_like(ids)
    mask[3, 6:] = 0
    ids[mask == 0] = 0
    corrupt_ids = ids.clone()
    corrupt_ids[:, 2] = torch.randint(4, 20, (5,), generator=generator)
    corrupt_ids[:, 4] = torch.randint(4, 20, (5,), generator=generator)
    corrupt_ids[mask == 0] = 0
    types = torch.zeros_like(ids)
    return (
        Batch(input_ids=ids, attention_mask=mask, token_type_ids=types),
        Batch(input_ids=corrupt_ids, attention_mask=mask.clone(), token_type_ids=types),
    )


# DeBERTa's forward: disentangled attention over log-bucketed relative positions, padded
# queries masked, no absolute positions
DISENTANGLED = dict(
    norm="post",
    positions="none",
    n_token_types=0,
    mask_queries=True,
    attention_scale=(4 * 3) ** 0.5,
    relative_attention=RelativeAttention(span=4, buckets=4, max_distance=8, share_keys=False),
)


# ModernBERT's forward: rotary positions, a local layer between global ones, a gated MLP, a
# normed embedding read by the first layer without its attention norm
ROTARY = dict(
    norm="pre",
    positions="none",
    n_token_types=0,
    embed_norm=True,
    first_attention_norm=False,
    gated_mlp=True,
    rotary_theta=[160000.0, 10000.0, 160000.0],
    sliding_window=[0, 2, 0],
)
VARIANTS = {"disentangled": DISENTANGLED, "rotary": ROTARY}


@pytest.fixture(params=["pre", "post", "disentangled", "rotary"])
def model(request):
    extra = VARIANTS.get(request.param, {"norm": request.param})
    return HookedClassifier(tiny_config(n_layers=3, **extra), seed=5).eval()


def metric_for(gold, foil):
    return logit_diff(gold, foil)


def test_head_patching_equals_transformer_lens(model):
    clean, corrupt = pair_batches()
    gold, foil = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)
    ours = patch_components(model, clean, corrupt, logit_diff(gold, foil), "head")
    _, clean_cache = model.run_with_cache(clean)

    def scalar(logits):
        return logit_diff(gold, foil)(logits).mean()

    reference = tl_patching.get_act_patch_attn_head_out_all_pos(model, corrupt, clean_cache, scalar)
    assert ours.shape == (3, 4)
    assert (ours - reference).abs().max() < TOLERANCE
    assert no_hooks_left(model)


def test_per_position_head_patching_equals_transformer_lens(model):
    clean, corrupt = pair_batches(1)
    gold, foil = torch.ones(5, dtype=torch.long), torch.zeros(5, dtype=torch.long)
    ours = patch_components(
        model, clean, corrupt, logit_diff(gold, foil), "head", per_position=True, chunk_size=7
    )
    _, clean_cache = model.run_with_cache(clean)
    reference = tl_patching.get_act_patch_attn_head_out_by_pos(
        model, corrupt, clean_cache, lambda logits: logit_diff(gold, foil)(logits).mean()
    )  # [layer, pos, head]
    assert (ours - reference.permute(0, 2, 1)).abs().max() < TOLERANCE


def test_residual_and_mlp_patching_equal_transformer_lens(model):
    clean, corrupt = pair_batches(2)
    gold, foil = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)

    def scalar(logits):
        return logit_diff(gold, foil)(logits).mean()

    _, clean_cache = model.run_with_cache(clean)
    resid = patch_components(model, clean, corrupt, logit_diff(gold, foil), "resid")
    reference = tl_patching.get_act_patch_resid_pre(model, corrupt, clean_cache, scalar)
    assert (resid - reference).abs().max() < TOLERANCE
    mlp = patch_components(model, clean, corrupt, logit_diff(gold, foil), "mlp", per_position=True)
    reference = tl_patching.get_act_patch_mlp_out(model, corrupt, clean_cache, scalar)
    assert (mlp - reference).abs().max() < TOLERANCE


def test_patching_the_whole_residual_at_layer_zero_restores_clean(model):
    clean, corrupt = pair_batches(3)
    gold, foil = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)
    metric = logit_diff(gold, foil)
    with torch.no_grad():
        clean_value, corrupt_value = metric(model(clean)).mean(), metric(model(corrupt)).mean()
    noised = patch_components(model, clean, corrupt, metric, "resid", direction="noise")
    # Positions the corruption did not touch change nothing when noised.
    assert torch.allclose(noised[0, 0], clean_value, atol=1e-5)
    recovery = normalised_recovery(noised, clean_value, corrupt_value)
    assert torch.isfinite(recovery).all()


def test_ablations_match_a_direct_hooked_run(model):
    batch, _ = pair_batches(4)
    gold, foil = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)
    metric = logit_diff(gold, foil)
    zero = ablate_components(model, batch, metric, "head", kind="zero")

    def zero_head(act, hook):
        act = act.clone()
        act[:, :, 2] = 0
        return act

    with torch.no_grad():
        direct = metric(
            model.run_with_hooks(batch, fwd_hooks=[("blocks.1.attn.hook_z", zero_head)])
        )
    assert torch.allclose(zero[1, 2], direct.mean(), atol=TOLERANCE)
    mean = ablate_components(model, batch, metric, "mlp", kind="mean")
    resample = ablate_components(model, batch, metric, "mlp", kind="resample", seed=1)
    assert mean.shape == resample.shape == (3,)
    assert not torch.allclose(mean, resample)


def test_kl_to_clean_is_zero_for_the_clean_run(model):
    clean, _ = pair_batches()
    with torch.no_grad():
        logits = model(clean)
    assert kl_to_clean(logits)(logits).abs().max() < 1e-6


def test_misaligned_pairs_are_a_clear_error(model):
    clean, corrupt = pair_batches()
    short = Batch(input_ids=corrupt.input_ids[:, :6])
    with pytest.raises(ValueError, match="align position by position"):
        patch_components(model, clean, short, logit_diff(torch.zeros(5), torch.ones(5)))


def test_no_hooks_remain_after_a_failing_metric(model):
    clean, corrupt = pair_batches()

    def broken(logits):
        raise RuntimeError("metric failed")

    with pytest.raises(RuntimeError, match="metric failed"):
        patch_components(model, clean, corrupt, broken)
    assert no_hooks_left(model)


def test_a_sweep_over_chosen_layers_matches_the_full_sweep_there(model):
    clean, corrupt = pair_batches(5)
    metric = metric_for(torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long))
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    _, source = run_cache(model, clean, names)
    full = patch_sweep(model, corrupt, source, "head", metric, per_position=True)
    one = patch_sweep(model, corrupt, source, "head", metric, per_position=True, layers=[1])
    assert torch.allclose(one[1], full[1], atol=1e-6)
    assert (one[0] == 0).all()


def _run_with(model, batch, name, replace):
    with torch.no_grad():
        return model.run_with_hooks(batch, fwd_hooks=[(name, replace)])


def test_all_position_mlp_patching_equals_a_direct_hooked_run(model):
    clean, corrupt = pair_batches(6)
    gold, foil = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)
    metric = logit_diff(gold, foil)
    ours = patch_components(model, clean, corrupt, metric, "mlp")
    _, clean_cache = model.run_with_cache(clean)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.hook_mlp_out"
        direct = metric(_run_with(model, corrupt, name, lambda act, hook: clean_cache[hook.name]))
        assert abs(float(ours[layer]) - float(direct.mean())) < TOLERANCE


def test_noising_a_head_equals_a_direct_hooked_run(model):
    clean, corrupt = pair_batches(7)
    gold, foil = torch.ones(5, dtype=torch.long), torch.zeros(5, dtype=torch.long)
    metric = logit_diff(gold, foil)
    ours = patch_components(model, clean, corrupt, metric, "head", direction="noise")
    _, corrupt_cache = model.run_with_cache(corrupt)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):

            def noise(act, hook, head=head):
                act = act.clone()
                act[:, :, head] = corrupt_cache[hook.name][:, :, head]
                return act

            direct = metric(_run_with(model, clean, f"blocks.{layer}.attn.hook_z", noise))
            assert abs(float(ours[layer, head]) - float(direct.mean())) < TOLERANCE


def test_mean_and_resample_ablations_equal_a_direct_computation(model):
    batch, _ = pair_batches(8)
    gold, foil = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)
    metric = logit_diff(gold, foil)
    _, cache = model.run_with_cache(batch)
    weight = batch.attention_mask.float()[:, :, None]  # mean over the unpadded examples
    for kind in ("mean", "resample"):
        ours = ablate_components(model, batch, metric, "mlp", kind=kind, seed=3)
        order = torch.randperm(5, generator=torch.Generator().manual_seed(3))
        order = torch.where(order == torch.arange(5), (order + 1) % 5, order)
        for layer in range(model.cfg.n_layers):
            act = cache[f"blocks.{layer}.hook_mlp_out"]
            if kind == "mean":
                mean = (act * weight).sum(0, keepdim=True) / weight.sum(0, keepdim=True)
                source = mean.expand_as(act)
            else:
                assert not (order == torch.arange(5)).any()  # every example gets another's
                source = act[order]
            name = f"blocks.{layer}.hook_mlp_out"
            direct = metric(_run_with(model, batch, name, lambda a, hook, s=source: s))
            assert abs(float(ours[layer]) - float(direct.mean())) < TOLERANCE, (kind, layer)


def test_a_distilled_deit_is_patched_through_both_readout_tokens():
    """DeiT's distilled head reads [CLS] and the distillation token: per-position patching of
    the last layer's heads and MLP equals TransformerLens's, which runs every position."""
    cfg = tiny_config(
        modality="vision",
        vocab_size=None,
        image_size=8,
        patch_size=4,
        distillation_token=True,
        head="deit_distilled",
        n_layers=2,
    )
    model = HookedClassifier(cfg, seed=3).eval()
    generator = torch.Generator().manual_seed(0)
    clean, corrupt = (
        Batch(pixel_values=torch.rand(4, 3, 8, 8, generator=generator), n_positions=6) for _ in "ab"
    )
    gold, foil = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)

    def scalar(logits):
        return logit_diff(gold, foil)(logits).mean()

    _, clean_cache = model.run_with_cache(clean)
    metric = logit_diff(gold, foil)
    heads = patch_components(model, clean, corrupt, metric, "head", per_position=True)
    reference = tl_patching.get_act_patch_attn_head_out_by_pos(model, corrupt, clean_cache, scalar)
    assert (heads - reference.permute(0, 2, 1)).abs().max() < TOLERANCE
    assert heads[-1, :, 1].abs().max() > 0  # the distillation token reaches the head
    mlp = patch_components(model, clean, corrupt, metric, "mlp", per_position=True)
    reference = tl_patching.get_act_patch_mlp_out(model, corrupt, clean_cache, scalar)
    assert (mlp - reference).abs().max() < TOLERANCE
