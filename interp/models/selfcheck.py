"""What a checkpoint folder holds, and whether our conversion reproduces it: the facts
`interp inspect` prints, and a parity check of a Hugging Face folder against the Hugging Face
eager forward on generated inputs (a padded batch of random token ids, or random images).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from interp.errors import CheckpointError
from interp.models.batch import Batch
from interp.models.families import FAMILIES
from interp.models.hf import is_hf_folder
from interp.models.hooked import HookedClassifier

PARITY_TOLERANCE = 1e-4  # max abs difference of logits, hidden states and patterns


@dataclass
class Inspection:
    path: str
    format: str  # "huggingface (<model_type>)" or "interp"
    modality: str
    layers: int
    heads: int
    width: int
    parameters: int
    labels: list[str]
    inputs: str  # the tokenizer or the image processing
    parity: dict[str, float] = field(default_factory=dict)  # what -> max abs difference
    notes: list[str] = field(default_factory=list)

    @property
    def parity_holds(self) -> bool:
        return all(gap < PARITY_TOLERANCE for gap in self.parity.values())

    def lines(self) -> list[str]:
        out = [
            f"path        {self.path}",
            f"format      {self.format}",
            f"modality    {self.modality}",
            f"layers      {self.layers}, {self.heads} heads each, width {self.width}",
            f"parameters  {self.parameters:,}",
            f"labels      {', '.join(self.labels)}",
            f"inputs      {self.inputs}",
        ]
        if self.parity:
            worst = max(self.parity, key=self.parity.get)
            verdict = "holds" if self.parity_holds else "FAILS"
            logits = "logits, " if "logits" in self.parity else ""
            out.append(
                f"parity      {verdict}: max abs difference {self.parity[worst]:.1e} ({worst}) "
                f"over {logits}{self.layers} hidden states and {self.layers} attention patterns "
                f"(tolerance {PARITY_TOLERANCE:g})"
            )
        out += [f"note        {note}" for note in self.notes]
        return out


def describe_inputs(model: HookedClassifier) -> str:
    if model.cfg.modality == "vision":
        cfg = model.cfg
        processor = model.meta.get("image_processor") or {}
        steps = ", ".join(f"{k}={v}" for k, v in processor.items()) or "none recorded"
        specials = "[CLS] and a distillation token" if cfg.distillation_token else "[CLS]"
        return (
            f"{cfg.n_channels}x{cfg.image_size}x{cfg.image_size} images in {cfg.patch_size}px "
            f"patches, {specials} in front; preprocessing: {steps}"
        )
    if model.tokenizer is None:
        return "no tokenizer"
    size = model.tokenizer.get_vocab_size(with_added_tokens=True)
    kind = type(model.tokenizer.model).__name__
    return f"{kind} tokenizer of {size:,} tokens; at most {model.cfg.n_positions} positions"


def inspect_folder(path: str | Path, model: HookedClassifier, check: bool = True) -> Inspection:
    """The facts of a loaded checkpoint, with the parity check where it is a Hugging Face one."""
    path = Path(path)
    cfg = model.cfg
    hf = is_hf_folder(path)
    family = model.meta.get("family", "")
    report = Inspection(
        path=str(path),
        format=f"huggingface ({family})" if hf else "interp",
        modality=cfg.modality,
        layers=cfg.n_layers,
        heads=cfg.n_heads,
        width=cfg.d_model,
        parameters=sum(p.numel() for p in model.parameters()),
        labels=list(cfg.labels),
        inputs=describe_inputs(model),
    )
    if not hf:
        report.notes.append("our own checkpoint format: no Hugging Face reference to compare with")
    elif check:
        report.parity = hf_parity(path, model)
    return report


def generated_inputs(model: HookedClassifier, seed: int = 0) -> Batch:
    """Three inputs of 12 tokens (two padded) or three random images."""
    cfg = model.cfg
    generator = torch.Generator().manual_seed(seed)
    if cfg.modality == "vision":
        shape = (3, cfg.n_channels, cfg.image_size, cfg.image_size)
        pixels = torch.rand(shape, generator=generator)
        return Batch(pixel_values=pixels, n_positions=cfg.n_positions)
    length = min(12, cfg.n_positions - 2 if cfg.positions == "roberta" else cfg.n_positions)
    pad = cfg.pad_token_id
    ids = torch.randint(0, cfg.vocab_size, (3, length), generator=generator)
    ids[ids == pad] = (pad + 1) % cfg.vocab_size
    mask = torch.ones_like(ids)
    mask[1, length * 2 // 3 :] = 0
    mask[2, length // 3 :] = 0
    ids[mask == 0] = pad
    types = torch.zeros_like(ids)
    if cfg.n_token_types > 1:
        types[:, length // 2 :] = 1
        types[mask == 0] = 0
    return Batch(input_ids=ids, attention_mask=mask, token_type_ids=types)


def _reference(path: Path):
    """The Hugging Face model of the folder, eager attention, safetensors only."""
    import transformers  # lazy: slow to import, needed for the parity check only

    transformers.utils.logging.disable_progress_bar()
    config = json.loads((path / "config.json").read_text())
    names = [n for n in config.get("architectures") or [] if hasattr(transformers, n)]
    kwargs = dict(local_files_only=True, use_safetensors=True, attn_implementation="eager")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if names:
            return getattr(transformers, names[0]).from_pretrained(str(path), **kwargs).eval()
        return transformers.AutoModel.from_pretrained(str(path), **kwargs).eval()


def hf_parity(path: Path, model: HookedClassifier) -> dict[str, float]:
    """Max abs differences (logits where the checkpoint has a head, every hidden state, every
    attention pattern) between our model and the Hugging Face eager forward."""
    try:
        reference = _reference(path)
    except Exception as err:  # transformers raises many types for a folder it cannot load
        raise CheckpointError(
            f"{path}: the Hugging Face reference could not be loaded for the parity check "
            f"({type(err).__name__}: {err})"
        ) from None
    batch = generated_inputs(model).to(model.cfg.device)
    return forward_gaps(model, reference.to(model.cfg.device), batch)


@torch.no_grad()
def forward_gaps(
    model: HookedClassifier, reference, batch: Batch, embeddings: bool = False
) -> dict[str, float]:
    """Max abs differences between our model and a Hugging Face model (eager attention) on
    one batch: logits (where the reference has a head), every layer's hidden state (with the
    final norm where the family's reference applies it), every attention pattern, and with
    `embeddings` the residual entering the first layer."""
    if model.cfg.modality == "vision":
        expected = reference(
            pixel_values=batch.pixel_values, output_hidden_states=True, output_attentions=True
        )
    else:
        kwargs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        if batch.token_type_ids is not None and getattr(reference.config, "type_vocab_size", 0):
            kwargs["token_type_ids"] = batch.token_type_ids
        expected = reference(**kwargs, output_hidden_states=True, output_attentions=True)
    logits, cache = model.run_with_cache(batch)
    gaps = {}
    if getattr(expected, "logits", None) is not None:
        gaps["logits"] = (logits - expected.logits).abs().max().item()
    if embeddings:
        ours = cache["blocks.0.hook_resid_pre"]
        gaps["embeddings"] = (ours - expected.hidden_states[0]).abs().max().item()
    normed_last = FAMILIES[model.meta["family"]].normed_last_hidden
    for layer in range(model.cfg.n_layers):
        ours = cache[f"blocks.{layer}.hook_resid_post"]
        if normed_last and layer == model.cfg.n_layers - 1:
            ours = model.ln_final(ours)
        gaps[f"hidden state {layer + 1}"] = (
            (ours - expected.hidden_states[layer + 1]).abs().max().item()
        )
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
        gaps[f"pattern {layer}"] = (pattern - expected.attentions[layer]).abs().max().item()
    return gaps
