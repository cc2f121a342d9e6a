"""Our checkpoint format: round trip, and one clear error for each kind of bad folder."""

import json

import pytest
import torch

from interp.errors import CheckpointError, ConfigError
from interp.models import HookedClassifier, load, save_checkpoint
from probes.tokenizer import build_word_tokenizer
from tests.conftest import padded_batch, tiny_config


@pytest.fixture
def saved(tmp_path, tiny_model):
    folder = tmp_path / "ckpt"
    save_checkpoint(tiny_model, folder, train_info={"recipe": "erm", "seed": 1})
    return folder


def test_save_then_load_gives_identical_logits_and_metadata(saved, tiny_model):
    loaded = load(saved)
    batch = padded_batch()
    assert torch.equal(loaded(batch), tiny_model(batch))
    files = loaded.meta.pop("files")  # what each file hashed to when it was written
    assert loaded.meta == {"recipe": "erm", "seed": 1}
    assert sorted(files) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert loaded.tokenizer.to_str() == tiny_model.tokenizer.to_str()
    assert sorted(p.name for p in saved.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "train.json",
    ]


def test_vision_model_round_trips_without_tokenizer(tmp_path):
    cfg = tiny_config(modality="vision", vocab_size=None, image_size=8, patch_size=2)
    model = HookedClassifier(cfg, seed=2).eval()
    save_checkpoint(model, tmp_path / "v")
    pixels = torch.rand(2, 3, 8, 8)
    assert torch.equal(load(tmp_path / "v")(pixels), model(pixels))


def test_truncated_weights_are_one_clear_error(saved):
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="model.safetensors: not a readable safetensors"):
        load(saved)


def test_garbage_weights_are_one_clear_error(saved):
    (saved / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load(saved)


def test_missing_weights_are_a_clear_error(saved):
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no such weights file"):
        load(saved)


def test_config_with_a_wrong_field_names_that_field(saved):
    config = json.loads((saved / "config.json").read_text())
    config["n_heads"] = "eight"
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="field 'n_heads'"):
        load(saved)


def test_config_with_an_unknown_field_names_that_field(saved):
    config = json.loads((saved / "config.json").read_text())
    config["n_layer"] = 2
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="field 'n_layer': unknown field"):
        load(saved)


def test_config_that_disagrees_with_the_weights_is_a_clear_error(saved):
    config = json.loads((saved / "config.json").read_text())
    config["d_mlp"] = 48
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="has shape .* config.json implies"):
        load(saved)


def test_tokenizer_larger_than_the_vocabulary_is_a_clear_error(saved):
    big = build_word_tokenizer(f"w{i}" for i in range(200))
    big.save(str(saved / "tokenizer.json"))
    with pytest.raises(CheckpointError, match="do not belong together"):
        load(saved)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load(tmp_path / "absent" / "model")


def test_saving_leaves_no_temporary_files(saved):
    assert not [p for p in saved.iterdir() if p.name.startswith(".")]
