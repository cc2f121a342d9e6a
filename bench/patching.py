"""Exact head patching: ours (batched, resumed after the patched head) vs transformer_lens.patching.

Also reports the compute bound (see `bound_passes`): what a sweep over every head must recompute
after the patched head's output, with the last layer needed only for its keys, values and [CLS].
The small models are measured twice: at 32 pairs compute dominates (no exact method can beat
transformer_lens by more than its passes over ours, about 3x there); at 4 pairs per-call overhead
does, which batching removes.
"""

from __future__ import annotations

import argparse
import os

import torch
from transformer_lens import patching as tl_patching

from bench.common import interleaved_times, median_ratio, write_results
from interp.models import Batch, ClassifierConfig, HookedClassifier
from interp.patching import logit_diff, patch_components

CONFIGS = {
    "teacher 3x96, 8 heads": dict(n_layers=3, d_model=96, n_heads=8),
    "4x128, 8 heads": dict(n_layers=4, d_model=128, n_heads=8),
    "bert-base 12x768, 12 heads": dict(
        n_layers=12, d_model=768, n_heads=12, norm="post", head="bert_pooler"
    ),
}


def pairs(n: int, length: int, vocab: int, seed: int = 0) -> tuple[Batch, Batch]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, vocab, (n, length), generator=generator)
    corrupt = ids.clone()
    corrupt[:, length // 3] = torch.randint(4, vocab, (n,), generator=generator)
    types = torch.zeros_like(ids)
    types[:, length // 2 :] = 1
    return Batch(input_ids=ids, token_type_ids=types), Batch(
        input_ids=corrupt, token_type_ids=types
    )


def bound_passes(cfg: ClassifierConfig, length: int) -> float:
    """Full forward passes' worth of FLOPs that a sweep over every head cannot avoid.

    Patching a head of layer l leaves everything before its output projection unchanged; after
    it, layer l's output projection and MLP, the full layers l+1 .. L-2, and of the last layer
    only the keys and values of every position plus the [CLS] row must be recomputed (a head of
    the last layer needs the [CLS] row only). Per token, a layer costs 4 d^2 + 2 d d_mlp
    multiply-adds (attention scores left out: short sequences).
    """
    d, d_mlp, n_layers = cfg.d_model, cfg.d_mlp, cfg.n_layers
    layer = 4 * d * d + 2 * d * d_mlp
    after_z = d * d + 2 * d * d_mlp
    keys_values = 2 * d * d
    cls_row = (layer - keys_values) / length
    total = 0.0
    for index in range(n_layers):
        if index == n_layers - 1:
            total += after_z / length
        else:
            total += after_z + (n_layers - 2 - index) * layer + keys_values + cls_row
    return cfg.n_heads * total / (n_layers * layer)


FORWARDS_PER_RUN = 5  # forward passes timed together for the bound, in turn with the sweeps


def measure(name: str, fields: dict, n_pairs: int, length: int, device: str, repeats: int) -> dict:
    cfg = ClassifierConfig(labels=["a", "b", "c"], vocab_size=1000, max_positions=128, **fields)
    model = HookedClassifier(cfg, seed=0).to(device).eval()
    clean, corrupt = (b.to(device) for b in pairs(n_pairs, length, 1000))
    gold = torch.zeros(n_pairs, dtype=torch.long, device=device)
    foil = torch.ones(n_pairs, dtype=torch.long, device=device)
    metric = logit_diff(gold, foil)
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean)

    def ours():
        return patch_components(model, clean, corrupt, metric, "head", chunk_size=cfg.n_heads)

    def reference():
        with torch.no_grad():
            return tl_patching.get_act_patch_attn_head_out_all_pos(
                model, corrupt, clean_cache, lambda logits: metric(logits).mean()
            )

    @torch.no_grad()
    def forwards():
        for _ in range(FORWARDS_PER_RUN):
            model(corrupt)

    difference = float((ours() - reference()).abs().max())  # also serves as the warm-up
    medians, times = interleaved_times(
        {"ours": ours, "reference": reference, "forwards": forwards},
        repeats,
        warmup=0,
        device=device,
    )
    t_ours, t_ref = medians["ours"], medians["reference"]
    passes = bound_passes(cfg, length) / FORWARDS_PER_RUN  # the bound in units of `forwards`
    t_bound = passes * medians["forwards"]
    return {
        "model": name,
        "pairs": n_pairs,
        "seq_len": length,
        "device": device,
        "ours_s": t_ours,
        "transformer_lens_s": t_ref,
        "speedup_vs_tl": median_ratio(times, "reference", "ours"),
        "compute_bound_s": t_bound,
        "ours_over_bound": median_ratio(times, "ours", "forwards") / passes,
        "transformer_lens_over_bound": median_ratio(times, "reference", "forwards") / passes,
        "max_abs_difference": difference,
    }


def run(device: str = "cpu", repeats: int = 5, large: bool = True) -> list[dict]:
    os.environ.setdefault("TQDM_DISABLE", "1")  # transformer_lens shows a bar per sweep
    teacher, wider = "teacher 3x96, 8 heads", "4x128, 8 heads"
    rows = [
        measure(name, CONFIGS[name], n_pairs, 20, device, repeats)
        for name, n_pairs in [(teacher, 32), (teacher, 4), (wider, 32), (wider, 4)]
    ]
    if large:
        name = "bert-base 12x768, 12 heads"
        rows.append(measure(name, CONFIGS[name], 4, 64, device, 1 if device == "cpu" else repeats))
    lines = [
        "Denoising patch of every head's output (all positions), logit-difference metric; "
        f"median of {repeats} runs (1 for bert-base on CPU). The bound is the FLOP floor of "
        "`bound_passes` (from the patched head's output projection on; last layer: keys, "
        f"values and [CLS] only) times the forward time, measured over {FORWARDS_PER_RUN} "
        "passes in turn with the two sweeps in every run; ratios are medians of per-run ratios.",
        "",
        "| model | pairs x tokens | device | ours (s) | transformer_lens (s) | speed-up "
        "| bound (s) | ours / bound | transformer_lens / bound | max abs diff |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['pairs']} x {r['seq_len']} | {r['device']} | {r['ours_s']:.3f} "
            f"| {r['transformer_lens_s']:.3f} | {r['speedup_vs_tl']:.1f}x "
            f"| {r['compute_bound_s']:.3f} | {r['ours_over_bound']:.2f} "
            f"| {r['transformer_lens_over_bound']:.2f} | {r['max_abs_difference']:.1e} |"
        )
    write_results("head_patching", rows, "\n".join(lines))
    print("\n".join(lines))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-large", action="store_true", help="skip the BERT-base-sized row")
    args = parser.parse_args(argv)
    run(args.device, args.repeats, large=not args.no_large)


if __name__ == "__main__":
    main()
