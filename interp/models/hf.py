"""Convert Hugging Face checkpoints in a local folder into HookedClassifiers.

Supported: BertForSequenceClassification, DistilBertForSequenceClassification,
RobertaForSequenceClassification and ViTForImageClassification, and bare BertModel / ViTModel
encoders (such as MiniLM), whose classifier is freshly initialised. Only `config.json`,
`model.safetensors`, the tokenizer files and a ViT's `preprocessor_config.json` are read; no hub
is contacted and no pickle is opened.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError
from tokenizers import Tokenizer
from torch import Tensor

from interp.errors import CheckpointError
from interp.models.config import ClassifierConfig, describe_validation_error
from interp.models.hooked import HookedClassifier
from interp.models.weights import read_safetensors

FAMILIES = ("bert", "distilbert", "roberta", "vit")


def is_hf_folder(folder: Path) -> bool:
    """A Hugging Face folder has a config.json with a `model_type`."""
    try:
        return "model_type" in json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError, TypeError):
        return False


def _labels(hf: dict, labels: list[str] | None) -> list[str]:
    if labels is not None:
        return list(labels)
    id2label = hf.get("id2label")
    if id2label:
        return [str(id2label[key]) for key in sorted(id2label, key=int)]
    return [f"LABEL_{i}" for i in range(hf.get("num_labels", 2))]


def config_from_hf(
    hf: dict, labels: list[str] | None = None, source: str = "config.json"
) -> ClassifierConfig:
    """The ClassifierConfig of a Hugging Face `config.json` (as a dict); a missing key or an
    unsupported value is a CheckpointError naming `source` and the key."""
    if hf.get("model_type") not in FAMILIES:
        raise CheckpointError(
            f"{source}: model_type '{hf.get('model_type')}' is not supported; expected one of "
            f"{', '.join(FAMILIES)}"
        )
    try:
        return _config_from_hf(hf, labels)
    except KeyError as err:
        raise CheckpointError(
            f"{source}: no '{err.args[0]}', which a {hf.get('model_type')} config needs"
        ) from None
    except ValidationError as err:
        raise CheckpointError(f"{source}: {describe_validation_error(err)}") from None


def _config_from_hf(hf: dict, labels: list[str] | None) -> ClassifierConfig:
    family = hf["model_type"]
    if family == "vit":  # pre-norm, [CLS] vector in front of the patches, linear head
        return ClassifierConfig(
            modality="vision",
            n_layers=hf["num_hidden_layers"],
            d_model=hf["hidden_size"],
            n_heads=hf["num_attention_heads"],
            d_mlp=hf["intermediate_size"],
            norm="pre",
            act_fn=hf.get("hidden_act", "gelu"),
            layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
            head="linear",
            labels=_labels(hf, labels),
            image_size=hf["image_size"],
            patch_size=hf["patch_size"],
            n_channels=hf.get("num_channels", 3),
        )
    if family == "distilbert":
        return ClassifierConfig(
            n_layers=hf["n_layers"],
            d_model=hf["dim"],
            n_heads=hf["n_heads"],
            d_mlp=hf["hidden_dim"],
            norm="post",
            act_fn=hf.get("activation", "gelu"),
            layer_norm_eps=1e-12,
            head="distilbert",
            labels=_labels(hf, labels),
            vocab_size=hf["vocab_size"],
            max_positions=hf["max_position_embeddings"],
            n_token_types=0,
            pad_token_id=hf.get("pad_token_id") or 0,
        )
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValidationError.from_exception_data(
            "config",
            [
                {
                    "type": "literal_error",
                    "loc": ("position_embedding_type",),
                    "input": hf["position_embedding_type"],
                    "ctx": {"expected": "'absolute'"},
                }
            ],
        )
    return ClassifierConfig(
        n_layers=hf["num_hidden_layers"],
        d_model=hf["hidden_size"],
        n_heads=hf["num_attention_heads"],
        d_mlp=hf["intermediate_size"],
        norm="post",
        act_fn=hf.get("hidden_act", "gelu"),
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        head="bert_pooler",
        labels=_labels(hf, labels),
        vocab_size=hf["vocab_size"],
        max_positions=hf["max_position_embeddings"],
        n_token_types=hf.get("type_vocab_size", 2),
        pad_token_id=hf.get("pad_token_id") or 0,
        positions="roberta" if family == "roberta" else "absolute",
    )


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


# Where each block's parameters live in a Hugging Face checkpoint, per family: (layer folder,
# then query, key, value, attention output, first norm, MLP in, MLP out, second norm).
_BLOCK_NAMES = {
    "bert": (
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
    ),
    "distilbert": (
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
    ),
    "vit": (
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
    ),
}


def _block_rows(family: str, prefix: str, layer: int) -> list[tuple[str, str, Callable]]:
    """(our name, HF name, transform) for one block's attention, MLP and norm parameters."""
    folder, names = _BLOCK_NAMES.get(family, _BLOCK_NAMES["bert"])
    ours, hf = f"blocks.{layer}.", f"{prefix}{folder}.{layer}."
    ours_names = {
        "q": ("attn.q_weight", "attn.q_bias"),
        "k": ("attn.k_weight", "attn.k_bias"),
        "v": ("attn.v_weight", "attn.v_bias"),
        "o": ("attn.o_weight", "attn.b_O"),
        "in": ("mlp.W_in", "mlp.b_in"),
        "out": ("mlp.W_out", "mlp.b_out"),
        "ln1": ("ln1.w", "ln1.b"),
        "ln2": ("ln2.w", "ln2.b"),
    }
    rows = []
    for part, (weight, bias) in ours_names.items():
        weight_transform = _same if part.startswith("ln") else _t
        rows += [
            (ours + weight, f"{hf}{names[part]}.weight", weight_transform),
            (ours + bias, f"{hf}{names[part]}.bias", _same),
        ]
    return rows


def _weight_map(family: str, prefix: str, cfg: ClassifierConfig) -> list[tuple[str, str, Callable]]:
    """(our name, HF name, transform) for every converted parameter, head excluded."""
    emb = f"{prefix}embeddings."
    if family == "vit":
        rows = [
            ("cls_vector", emb + "cls_token", _vector),  # [1, 1, d_model]
            ("W_pos", emb + "position_embeddings", _rows),  # [1, patches + 1, d_model]
            ("W_patch", emb + "patch_embeddings.projection.weight", _patch_weight),
            ("b_patch", emb + "patch_embeddings.projection.bias", _same),
        ]
    else:
        rows = [
            ("W_E", emb + "word_embeddings.weight", _same),
            ("W_pos", emb + "position_embeddings.weight", _same),
            ("embed_ln.weight", emb + "LayerNorm.weight", _same),
            ("embed_ln.bias", emb + "LayerNorm.bias", _same),
        ]
        if cfg.n_token_types:
            rows.append(("W_token_type", emb + "token_type_embeddings.weight", _same))
    for layer in range(cfg.n_layers):
        rows += _block_rows(family, prefix, layer)
    if family == "vit":
        rows += [
            ("ln_final.weight", f"{prefix}layernorm.weight", _same),
            ("ln_final.bias", f"{prefix}layernorm.bias", _same),
        ]
    return rows


def _head_map(family: str, prefix: str) -> list[tuple[str, str, Callable]]:
    if family == "vit":  # a linear classifier on the final [CLS] vector, no pooler
        return [
            ("head.classifier.weight", "classifier.weight", _same),
            ("head.classifier.bias", "classifier.bias", _same),
        ]
    pooler = {
        "bert": f"{prefix}pooler.dense",
        "distilbert": "pre_classifier",
        "roberta": "classifier.dense",
    }[family]
    classifier = "classifier.out_proj" if family == "roberta" else "classifier"
    return [
        ("head.pooler.weight", f"{pooler}.weight", _same),
        ("head.pooler.bias", f"{pooler}.bias", _same),
        ("head.classifier.weight", f"{classifier}.weight", _same),
        ("head.classifier.bias", f"{classifier}.bias", _same),
    ]


def load_tokenizer(folder: Path):
    """The folder's tokenizer as a `tokenizers.Tokenizer` (tokenizer.json, else vocab files)."""
    if (folder / "tokenizer.json").exists():
        try:
            return Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as err:
            raise CheckpointError(
                f"{folder / 'tokenizer.json'}: unreadable tokenizer ({err})"
            ) from None
    try:
        from transformers import AutoTokenizer  # lazy: slow to import, rarely needed

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True).backend_tokenizer
    except Exception as err:
        raise CheckpointError(
            f"{folder}: no tokenizer.json and the vocabulary files could not be read ({err})"
        ) from None


def load_hf(
    folder: str | Path,
    device: str = "cpu",
    labels: list[str] | None = None,
    seed: int = 0,
) -> HookedClassifier:
    """Convert the Hugging Face checkpoint in `folder`, weight by weight, into a HookedClassifier.

    `labels` overrides the label names (and count) of the config; a bare encoder then gets a
    freshly initialised classifier head of that size (seeded by `seed`), said in a warning.
    """
    folder = Path(folder)
    try:
        hf = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{folder / 'config.json'}: cannot be read ({err})") from None
    if not isinstance(hf, dict):
        raise CheckpointError(f"{folder / 'config.json'}: expected a JSON object")
    cfg = config_from_hf(hf, labels, source=str(folder / "config.json"))
    family = hf["model_type"]
    weights = folder / "model.safetensors"
    if not weights.exists():
        extra = (
            " (pytorch_model.bin is pickle and is never opened)"
            if (folder / "pytorch_model.bin").exists()
            else ""
        )
        raise CheckpointError(f"{folder}: no model.safetensors{extra}")
    state = read_safetensors(weights)
    prefix = f"{family}." if any(k.startswith(f"{family}.") for k in state) else ""
    tokenizer = load_tokenizer(folder) if cfg.modality == "text" else None
    model = HookedClassifier(cfg, seed=seed, tokenizer=tokenizer)
    rows = _weight_map(family, prefix, cfg)
    head_rows = _head_map(family, prefix)
    has_head = all(src in state for _, src, _ in head_rows)
    with_pooler = head_rows[:2] if family == "bert" and head_rows[0][1] in state else []
    if has_head and labels is None:
        rows += head_rows
    else:
        rows += with_pooler
        what = "classifier" if with_pooler else "pooler and classifier"
        warnings.warn(
            f"{folder}: no classification head in the checkpoint (or new labels given); the "
            f"{what} of {cfg.n_labels} labels is freshly initialised (seed {seed})",
            stacklevel=2,
        )
    missing = [src for _, src, _ in rows if src not in state]
    if missing:
        raise CheckpointError(
            f"{weights}: {len(missing)} expected weights are missing, e.g. {missing[:3]}"
        )
    ours = model.state_dict()
    for name, src, transform in rows:
        value = transform(state[src])
        if value.shape != ours[name].shape:
            raise CheckpointError(
                f"{weights}: '{src}' has shape {tuple(value.shape)}, the config implies "
                f"{tuple(ours[name].shape)}"
            )
        ours[name] = value
    model.load_state_dict(ours)
    model.meta = {"source": "huggingface", "path": str(folder), "family": family}
    if cfg.modality == "text":
        _check_tokenizer(model, folder)
    else:
        model.meta["image_processor"] = _image_processor(folder)
    return model.eval().to(device)


def _image_processor(folder: Path) -> dict:
    """The image preprocessing a ViT checkpoint expects (preprocessor_config.json), if any:
    what inputs must look like before they reach the model's pixel_values."""
    path = folder / "preprocessor_config.json"
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: cannot be read ({err})") from None
    keys = ("do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std", "size")
    return {k: config[k] for k in keys if k in config} if isinstance(config, dict) else {}


def _check_tokenizer(model: HookedClassifier, folder: Path) -> None:
    size = model.tokenizer.get_vocab_size(with_added_tokens=True)
    if size > model.cfg.vocab_size:
        raise CheckpointError(
            f"{folder}: the tokenizer has {size} tokens but the model's vocabulary has "
            f"{model.cfg.vocab_size}; tokenizer and weights do not belong together"
        )
