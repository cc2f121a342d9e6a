"""Save and load our format: config.json, model.safetensors, tokenizer.json, train.json.

A checkpoint cannot lie about what it holds: train.json records the sha256 of the weights, the
config and the tokenizer as they were written (`files`), and loading refuses a folder whose
files no longer match (edited, replaced, or a symlink to another model's), any of them not a
regular file, and weights that are not finite.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from tokenizers import Tokenizer

from interp.errors import CheckpointError
from interp.io import atomic_write_text, read_text_bounded, sha256_file
from interp.models.config import ClassifierConfig
from interp.models.hooked import HookedClassifier
from interp.models.weights import read_safetensors, write_safetensors

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
TRAIN_FILE = "train.json"
MAX_TRAIN_BYTES = 64 << 20  # a training record with its history is well under a megabyte


def save_checkpoint(model: HookedClassifier, folder: str | Path, train_info: dict | None = None):
    """Write the model to `folder`; each file is written atomically, weights last but one.

    `train_info` (recipe, seed, metrics) goes to train.json; without it the model's own `meta`
    is written there when it has any.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / WEIGHTS_FILE, model.state_dict(), metadata={"format": "interp"})
    if model.tokenizer is not None:
        atomic_write_text(folder / TOKENIZER_FILE, model.tokenizer.to_str(pretty=True))
    config = model.cfg.to_json()
    info = train_info if train_info is not None else model.meta
    if info:
        written = [WEIGHTS_FILE] + ([TOKENIZER_FILE] if model.tokenizer is not None else [])
        hashes = {name: sha256_file(folder / name) for name in written}
        hashes[CONFIG_FILE] = hashlib.sha256(config.encode("utf-8")).hexdigest()
        info = {**info, "files": hashes}
        atomic_write_text(folder / TRAIN_FILE, json.dumps(info, indent=2, sort_keys=True))
    # The config goes last: a folder with a config.json is a complete checkpoint.
    atomic_write_text(folder / CONFIG_FILE, config)
    return folder


def _check_regular_files(folder: Path) -> None:
    """Every file of the checkpoint is a regular file: no symlink, no folder."""
    for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TRAIN_FILE):
        path = folder / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise CheckpointError(f"{path}: not a regular file (a symlink or a folder); refused")


def _check_unchanged(folder: Path, recorded: dict | None) -> None:
    """Every file matches the sha256 train.json recorded when it was built (if it did)."""
    if not isinstance(recorded, dict):
        return
    for name, expected in sorted(recorded.items()):
        path = folder / name
        if not path.exists():
            raise CheckpointError(f"{path}: missing, but train.json records it")
        if sha256_file(path) != expected:
            raise CheckpointError(
                f"{path}: changed since the checkpoint was built (its sha256 differs from the "
                "one train.json records); rebuild it (`interp train`) or restore the file"
            )


def _check_finite(folder: Path, state: dict[str, torch.Tensor]) -> None:
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{folder / WEIGHTS_FILE}: '{name}' holds NaN or infinite values")


def load_checkpoint(folder: str | Path, device: str = "cpu") -> HookedClassifier:
    """Load a checkpoint written by `save_checkpoint`, checking every file before using it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    meta = {}
    _check_regular_files(folder)
    if (folder / TRAIN_FILE).exists():
        try:
            meta = json.loads(read_text_bounded(folder / TRAIN_FILE, MAX_TRAIN_BYTES, "train.json"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{folder / TRAIN_FILE}: not valid JSON ({err})") from None
        except ValueError as err:  # too large
            raise CheckpointError(str(err)) from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{folder / TRAIN_FILE}: expected a JSON object")
    cfg = ClassifierConfig.from_file(folder / CONFIG_FILE)
    state = read_safetensors(folder / WEIGHTS_FILE)
    _check_finite(folder, state)
    tokenizer = None
    if (folder / TOKENIZER_FILE).exists():
        try:
            tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as err:
            raise CheckpointError(
                f"{folder / TOKENIZER_FILE}: unreadable tokenizer ({err})"
            ) from None
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        if cfg.vocab_size is not None and size > cfg.vocab_size:
            raise CheckpointError(
                f"{folder}: tokenizer.json has {size} tokens but config.json says vocab_size "
                f"{cfg.vocab_size}; tokenizer and weights do not belong together"
            )
    elif cfg.modality == "text":
        raise CheckpointError(f"{folder}: a text model needs {TOKENIZER_FILE}")
    model = HookedClassifier(cfg, seed=None, tokenizer=tokenizer)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{folder / WEIGHTS_FILE} does not match config.json: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{folder / WEIGHTS_FILE}: '{name}' has shape {tuple(tensor.shape)}, config.json "
                f"implies {tuple(expected[name].shape)}"
            )
    model.load_state_dict(state)
    # Last: a file that cannot be read at all gets the more precise message above.
    _check_unchanged(folder, meta.get("files"))
    model.meta = meta
    return model.eval().to(device)
