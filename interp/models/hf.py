"""Convert Hugging Face checkpoints in a local folder into HookedClassifiers.

The families, their classes and the config options converted are in
`interp.models.families` (docs/models.md); a bare encoder's classifier is freshly
initialised. Only `config.json`, `model.safetensors`, the tokenizer files and an image model's
`preprocessor_config.json` are read; no hub is contacted and no pickle is opened.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from pydantic import ValidationError
from tokenizers import Tokenizer

from interp.errors import CheckpointError
from interp.models.config import ClassifierConfig, describe_validation_error
from interp.models.families import (
    FAMILIES,
    UnsupportedOption,
    check_options,
    labels_of,
)
from interp.models.hooked import POOLER_ACTIVATIONS, HookedClassifier
from interp.models.weights import read_safetensors, safetensors_names


def is_hf_folder(folder: Path) -> bool:
    """A Hugging Face folder has a config.json with a `model_type`."""
    try:
        return "model_type" in json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError, TypeError):
        return False


def config_from_hf(
    hf: dict,
    labels: list[str] | None = None,
    source: str = "config.json",
    weight_names: set[str] = frozenset(),
) -> ClassifierConfig:
    """The ClassifierConfig of a Hugging Face `config.json` (as a dict); an unsupported family
    or option, a missing key or a value out of range is a CheckpointError naming `source` and
    the key. `weight_names` (the checkpoint's) tell heads apart where the config does not."""
    try:
        family = check_options(hf, source)
        return family.config(hf, labels_of(hf, labels), set(weight_names))
    except UnsupportedOption as err:
        raise CheckpointError(str(err)) from None
    except KeyError as err:
        raise CheckpointError(
            f"{source}: no '{err.args[0]}', which a {hf.get('model_type')} config needs"
        ) from None
    except ValidationError as err:
        raise CheckpointError(f"{source}: {describe_validation_error(err)}") from None


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
    weights = folder / "model.safetensors"
    if not weights.exists():
        extra = (
            " (pytorch_model.bin is pickle and is never opened)"
            if (folder / "pytorch_model.bin").exists()
            else ""
        )
        raise CheckpointError(f"{folder}: no model.safetensors{extra}")
    names = safetensors_names(weights)
    cfg = config_from_hf(hf, labels, source=str(folder / "config.json"), weight_names=names)
    state = read_safetensors(weights)
    family = FAMILIES[hf["model_type"]]
    prefix = f"{family.prefix}." if any(k.startswith(f"{family.prefix}.") for k in state) else ""
    tokenizer = load_tokenizer(folder) if cfg.modality == "text" else None
    model = HookedClassifier(cfg, seed=seed, tokenizer=tokenizer)

    # biases a config switched off (ViT's qkv_bias: false) stay zero
    def present(rows: list) -> list:
        return [row for row in rows if row[1] in state or not family.bias_left_out(row[0], hf)]

    rows = present(family.weights(prefix, cfg, hf))
    head_rows = present(family.head(prefix, cfg))
    has_head = all(src in state for _, src, _ in head_rows)
    # a bare encoder with a pooler of its own (BERT's) keeps it
    with_pooler = head_rows[:2] if family.model_type == "bert" and head_rows[0][1] in state else []
    if has_head and labels is None:
        rows += head_rows
    else:
        rows += with_pooler
        fresh_pooler = cfg.head in POOLER_ACTIVATIONS and not with_pooler
        what = "pooler and classifier" if fresh_pooler else "classifier"
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
    model.meta = {"source": "huggingface", "path": str(folder), "family": family.model_type}
    if cfg.modality == "text":
        _check_tokenizer(model, folder)
    else:
        model.meta["image_processor"] = _image_processor(folder)
    return model.eval().to(device)


def _image_processor(folder: Path) -> dict:
    """The image preprocessing a ViT or DeiT checkpoint expects (preprocessor_config.json), if any:
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
