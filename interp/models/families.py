"""The Hugging Face families we convert: for each, the config options that change the forward
(converted or refused by name), how its config becomes a ClassifierConfig, and where its
weights live. `interp.models.hf` reads the files; docs/models.md is generated from `FAMILIES`
(`python -m interp.models.families`) and tested equal to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from torch import Tensor

from interp.models.config import ClassifierConfig, RelativeAttention

Transform = Callable[[Tensor], Tensor]
Row = tuple[str, str, Transform]  # (our parameter, the HF weight, how to convert it)

# HF activation names -> ours (gelu_new and gelu_pytorch_tanh are the same tanh approximation)
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_new",
    "gelu_pytorch_tanh": "gelu_new",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
CLASSIFICATION = (None, "single_label_classification")


@dataclass(frozen=True)
class Option:
    """One config key that changes the forward: the values converted with parity (`supported`
    says which, in words; `accepts` decides), a value outside them is refused by name. The
    examples drive the test that walks this table."""

    key: str
    default: Any  # the reference's value when config.json omits the key
    supported: str
    accepts: Callable[[Any, dict], bool] = lambda value, hf: True  # (value, whole config)
    converted_examples: tuple = ()  # values tested for parity
    refused_example: Any = None  # a value that must be refused (None: every value converts)

    def check(self, hf: dict, family: str, source: str) -> None:
        value = hf.get(self.key, self.default)
        if not self.accepts(value, hf):
            raise UnsupportedOption(
                f"{source}: {family} option {self.key}={value!r} is not supported "
                f"(supported: {self.supported})"
            )


class UnsupportedOption(ValueError):
    """A config value whose forward we do not reproduce."""


def _one_of(*values) -> Callable[[Any, dict], bool]:
    return lambda value, hf: value in values


ACTIVATION = Option(
    "hidden_act",
    "gelu",
    ", ".join(ACTIVATIONS),
    _one_of(*ACTIVATIONS),
    converted_examples=("gelu_new", "relu"),
    refused_example="mish",
)
PROBLEM = Option(
    "problem_type",
    None,
    "single-label classification (softmax over the labels)",
    _one_of(*CLASSIFICATION),
    refused_example="regression",
)
ABSOLUTE = Option(
    "position_embedding_type",
    "absolute",
    "absolute",
    _one_of("absolute"),
    refused_example="relative_key",
)
ENCODER_ONLY = Option(
    "is_decoder", False, "false (an encoder)", _one_of(False, None), refused_example=True
)
NO_CROSS = Option("add_cross_attention", False, "false", _one_of(False, None), refused_example=True)
NORM_EPS = Option("layer_norm_eps", 1e-12, "any (converted)", converted_examples=(1e-5,))
TOKEN_TYPES = Option("type_vocab_size", 2, "any, 0 included (converted)", converted_examples=(1,))
QKV_BIAS = Option(
    "qkv_bias", True, "true or false (absent biases are zero)", converted_examples=(False,)
)


def _qkv_bias_off(our_name: str, hf: dict) -> bool:
    """ViT's `qkv_bias: false` leaves the query, key and value biases out."""
    return hf.get("qkv_bias", True) is False and our_name.endswith(("q_bias", "k_bias", "v_bias"))


@dataclass(frozen=True)
class Family:
    model_type: str
    classes: str  # the Hugging Face classes converted, in words
    prefix: str  # the base model's weight prefix in a task model (base_model_prefix)
    options: tuple[Option, ...]
    config: Callable[[dict, list[str], set[str]], ClassifierConfig]
    weights: Callable[[str, ClassifierConfig, dict], list[Row]]  # the encoder's weights
    head: Callable[[str, ClassifierConfig], list[Row]]  # the classification head's weights
    notes: str = ""
    modality: str = "text"
    # the reference's last hidden state has the final norm applied (ModernBERT's does)
    normed_last_hidden: bool = False
    # (our parameter, config) -> a bias the config leaves out of the checkpoint: it stays zero
    bias_left_out: Callable[[str, dict], bool] = _qkv_bias_off


def _t(x: Tensor) -> Tensor:
    return x.T.contiguous()


def _same(x: Tensor) -> Tensor:
    return x


def _patch_weight(x: Tensor) -> Tensor:
    """A [d_model, channel, p, p] convolution as our [channel * p * p, d_model] projection
    (the order F.unfold gives each patch)."""
    return x.reshape(x.shape[0], -1).T.contiguous()


def _vector(x: Tensor) -> Tensor:
    return x.reshape(-1)


def _rows(x: Tensor) -> Tensor:
    return x.reshape(-1, x.shape[-1])


# Where each block's parameters live, per layout: (layer folder, then query, key, value,
# attention output, first norm, MLP in, MLP out, second norm).
BERT_BLOCK = (
    "encoder.layer",
    {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "o": "attention.output.dense",
        "ln1": "attention.output.LayerNorm",
        "in": "intermediate.dense",
        "out": "output.dense",
        "ln2": "output.LayerNorm",
    },
)
DISTILBERT_BLOCK = (
    "transformer.layer",
    {
        "q": "attention.q_lin",
        "k": "attention.k_lin",
        "v": "attention.v_lin",
        "o": "attention.out_lin",
        "ln1": "sa_layer_norm",
        "in": "ffn.lin1",
        "out": "ffn.lin2",
        "ln2": "output_layer_norm",
    },
)
VIT_BLOCK = (
    "encoder.layer",
    {
        "q": "attention.attention.query",
        "k": "attention.attention.key",
        "v": "attention.attention.value",
        "o": "attention.output.dense",
        "ln1": "layernorm_before",
        "in": "intermediate.dense",
        "out": "output.dense",
        "ln2": "layernorm_after",
    },
)
DEBERTA_BLOCK = (
    "encoder.layer",
    {
        **BERT_BLOCK[1],
        "q": "attention.self.query_proj",
        "k": "attention.self.key_proj",
        "v": "attention.self.value_proj",
    },
)
OUR_BLOCK = {
    "q": ("attn.q_weight", "attn.q_bias"),
    "k": ("attn.k_weight", "attn.k_bias"),
    "v": ("attn.v_weight", "attn.v_bias"),
    "o": ("attn.o_weight", "attn.b_O"),
    "in": ("mlp.W_in", "mlp.b_in"),
    "out": ("mlp.W_out", "mlp.b_out"),
    "ln1": ("ln1.w", "ln1.b"),
    "ln2": ("ln2.w", "ln2.b"),
}


def block_rows(layout: tuple, prefix: str, cfg: ClassifierConfig) -> list[Row]:
    """(our name, HF name, transform) for every block's attention, MLP and norm parameters."""
    folder, names = layout
    rows = []
    for layer in range(cfg.n_layers):
        ours, hf = f"blocks.{layer}.", f"{prefix}{folder}.{layer}."
        for part, (weight, bias) in OUR_BLOCK.items():
            weight_transform = _same if part.startswith("ln") else _t
            rows += [
                (ours + weight, f"{hf}{names[part]}.weight", weight_transform),
                (ours + bias, f"{hf}{names[part]}.bias", _same),
            ]
    return rows


def labels_of(hf: dict, labels: list[str] | None) -> list[str]:
    """The label names: given ones, else config.json's id2label in id order."""
    if labels is not None:
        return list(labels)
    id2label = hf.get("id2label")
    if id2label:
        return [str(id2label[key]) for key in sorted(id2label, key=int)]
    return [f"LABEL_{i}" for i in range(hf.get("num_labels", 2))]


# ------------------------------------------------------------------ BERT, RoBERTa, XLM-R, ELECTRA
def _bert_config(hf: dict, labels: list[str], weights: set[str]) -> ClassifierConfig:
    family = hf["model_type"]
    hidden = hf["hidden_size"]
    embedding = hf.get("embedding_size", hidden) if family == "electra" else hidden
    narrow = embedding != hidden
    return ClassifierConfig(
        n_layers=hf["num_hidden_layers"],
        d_model=hidden,
        n_heads=hf["num_attention_heads"],
        d_mlp=hf["intermediate_size"],
        norm="post",
        act_fn=ACTIVATIONS[hf.get("hidden_act", "gelu")],
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        head="gelu_pooler" if family == "electra" else "bert_pooler",
        labels=labels,
        vocab_size=hf["vocab_size"],
        max_positions=hf["max_position_embeddings"],
        n_token_types=hf.get("type_vocab_size", 2),
        pad_token_id=hf.get("pad_token_id") or 0,
        positions="roberta" if family in ("roberta", "xlm-roberta") else "absolute",
        d_embed=embedding if narrow else None,
        embed_projection="after_norm" if narrow else None,
    )


def _text_embeddings(prefix: str, cfg: ClassifierConfig) -> list[Row]:
    emb = f"{prefix}embeddings."
    rows = [
        ("W_E", emb + "word_embeddings.weight", _same),
        ("embed_ln.weight", emb + "LayerNorm.weight", _same),
        ("embed_ln.bias", emb + "LayerNorm.bias", _same),
    ]
    if cfg.positions != "none":
        rows.append(("W_pos", emb + "position_embeddings.weight", _same))
    if cfg.n_token_types:
        rows.append(("W_token_type", emb + "token_type_embeddings.weight", _same))
    return rows


def _bert_weights(prefix: str, cfg: ClassifierConfig, hf: dict) -> list[Row]:
    rows = _text_embeddings(prefix, cfg)
    if cfg.embed_projection:  # ELECTRA's narrow embeddings
        rows += [
            ("embed_proj.weight", f"{prefix}embeddings_project.weight", _same),
            ("embed_proj.bias", f"{prefix}embeddings_project.bias", _same),
        ]
    return rows + block_rows(BERT_BLOCK, prefix, cfg)


def _pooled_head(pooler: str, classifier: str) -> list[Row]:
    return [
        ("head.pooler.weight", f"{pooler}.weight", _same),
        ("head.pooler.bias", f"{pooler}.bias", _same),
        ("head.classifier.weight", f"{classifier}.weight", _same),
        ("head.classifier.bias", f"{classifier}.bias", _same),
    ]


BERT_OPTIONS = (ACTIVATION, ABSOLUTE, ENCODER_ONLY, NO_CROSS, NORM_EPS, TOKEN_TYPES, PROBLEM)

BERT = Family(
    "bert",
    "BertForSequenceClassification, BertModel (MiniLM)",
    "bert",
    BERT_OPTIONS,
    _bert_config,
    _bert_weights,
    lambda prefix, cfg: _pooled_head(f"{prefix}pooler.dense", "classifier"),
    "a bare encoder keeps its pooler and gets a fresh classifier",
)
ROBERTA = Family(
    "roberta",
    "RobertaForSequenceClassification, RobertaModel",
    "roberta",
    BERT_OPTIONS,
    _bert_config,
    _bert_weights,
    lambda prefix, cfg: _pooled_head("classifier.dense", "classifier.out_proj"),
    "positions numbered from pad_token_id + 1",
)
XLM_ROBERTA = replace(
    ROBERTA,
    model_type="xlm-roberta",
    classes="XLMRobertaForSequenceClassification, XLMRobertaModel",
    notes="RoBERTa's architecture with a multilingual vocabulary",
)
ELECTRA = Family(
    "electra",
    "ElectraForSequenceClassification (discriminator), ElectraModel",
    "electra",
    (
        *BERT_OPTIONS,
        Option(
            "embedding_size",
            None,
            "any (narrower embeddings projected up after their norm)",
            converted_examples=(24,),
        ),
    ),
    _bert_config,
    _bert_weights,
    lambda prefix, cfg: _pooled_head("classifier.dense", "classifier.out_proj"),
    "head: dense + GELU + linear on [CLS]",
)


# ------------------------------------------------------------------ DistilBERT
def _distilbert_config(hf: dict, labels: list[str], weights: set[str]) -> ClassifierConfig:
    return ClassifierConfig(
        n_layers=hf["n_layers"],
        d_model=hf["dim"],
        n_heads=hf["n_heads"],
        d_mlp=hf["hidden_dim"],
        norm="post",
        act_fn=ACTIVATIONS[hf.get("activation", "gelu")],
        layer_norm_eps=1e-12,
        head="distilbert",
        labels=labels,
        vocab_size=hf["vocab_size"],
        max_positions=hf["max_position_embeddings"],
        n_token_types=0,
        pad_token_id=hf.get("pad_token_id") or 0,
    )


DISTILBERT = Family(
    "distilbert",
    "DistilBertForSequenceClassification, DistilBertModel",
    "distilbert",
    (
        Option(
            "activation",
            "gelu",
            "gelu, relu",
            _one_of("gelu", "relu"),
            converted_examples=("relu",),
            refused_example="silu",
        ),
        Option(
            "sinusoidal_pos_embds",
            False,
            "true or false (the table is stored with the weights)",
            converted_examples=(True,),
        ),
        PROBLEM,
    ),
    _distilbert_config,
    lambda prefix, cfg, hf: (
        _text_embeddings(prefix, cfg) + block_rows(DISTILBERT_BLOCK, prefix, cfg)
    ),
    lambda prefix, cfg: _pooled_head("pre_classifier", "classifier"),
    "head: dense + ReLU + linear on [CLS]; no token types",
)


# ------------------------------------------------------------------ DeBERTa-v2 / v3
def _pos_terms(hf: dict) -> list[str]:
    terms = hf.get("pos_att_type") or []
    if isinstance(terms, str):
        terms = [t.strip() for t in terms.lower().split("|")]
    return [t for t in ("c2p", "p2c") if t in terms]  # the reference ignores any other


def _deberta_config(hf: dict, labels: list[str], weights: set[str]) -> ClassifierConfig:
    hidden = hf["hidden_size"]
    embedding = hf.get("embedding_size") or hidden
    relative = None
    if hf.get("relative_attention", False):
        max_distance = hf.get("max_relative_positions", -1)
        if max_distance < 1:
            max_distance = hf["max_position_embeddings"]
        buckets = max(hf.get("position_buckets", -1), 0)
        relative = RelativeAttention(
            span=buckets or max_distance,
            buckets=buckets,
            max_distance=max_distance,
            terms=_pos_terms(hf),
            share_keys=hf.get("share_att_key", False),
            norm_table="layer_norm" in _norm_rel(hf),
        )
    d_head = hf.get("attention_head_size") or hidden // hf["num_attention_heads"]
    return ClassifierConfig(
        n_layers=hf["num_hidden_layers"],
        d_model=hidden,
        n_heads=hf["num_attention_heads"],
        d_head=d_head,
        d_mlp=hf["intermediate_size"],
        norm="post",
        act_fn=ACTIVATIONS[hf.get("hidden_act", "gelu")],
        layer_norm_eps=hf.get("layer_norm_eps", 1e-7),
        head="gelu_pooler",
        labels=labels,
        vocab_size=hf["vocab_size"],
        max_positions=hf["max_position_embeddings"],
        n_token_types=hf.get("type_vocab_size", 0),
        pad_token_id=hf.get("pad_token_id") or 0,
        positions="absolute" if hf.get("position_biased_input", True) else "none",
        d_embed=embedding if embedding != hidden else None,
        embed_projection="before_norm" if embedding != hidden else None,
        mask_queries=True,
        attention_scale=math.sqrt(d_head * (1 + len(_pos_terms(hf)))),
        relative_attention=relative,
    )


def _norm_rel(hf: dict) -> list[str]:
    return [x.strip() for x in str(hf.get("norm_rel_ebd", "none")).lower().split("|")]


def _deberta_weights(prefix: str, cfg: ClassifierConfig, hf: dict) -> list[Row]:
    rows = _text_embeddings(prefix, cfg)
    if cfg.embed_projection:
        rows.append(("embed_proj.weight", f"{prefix}embeddings.embed_proj.weight", _same))
    rows += block_rows(DEBERTA_BLOCK, prefix, cfg)
    relative = cfg.relative_attention
    if relative is None:
        return rows
    rows.append(("relative_table", f"{prefix}encoder.rel_embeddings.weight", _same))
    if relative.norm_table:
        rows += [
            ("relative_ln.weight", f"{prefix}encoder.LayerNorm.weight", _same),
            ("relative_ln.bias", f"{prefix}encoder.LayerNorm.bias", _same),
        ]
    if not relative.share_keys:
        sides = {"c2p": ("k", "pos_key_proj"), "p2c": ("q", "pos_query_proj")}
        for layer in range(cfg.n_layers):
            for term in relative.terms:
                side, name = sides[term]
                hf_name = f"{prefix}encoder.layer.{layer}.attention.self.{name}"
                rows += [
                    (f"blocks.{layer}.attn.pos_{side}_weight", f"{hf_name}.weight", _t),
                    (f"blocks.{layer}.attn.pos_{side}_bias", f"{hf_name}.bias", _same),
                ]
    return rows


DEBERTA_V2 = Family(
    "deberta-v2",
    "DebertaV2ForSequenceClassification, DebertaV2Model (DeBERTa-v2 and v3)",
    "deberta",
    (
        ACTIVATION,
        NORM_EPS,
        TOKEN_TYPES,
        PROBLEM,
        Option(
            "relative_attention",
            False,
            "true or false",
            converted_examples=(False,),
        ),
        Option(
            "pos_att_type",
            None,
            "any of c2p, p2c (other terms are ignored, as by the reference)",
            converted_examples=("c2p", "p2c", "p2c|c2p"),
        ),
        Option(
            "position_buckets",
            -1,
            "any (log buckets beyond half of it; 0 or less: none)",
            converted_examples=(-1,),
        ),
        Option("max_relative_positions", -1, "any", converted_examples=(6,)),
        Option("share_att_key", False, "true or false", converted_examples=(True,)),
        Option(
            "norm_rel_ebd",
            "none",
            "none, layer_norm",
            lambda value, hf: set(_norm_rel({"norm_rel_ebd": value})) <= {"none", "layer_norm"},
            converted_examples=("none",),
            refused_example="batch_norm",
        ),
        Option(
            "position_biased_input",
            True,
            "true or false (absolute positions added to the embeddings)",
            converted_examples=(True,),
        ),
        Option("embedding_size", None, "any (projected before the norm)", converted_examples=(24,)),
        Option(
            "conv_kernel_size",
            0,
            "0 (the convolution beside the first layer of DeBERTa-v2-xlarge is not converted)",
            lambda value, hf: not value,
            refused_example=3,
        ),
        Option(
            "pooler_hidden_size",
            None,
            "hidden_size (or absent)",
            lambda value, hf: value is None or value == hf.get("hidden_size"),
            refused_example=7,
        ),
        Option(
            "pooler_hidden_act",
            "gelu",
            "gelu",
            _one_of("gelu"),
            refused_example="tanh",
        ),
    ),
    _deberta_config,
    _deberta_weights,
    lambda prefix, cfg: _pooled_head("pooler.dense", "classifier"),
    "disentangled attention (c2p and p2c over relative positions); padded queries masked",
)


# ------------------------------------------------------------------ ViT and DeiT
def _vision_config(hf: dict, labels: list[str], weights: set[str]) -> ClassifierConfig:
    distilled = hf["model_type"] == "deit" and (
        "DeiTForImageClassificationWithTeacher" in (hf.get("architectures") or [])
        or "distillation_classifier.weight" in weights
    )
    return ClassifierConfig(
        modality="vision",
        n_layers=hf["num_hidden_layers"],
        d_model=hf["hidden_size"],
        n_heads=hf["num_attention_heads"],
        d_mlp=hf["intermediate_size"],
        norm="pre",
        act_fn=ACTIVATIONS[hf.get("hidden_act", "gelu")],
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        head="deit_distilled" if distilled else "linear",
        labels=labels,
        image_size=hf["image_size"],
        patch_size=hf["patch_size"],
        n_channels=hf.get("num_channels", 3),
        distillation_token=hf["model_type"] == "deit",
    )


def _vision_weights(prefix: str, cfg: ClassifierConfig, hf: dict) -> list[Row]:
    emb = f"{prefix}embeddings."
    rows = [
        ("cls_vector", emb + "cls_token", _vector),  # [1, 1, d_model]
        ("W_pos", emb + "position_embeddings", _rows),  # [1, specials + patches, d_model]
        ("W_patch", emb + "patch_embeddings.projection.weight", _patch_weight),
        ("b_patch", emb + "patch_embeddings.projection.bias", _same),
    ]
    if cfg.distillation_token:
        rows.append(("distillation_vector", emb + "distillation_token", _vector))
    rows += block_rows(VIT_BLOCK, prefix, cfg)
    return rows + [
        ("ln_final.weight", f"{prefix}layernorm.weight", _same),
        ("ln_final.bias", f"{prefix}layernorm.bias", _same),
    ]


def _vision_head(prefix: str, cfg: ClassifierConfig) -> list[Row]:
    if cfg.head == "deit_distilled":
        return [
            ("head.classifier.weight", "cls_classifier.weight", _same),
            ("head.classifier.bias", "cls_classifier.bias", _same),
            ("head.distillation_classifier.weight", "distillation_classifier.weight", _same),
            ("head.distillation_classifier.bias", "distillation_classifier.bias", _same),
        ]
    return [  # a linear classifier on the final [CLS] vector, no pooler
        ("head.classifier.weight", "classifier.weight", _same),
        ("head.classifier.bias", "classifier.bias", _same),
    ]


VISION_OPTIONS = (ACTIVATION, NORM_EPS, QKV_BIAS, PROBLEM)

VIT = Family(
    "vit",
    "ViTForImageClassification, ViTModel",
    "vit",
    VISION_OPTIONS,
    _vision_config,
    _vision_weights,
    _vision_head,
    "pre-norm; a linear head on [CLS]",
    modality="vision",
)
DEIT = Family(
    "deit",
    "DeiTForImageClassification, DeiTForImageClassificationWithTeacher, DeiTModel",
    "deit",
    VISION_OPTIONS,
    _vision_config,
    _vision_weights,
    _vision_head,
    "a distillation token after [CLS]; the distilled head averages the linear heads on both",
    modality="vision",
)


# ------------------------------------------------------------------ ModernBERT
def _modernbert_layer_types(hf: dict) -> list[str]:
    types = hf.get("layer_types")
    if types:
        return list(types)
    every = hf.get("global_attn_every_n_layers", 3)
    return [
        "full_attention" if layer % every == 0 else "sliding_attention"
        for layer in range(hf["num_hidden_layers"])
    ]


def _rope(hf: dict, layer_type: str) -> dict:
    """The rotary settings of one layer type: rope_parameters, or the older per-type keys."""
    parameters = hf.get("rope_parameters") or {}
    if layer_type in parameters:
        return parameters[layer_type]
    old = "global_rope_theta" if layer_type == "full_attention" else "local_rope_theta"
    default = 160_000.0 if layer_type == "full_attention" else 10_000.0
    return {"rope_theta": hf.get(old, default), "rope_type": "default"}


def _modernbert_config(hf: dict, labels: list[str], weights: set[str]) -> ClassifierConfig:
    types = _modernbert_layer_types(hf)
    window = hf.get("local_attention", 128) // 2
    return ClassifierConfig(
        n_layers=hf["num_hidden_layers"],
        d_model=hf["hidden_size"],
        n_heads=hf["num_attention_heads"],
        d_mlp=hf["intermediate_size"],
        norm="pre",
        act_fn=ACTIVATIONS[hf.get("hidden_activation", "gelu")],
        layer_norm_eps=hf.get("norm_eps", 1e-5),
        head="norm_pooler",
        labels=labels,
        vocab_size=hf["vocab_size"],
        max_positions=hf["max_position_embeddings"],
        n_token_types=0,
        pad_token_id=hf.get("pad_token_id") or 0,
        positions="none",
        embed_norm=True,
        first_attention_norm=False,
        gated_mlp=True,
        rotary_theta=[float(_rope(hf, t)["rope_theta"]) for t in types],
        sliding_window=[window if t == "sliding_attention" else 0 for t in types],
    )


def _split(rows: slice, transpose: bool = True) -> Transform:
    """Rows of a fused weight (Wqkv, Wi), as our [in, out] matrix."""
    return lambda x: (x[rows].T if transpose else x[rows]).contiguous()


def _modernbert_weights(prefix: str, cfg: ClassifierConfig, hf: dict) -> list[Row]:
    width, mlp = cfg.n_heads * cfg.d_head, cfg.d_mlp
    rows = [
        ("W_E", f"{prefix}embeddings.tok_embeddings.weight", _same),
        ("embed_ln.weight", f"{prefix}embeddings.norm.weight", _same),
        ("embed_ln.bias", f"{prefix}embeddings.norm.bias", _same),
        ("ln_final.weight", f"{prefix}final_norm.weight", _same),
        ("ln_final.bias", f"{prefix}final_norm.bias", _same),
    ]
    for layer in range(cfg.n_layers):
        ours, theirs = f"blocks.{layer}.", f"{prefix}layers.{layer}."
        for index, part in enumerate("qkv"):
            rows += [
                (
                    f"{ours}attn.{part}_weight",
                    f"{theirs}attn.Wqkv.weight",
                    _split(slice(index * width, (index + 1) * width)),
                ),
                (
                    f"{ours}attn.{part}_bias",
                    f"{theirs}attn.Wqkv.bias",
                    _split(slice(index * width, (index + 1) * width), transpose=False),
                ),
            ]
        rows += [
            (f"{ours}attn.o_weight", f"{theirs}attn.Wo.weight", _t),
            (f"{ours}attn.b_O", f"{theirs}attn.Wo.bias", _same),
            # Wi holds [what the activation reads | its linear multiplier]
            (f"{ours}mlp.W_gate", f"{theirs}mlp.Wi.weight", _split(slice(0, mlp))),
            (f"{ours}mlp.b_gate", f"{theirs}mlp.Wi.bias", _split(slice(0, mlp), False)),
            (f"{ours}mlp.W_in", f"{theirs}mlp.Wi.weight", _split(slice(mlp, 2 * mlp))),
            (f"{ours}mlp.b_in", f"{theirs}mlp.Wi.bias", _split(slice(mlp, 2 * mlp), False)),
            (f"{ours}mlp.W_out", f"{theirs}mlp.Wo.weight", _t),
            (f"{ours}mlp.b_out", f"{theirs}mlp.Wo.bias", _same),
            (f"{ours}ln2.w", f"{theirs}mlp_norm.weight", _same),
            (f"{ours}ln2.b", f"{theirs}mlp_norm.bias", _same),
        ]
        if layer > 0:
            rows += [
                (f"{ours}ln1.w", f"{theirs}attn_norm.weight", _same),
                (f"{ours}ln1.b", f"{theirs}attn_norm.bias", _same),
            ]
    return rows


def _modernbert_head(prefix: str, cfg: ClassifierConfig) -> list[Row]:
    return [
        *_pooled_head("head.dense", "classifier"),
        ("head.pooler_ln.weight", "head.norm.weight", _same),
        ("head.pooler_ln.bias", "head.norm.bias", _same),
    ]


def _modernbert_bias_left_out(our_name: str, hf: dict) -> bool:
    """Biases a ModernBERT config leaves out (they stay zero)."""
    if not our_name.endswith(("bias", "b", "b_O", "b_in", "b_out", "b_gate")):
        return False
    if "ln" in our_name:
        return not hf.get("norm_bias", False)
    if ".attn." in our_name:
        return not hf.get("attention_bias", False)
    if ".mlp." in our_name:
        return not hf.get("mlp_bias", False)
    if our_name == "head.pooler.bias":
        return not hf.get("classifier_bias", False)
    return False


def _rope_types_default(value, hf: dict) -> bool:
    return all(
        _rope(hf, t).get("rope_type", "default") == "default"
        for t in set(_modernbert_layer_types(hf))
    )


MODERNBERT = Family(
    "modernbert",
    "ModernBertForSequenceClassification, ModernBertModel",
    "model",
    (
        replace(ACTIVATION, key="hidden_activation", converted_examples=("silu",)),
        Option(
            "classifier_activation",
            "gelu",
            "gelu",
            _one_of("gelu"),
            refused_example="tanh",
        ),
        Option(
            "classifier_pooling",
            "cls",
            "cls (mean pooling is not converted)",
            _one_of("cls"),
            refused_example="mean",
        ),
        Option(
            "global_attn_every_n_layers",
            3,
            "any (the other layers attend within local_attention / 2 on each side)",
            converted_examples=(1,),
        ),
        Option("local_attention", 128, "any even width", converted_examples=(2,)),
        Option(
            "rope_parameters",
            None,
            "rope_type default, any rope_theta per layer type",
            _rope_types_default,
            refused_example={
                "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4},
                "sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
            },
        ),
        Option(
            "norm_bias", False, "true or false (absent biases are zero)", converted_examples=(True,)
        ),
        Option("attention_bias", False, "true or false", converted_examples=(True,)),
        Option("mlp_bias", False, "true or false", converted_examples=(True,)),
        Option("classifier_bias", False, "true or false", converted_examples=(True,)),
        Option("norm_eps", 1e-5, "any (converted)", converted_examples=(1e-6,)),
        PROBLEM,
    ),
    _modernbert_config,
    _modernbert_weights,
    _modernbert_head,
    "pre-norm with a normed embedding; rotary positions; gated MLP; local and global layers",
    normed_last_hidden=True,
    bias_left_out=_modernbert_bias_left_out,
)

FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (BERT, DISTILBERT, ROBERTA, XLM_ROBERTA, ELECTRA, DEBERTA_V2, MODERNBERT, VIT, DEIT)
}


def check_options(hf: dict, source: str) -> Family:
    """The family of a config.json (as a dict), after refusing, by name, any option whose
    forward is not converted."""
    family = FAMILIES.get(hf.get("model_type"))
    if family is None:
        raise UnsupportedOption(
            f"{source}: model_type '{hf.get('model_type')}' is not supported; expected one of "
            f"{', '.join(FAMILIES)}"
        )
    for option in family.options:
        option.check(hf, family.model_type, source)
    return family


def options_table() -> str:
    """The supported-options table of docs/models.md, in markdown."""
    lines = [
        "| family (`model_type`) | classes | option | converted with parity | default |",
        "|---|---|---|---|---|",
    ]
    for family in FAMILIES.values():
        for index, option in enumerate(family.options):
            name = f"`{family.model_type}`" if index == 0 else ""
            classes = family.classes if index == 0 else ""
            lines.append(
                f"| {name} | {classes} | `{option.key}` | {option.supported} | "
                f"`{option.default!r}` |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(options_table())
