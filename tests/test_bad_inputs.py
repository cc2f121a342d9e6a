"""A catalogue of bad inputs: each gets one clear error that names the culprit, found before any
work; random bytes and random documents fed to the loaders only ever raise the toolkit's errors.

Cases are grouped by where the input enters: the manifest, the checkpoint loaders (ours and
Hugging Face), the readers (HANS, MNLI JSON lines, probe JSON lines), probe sets and models
given to evaluation and analysis, KD recipes, the command line and the report.
"""

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interp.cli import main
from interp.errors import CheckpointError, ConfigError, ManifestError
from interp.io import write_folder
from interp.manifest import Manifest
from interp.models import HookedClassifier, load, save_checkpoint
from interp.models.hf import config_from_hf
from probes.core import Example, ProbeSet
from probes.nli import read_hans, read_mnli
from tests.conftest import tiny_config

TINY = {"n_layers": 1, "d_model": 16, "n_heads": 2, "d_mlp": 32}


def manifest_error(raw) -> str:
    with pytest.raises(ManifestError) as err:
        Manifest.from_dict(raw, source="m.yaml")
    return str(err.value)


def teacher(**extra):
    return {
        "id": "t",
        "role": "teacher",
        "task": "nli",
        "recipe": {"arch": TINY, "loss": "erm"},
        **extra,
    }


# ------------------------------------------------------------------------------------ manifest
MANIFEST_CASES = [
    ({"models": [{"seeds": [0], "role": "teacher", "task": "nli"}]}, "has no 'id'"),
    ([1, 2], "expected a mapping at the top level"),
    ({"models": [teacher(colour="red")]}, "manifest entry 't': field 'colour': unknown field"),
    ({"models": [{**teacher(), "path": "x"}]}, "give exactly one of 'path' and 'recipe'"),
    ({"models": [teacher(task="nlx")]}, "manifest entry 't': field 'task': unknown task 'nlx'"),
    ({"data": {"nli": {"n_trian": 5}}}, "unknown nli data setting(s) ['n_trian']"),
    ({"data": {"nli": {"overlap_bias": 2.0}}}, "overlap_bias must lie strictly between 0 and 1"),
    (
        {"models": [teacher(recipe={"arch": TINY, "loss": "erm", "params": {"lr_rate": 1}})]},
        "unknown recipe param(s) ['lr_rate']",
    ),
    ({"models": [teacher(recipe={"arch": TINY, "loss": "kdd"})]}, "unknown loss 'kdd'"),
    (
        {"models": [teacher(recipe={"arch": TINY, "loss": "kd", "teacher": "ghost"})]},
        "field 'recipe.teacher' names 'ghost', which is not defined",
    ),
    ({"models": [teacher(), teacher()]}, "manifest entry 't' is defined 2 times"),
    ({"models": [teacher(seeds="all")]}, "field 'seeds' must be a non-empty list of whole"),
    ({"models": [teacher(seeds=[True])]}, "field 'seeds' must be a non-empty list of whole"),
    ({"models": [teacher(seeds=[-1])]}, "field 'seeds' must be a non-empty list of whole"),
    ({"models": [teacher(seeds=[0, 0])]}, "field 'seeds' repeats a seed: [0, 0]"),
    (
        {
            "sweeps": [
                {
                    "id": "huge",
                    "methods": ["erm", "poe", "reweight"],
                    "teachers": {f"t{i}": "teacher" for i in range(30)},
                    "students": {f"s{i}": "student-small" for i in range(30)},
                    "train_sizes": [1000, 2000, 3000],
                    "seeds": [0, 1, 2],
                }
            ]
        },
        "sweep 'huge' expands to 97,209 models and pairs, more than 20,000",
    ),
    (
        {
            "models": [
                teacher(),
                {
                    "id": "s",
                    "role": "student",
                    "task": "digits",
                    "recipe": {"arch": "vit-student", "loss": "kd", "teacher": "t"},
                },
            ]
        },
        "manifest entry 's' (digits) distils from teacher 't' (nli): a student and its teacher "
        "need the same task",
    ),
    (
        {
            "models": [
                {**teacher(), "recipe": {"arch": "minilm-l6", "loss": "erm"}},
                {
                    "id": "s",
                    "role": "student",
                    "task": "nli",
                    "recipe": {"arch": "student-small", "loss": "kd", "teacher": "t"},
                },
            ]
        },
        "manifest entry 's' (nli word-level tokenizer) distils from teacher 't' (MiniLM tokenizer)",
    ),
    (
        {
            "models": [
                teacher(),
                {**teacher(id="u"), "recipe": {"arch": TINY, "loss": "poe", "bias_model": "t"}},
            ]
        },
        "field 'recipe.bias_model' names 't', which is a nli teacher, not a nli bias model",
    ),
    (
        {
            "models": [teacher()],
            "pairs": [{"id": "p", "teacher": "t", "student": "t", "suites": ["lexical_overlapp"]}],
        },
        "pair 'p': field 'suites': unknown nli suite(s) ['lexical_overlapp']",
    ),
    (
        {
            "models": [teacher()],
            "pairs": [{"id": "p", "teacher": "t", "student": "ghost", "suites": ["negation"]}],
        },
        "pair 'p': field 'student' names 'ghost', which is not defined",
    ),
]


@pytest.mark.parametrize("raw,message", MANIFEST_CASES)
def test_a_bad_manifest_names_the_entry_and_the_field(raw, message):
    assert message in manifest_error(raw)


def test_a_manifest_that_is_a_folder_missing_or_not_utf8_is_one_clear_error(tmp_path):
    with pytest.raises(ManifestError, match="is a folder; give the manifest file"):
        Manifest.load(tmp_path)
    with pytest.raises(ManifestError, match="no such manifest file"):
        Manifest.load(tmp_path / "nope.yaml")
    (tmp_path / "latin.yaml").write_bytes(b"models: []\n# caf\xe9\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        Manifest.load(tmp_path / "latin.yaml")
    (tmp_path / "bad.yaml").write_text("models:\n  - id: [unclosed\n")
    with pytest.raises(ManifestError, match=r"bad.yaml: not valid YAML at line \d"):
        Manifest.load(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("version: 1\nmodels: []\nversion: 2\n", "line 3 (duplicate key 'version')"),
        (
            "models:\n  - {id: a, role: teacher, task: nli,\n"
            "     recipe: {arch: teacher, loss: erm, steps: 5, steps: 7000}}\n",
            "line 3 (duplicate key 'steps')",
        ),
        (
            "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{m}'] * 9)}]\n" for m, n in zip("abcdefgh", "bcdefghi")
            ),
            "expands to more than 200000 values (nested aliases)",
        ),
        ("a: &a [*a]\n", "nested aliases"),
    ],
)
def test_duplicate_keys_and_alias_bombs_in_yaml_are_refused(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=re.escape(message)):
        Manifest.load(path)


def test_a_teacher_checkpoint_with_other_labels_is_refused_before_training(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path / "mine")  # labels: entailment, non-entailment
    raw = {
        "models": [
            {"id": "mine", "role": "teacher", "task": "nli", "path": str(tmp_path / "mine")},
            {
                "id": "s",
                "role": "student",
                "task": "nli",
                "recipe": {"arch": TINY, "loss": "kd", "teacher": "mine"},
            },
        ]
    }
    message = manifest_error(raw)
    assert "manifest entry 's' (labels ['entailment', 'neutral', 'contradiction'])" in message
    assert "teacher 'mine' (labels ['entailment', 'non-entailment'])" in message


def test_a_recipe_architecture_with_a_bad_field_is_found_before_anything_trains(tmp_path):
    from interp.train.zoo import build_zoo

    raw = {
        "checkpoint_dir": str(tmp_path),
        "models": [
            {
                "id": "b",
                "role": "bias_model",
                "task": "nli",
                "recipe": {"arch": "features", "loss": "erm"},
            },
            teacher(recipe={"arch": {"n_layer": 2}, "loss": "erm"}),
        ],
    }
    with pytest.raises(ManifestError, match="manifest entry 't': recipe.arch: field 'n_layer'"):
        build_zoo(Manifest.from_dict(raw), log=lambda line: None)
    assert not any(tmp_path.iterdir())  # not even the bias model was built
    raw["models"][1] = teacher(recipe={"arch": "teachr", "loss": "erm"})
    with pytest.raises(ManifestError, match="recipe.arch: unknown nli architecture 'teachr'"):
        build_zoo(Manifest.from_dict(raw), log=lambda line: None)


def test_a_debiasing_loss_without_its_bias_model_is_found_before_training(tmp_path):
    from interp.train.zoo import build_zoo

    raw = {
        "checkpoint_dir": str(tmp_path),
        "models": [teacher(recipe={"arch": TINY, "loss": "poe"})],
    }
    with pytest.raises(ManifestError, match="loss 'poe' needs recipe.bias_model"):
        build_zoo(Manifest.from_dict(raw), log=lambda line: None)


# ------------------------------------------------------------------------------------ checkpoints
@pytest.fixture
def saved(tmp_path, tiny_model):
    return save_checkpoint(tiny_model, tmp_path / "ckpt")


@pytest.fixture
def built(tmp_path, tiny_model):
    """A checkpoint saved as a build saves it: with train.json, which records its files."""
    return save_checkpoint(tiny_model, tmp_path / "built", train_info={"recipe": {"steps": 1}})


@pytest.mark.parametrize(
    "edit",
    [
        lambda cfg: {**cfg, "n_heads": 2, "d_head": 8},  # the same shapes, another model
        lambda cfg: {**cfg, "act_fn": "relu"},
        lambda cfg: {**cfg, "labels": list(reversed(cfg["labels"]))},
    ],
    ids=["heads", "activation", "labels"],
)
def test_a_config_edited_after_the_build_is_refused(built, edit):
    config = json.loads((built / "config.json").read_text())
    (built / "config.json").write_text(json.dumps(edit(config)))
    with pytest.raises(
        CheckpointError, match="config.json: changed since the checkpoint was built"
    ):
        load(built)


def test_weights_replaced_or_symlinked_after_the_build_are_refused(built, tmp_path, tiny_model):
    assert json.loads((built / "train.json").read_text())["files"].keys() >= {
        "model.safetensors",
        "config.json",
    }
    other = save_checkpoint(
        HookedClassifier(tiny_model.cfg, seed=7, tokenizer=tiny_model.tokenizer),
        tmp_path / "other",
        train_info={"recipe": {"steps": 2}},
    )
    weights = built / "model.safetensors"
    weights.unlink()
    weights.symlink_to(other / "model.safetensors")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load(built)
    weights.unlink()
    weights.write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="model.safetensors: changed since"):
        load(built)


def test_weights_that_are_not_finite_are_refused(saved):
    from interp.models.weights import read_safetensors, write_safetensors

    state = read_safetensors(saved / "model.safetensors")
    state["blocks.0.attn.q_weight"][0, 0] = float("nan")
    write_safetensors(saved / "model.safetensors", state)
    with pytest.raises(CheckpointError, match="'blocks.0.attn.q_weight' holds NaN or infinite"):
        load(saved)


def test_loading_a_file_instead_of_a_folder_says_so(saved):
    with pytest.raises(CheckpointError, match="is a file; give the checkpoint folder"):
        load(saved / "model.safetensors")


def test_a_config_that_is_not_json_names_the_file(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="config.json: not valid JSON"):
        load(saved)


def test_a_train_record_that_is_not_json_names_the_file(saved):
    (saved / "train.json").write_text("[")
    with pytest.raises(CheckpointError, match="train.json: not valid JSON"):
        load(saved)


def test_a_weights_file_of_another_shape_names_the_tensor(tmp_path, tiny_model):
    folder = save_checkpoint(tiny_model, tmp_path / "a")
    other = HookedClassifier(tiny_config(d_mlp=48), seed=0, tokenizer=tiny_model.tokenizer)
    save_checkpoint(other, tmp_path / "b")
    (folder / "model.safetensors").write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="'blocks.0.mlp.W_in' has shape"):
        load(folder)


def test_a_pinned_hash_that_does_not_match_is_refused(saved):
    raw = {
        "models": [
            {"id": "m", "role": "teacher", "task": "nli", "path": str(saved), "sha256": "0" * 64}
        ]
    }
    with pytest.raises(CheckpointError, match="manifest entry 'm': model.safetensors has sha256"):
        load("m", manifest=Manifest.from_dict(raw))


HF_CASES = [
    ({"model_type": "bert", "hidden_size": 8}, "no 'num_hidden_layers', which a bert config"),
    (
        {
            "model_type": "bert",
            "num_hidden_layers": 1,
            "hidden_size": 8,
            "num_attention_heads": 2,
            "intermediate_size": 16,
            "hidden_act": "mish",
            "vocab_size": 30,
            "max_position_embeddings": 16,
        },
        "bert option hidden_act='mish' is not supported (supported: gelu, gelu_new",
    ),
    ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
    (
        {
            "model_type": "bert",
            "num_hidden_layers": 1,
            "hidden_size": 8,
            "num_attention_heads": 3,
            "intermediate_size": 16,
            "vocab_size": 30,
            "max_position_embeddings": 16,
        },
        "d_model (8) is not divisible by n_heads (3)",
    ),
]


@pytest.mark.parametrize("config,message", HF_CASES)
def test_a_bad_hugging_face_config_names_the_key(config, message):
    with pytest.raises(CheckpointError) as err:
        config_from_hf(config, source="hf/config.json")
    assert "hf/config.json" in str(err.value) and message in str(err.value)


def test_a_hugging_face_folder_with_only_a_pickle_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "bert",
                "num_hidden_layers": 1,
                "hidden_size": 8,
                "num_attention_heads": 2,
                "intermediate_size": 16,
                "vocab_size": 30,
                "max_position_embeddings": 16,
            }
        )
    )
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(CheckpointError, match="pickle and is never opened"):
        load(tmp_path)


def test_a_checkpoint_folder_is_complete_or_absent_after_a_kill_between_files(tmp_path):
    """kill -9 while a checkpoint is being written: no folder at its place, and the next build
    clears the staging folder it left."""
    target = tmp_path / "ckpt" / "model-a"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from interp.io import write_folder

        def write(folder):
            (folder / "model.safetensors").write_bytes(b"weights")
            os.kill(os.getpid(), signal.SIGKILL)  # dies between two files
            (folder / "config.json").write_text("{{}}")

        write_folder(Path({str(target)!r}), write)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == -9
    assert not target.exists()
    leftovers = list(target.parent.glob(".model-a.tmp.*"))
    assert len(leftovers) == 1  # killed before its cleanup could run
    from interp.train.task import clear_leftovers

    raw = {"checkpoint_dir": str(tmp_path / "ckpt"), "models": [teacher(id="model-a")]}
    clear_leftovers(Manifest.from_dict(raw), "model-a")
    assert not list(target.parent.glob(".model-a.*"))
    write_folder(target, lambda folder: (folder / "config.json").write_text("{}"))
    assert (target / "config.json").exists()


# ------------------------------------------------------------------------------------ readers
HANS_HEADER = "gold_label\tsentence1\tsentence2\theuristic\tsubcase\ttemplate\n"


def test_hans_files_that_are_missing_folders_or_not_utf8_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no such HANS file"):
        read_hans(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="is a folder, not a HANS file"):
        read_hans(tmp_path)
    path = tmp_path / "hans.txt"
    path.write_bytes(HANS_HEADER.encode() + b"entailment\tThe caf\xe9\tx\ty\tz\tw\n")
    with pytest.raises(ValueError, match=r"hans.txt:2: not UTF-8 text \(byte 0xe9\)"):
        read_hans(path)


@pytest.mark.parametrize(
    "body,message",
    [
        ("", "empty file, expected a HANS header line"),
        ("gold_label\tsentence1\n", "HANS header lacks columns"),
        (HANS_HEADER + "entailment\ta\tb\n", "hans.txt:2: expected 6 tab-separated fields, got 3"),
        (HANS_HEADER + "maybe\ta\tb\tc\td\te\n", "hans.txt:2: gold_label 'maybe'"),
        (HANS_HEADER, "no examples after the header"),
        (HANS_HEADER + "entailment\t" + "a" * 200_000 + "\tb\tc\td\te\n", "hans.txt:2: not a HANS"),
    ],
)
def test_a_malformed_hans_file_names_the_line(tmp_path, body, message):
    path = tmp_path / "hans.txt"
    path.write_text(body)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_hans(path)


@pytest.mark.parametrize(
    "line,message",
    [
        (
            '["a", "b"]',
            "dev.jsonl:1: expected a JSON object with sentence1, sentence2 and "
            "gold_label, got a JSON list",
        ),
        (
            '{"sentence1": null, "sentence2": "b", "gold_label": "neutral"}',
            "dev.jsonl:1: field 'sentence1' must be a non-empty string, got None",
        ),
        (
            '{"sentence1": "a", "sentence2": 3, "gold_label": "neutral"}',
            "field 'sentence2' must be a non-empty string, got 3",
        ),
        (
            '{"sentence1": "a", "sentence2": "b", "gold_label": "maybe"}',
            "gold_label 'maybe' is not an NLI label",
        ),
        ("{", "dev.jsonl:1: not valid JSON"),
    ],
)
def test_a_malformed_mnli_line_names_the_line_and_field(tmp_path, line, message):
    path = tmp_path / "dev.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ValueError) as err:
        read_mnli(path)
    assert message in str(err.value)


def test_mnli_json_nested_past_the_parsers_depth_names_the_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}\n')
    with path.open("a") as handle:
        handle.write("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ValueError, match=r"deep.jsonl:2: JSON nested too deeply"):
        read_mnli(path)


def test_a_missing_mnli_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such MNLI JSON lines file"):
        read_mnli(tmp_path / "dev.jsonl")


@pytest.mark.parametrize(
    "lines,message",
    [
        (['{"name": "s"}'], "probe.jsonl:1: the header needs 'name' (text) and 'labels'"),
        (
            ['{"name": "s", "labels": ["a"]}', '{"kind": "blob"}'],
            "probe.jsonl:2: 'kind' must be example, partner or pair, got 'blob'",
        ),
        (
            ['{"name": "s", "labels": ["a"]}', '{"kind": "example", "id": "x"}'],
            "probe.jsonl:2: malformed example",
        ),
        (
            [
                '{"name": "s", "labels": ["a"]}',
                '{"kind": "example", "id": "x", "label": "zzz", "suite": "s", "heuristic": "h", '
                '"subcase": "c", "bias_type": "none", "bias_aligned": null}',
            ],
            "labels ['zzz'] not in ['a']",
        ),
        (
            ['{"name": "s", "labels": ["a"]}', '{"kind": "pair", "clean": "x"}'],
            "probe.jsonl:2: a pair needs 'clean' and 'corrupt'",
        ),
        ([], "empty file, expected a header line"),
    ],
)
def test_a_malformed_probe_file_names_the_line(tmp_path, lines, message):
    path = tmp_path / "probe.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    with pytest.raises(ValueError) as err:
        ProbeSet.from_jsonl(path)
    assert message in str(err.value)


# ------------------------------------------------------------------------ probe sets and models
def nli_examples(n: int = 3) -> list[Example]:
    return [
        Example(
            id=f"e{i}",
            label="entailment",
            suite="s",
            heuristic="h",
            subcase="c",
            bias_type="none",
            bias_aligned=None,
            premise="the doctor saw the lawyer .",
            hypothesis="the doctor saw the lawyer .",
        )
        for i in range(n)
    ]


def test_an_empty_suite_given_to_evaluation_names_the_suite(tiny_model):
    from interp.evaluate import evaluate_model

    empty = ProbeSet("lexical_overlap", ["entailment", "non-entailment"], [])
    with pytest.raises(ValueError, match="probe suite 'lexical_overlap' is empty"):
        evaluate_model(tiny_model, "m", [empty])


@pytest.mark.parametrize(
    "model_labels,suite_labels",
    [
        (["LABEL_0", "LABEL_1", "LABEL_2"], ["entailment", "neutral", "contradiction"]),
        (["entailment", "non-entailment"], ["entailment", "neutral", "contradiction"]),
    ],
)
def test_labels_that_do_not_name_the_suites_labels_are_refused_before_scoring(
    word_tokenizer, model_labels, suite_labels
):
    from interp.inputs import predict_labels

    model = HookedClassifier(tiny_config(labels=model_labels), seed=0, tokenizer=word_tokenizer)
    suite = ProbeSet("negation", suite_labels, nli_examples())
    with pytest.raises(ValueError) as err:
        predict_labels(model, suite)
    assert f"labels {model_labels}, which do not name the labels {suite_labels}" in str(err.value)
    assert "label_map" in str(err.value)


def test_a_label_map_in_the_manifest_renames_a_checkpoints_labels(tmp_path, word_tokenizer):
    model = HookedClassifier(
        tiny_config(labels=["LABEL_0", "LABEL_1"]), seed=0, tokenizer=word_tokenizer
    )
    save_checkpoint(model, tmp_path / "m")
    raw = {
        "models": [
            {
                "id": "m",
                "role": "teacher",
                "task": "nli",
                "path": str(tmp_path / "m"),
                "label_map": {"LABEL_0": "entailment", "LABEL_1": "non-entailment"},
            }
        ]
    }
    loaded = load("m", manifest=Manifest.from_dict(raw))
    assert loaded.cfg.labels == ["entailment", "non-entailment"]


def test_a_suite_without_usable_minimal_pairs_says_why(tiny_model):
    from interp.contrast import contrast_pairs

    no_pairs = ProbeSet("negation", ["entailment", "non-entailment"], nli_examples())
    with pytest.raises(ValueError, match="suite 'negation' has 0 minimal pairs"):
        contrast_pairs(tiny_model, no_pairs)
    clean = Example(
        id="c",
        label="non-entailment",
        suite="s",
        heuristic="h",
        subcase="c",
        bias_type="overlap",
        bias_aligned=False,
        premise="the doctor saw the lawyer .",
        hypothesis="the lawyer saw the doctor .",
    )
    longer = Example(
        **{
            **clean.__dict__,
            "id": "k",
            "label": "entailment",
            "hypothesis": "the lawyer saw the doctor near the artist .",
        }
    )
    uneven = ProbeSet("s", ["entailment", "non-entailment"], [clean], [longer], [("c", "k")])
    with pytest.raises(ValueError, match="1 tokenize to different lengths"):
        contrast_pairs(tiny_model, uneven)


def test_empty_batches_given_to_patching_attribution_and_circuits_are_clear_errors(tiny_model):
    from interp.attribution import attribute_nodes
    from interp.circuits import circuit_metric
    from interp.models import Batch
    from interp.patching import logit_diff, patch_components

    empty = Batch(input_ids=torch.zeros(0, 5, dtype=torch.long))
    metric = logit_diff(torch.zeros(0), torch.ones(0))
    for call in (
        lambda: patch_components(tiny_model, empty, empty, metric),
        lambda: attribute_nodes(tiny_model, empty, empty, metric, method="eap"),
        lambda: circuit_metric(tiny_model, empty, empty, metric, [["m0"]]),
    ):
        with pytest.raises(ValueError, match="the clean batch is empty"):
            call()


def test_a_model_that_separates_no_pair_gets_no_circuit_and_undefined_faithfulness():
    from interp.attribution import NodeScores
    from interp.circuits import circuit_from_curve

    curve = {"sizes": [0, 1, 2], "faithfulness": [float("nan")] * 3, "ranking": ["m0", "a0.h0"]}
    circuit = circuit_from_curve(curve, NodeScores(torch.zeros(2), ["a0.h0", "m0"]), 0.8)
    assert circuit.nodes == [] and circuit.meta.faithfulness != circuit.meta.faithfulness
    assert "does not separate" in circuit.meta.undefined
    reached = {"sizes": [0, 1, 2], "faithfulness": [0.0, 0.3, 0.5], "ranking": ["m0", "a0.h0"]}
    whole = circuit_from_curve(reached, NodeScores(torch.zeros(2), ["a0.h0", "m0"]), 0.8)
    assert whole.nodes == ["m0", "a0.h0"] and whole.meta.reached is False


def test_undefined_head_statistics_stay_undefined_in_the_analysis(tiny_model):
    from interp.analysis import analyse_model
    from interp.contrast import contrast_pairs
    from probes.nli import NLIConfig, generate

    bench = generate(
        NLIConfig(
            seed=0, n_train=10, n_in_distribution=3, n_per_subcase=2, n_negation=3, n_augment=3
        )
    )
    suite = bench.suites["lexical_overlap"]
    model = HookedClassifier(
        tiny_config(labels=["entailment", "neutral", "contradiction"], vocab_size=200),
        seed=0,
        tokenizer=bench.tokenizer(),
    )
    analysis = analyse_model(
        model, "m", "lexical_overlap", contrast_pairs(model, suite, 4), units="node"
    )
    flat = [v for row in analysis.head_stats["negation"] for v in row]
    assert all(v != v for v in flat)  # no negation word in these pairs: NaN, never 0.0


# ------------------------------------------------------------------------------------ command line
@pytest.fixture
def repo_manifest():
    return str(Path(__file__).parents[1] / "checkpoints_manifest.yaml")


def run_cli(args, capsys) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


CLI_CASES = [
    (["study", "--out", "{file}/sub"], "--out {file}/sub: a part of this path is a file"),
    (["study", "--out", "{file}"], "--out {file}: is a file, not a folder"),
    (["study", "--out", "/proc/interp-nope"], "--out /proc/interp-nope: cannot write there"),
    (["study", "--device", "cdua"], "--device 'cdua' is not a torch device"),
    (["study", "--device", "cuda"], "--device cuda: this torch"),
    (["study", "--device", "mps"], "--device mps: this torch"),
    (["study", "--tag", "nosuch", "--no-build"], "carries the tags ['nosuch']; tags of its pairs"),
    (
        ["study", "--seeds", "7", "--no-build"],
        "have no copy for the seeds [7]; their seeds: 0, 1, 2",
    ),
    (["study", "--suites", "typo", "--no-build"], "--suites: unknown nli suite(s) ['typo']"),
    (["study", "--chance-samples", "-3"], "--chance-samples: must be a whole number from 0 to"),
    (
        ["study", "--chance-samples", "1000000000"],
        "--chance-samples: must be a whole number from 0 to 100,000 (random circuits)",
    ),
    (["study", "--ig-steps", "1000000000"], "--ig-steps: must be a whole number from 1 to 1,000"),
    (["study", "--time-budget", "0"], "--time-budget: must be a finite number above 0, got 0"),
    (["study", "--seeds", "0", "0"], "argument --seeds: repeats 0"),
    (["study", "--suites", "negation", "negation"], "argument --suites: repeats negation"),
    (["study", "--pairs", "0"], "--pairs: must be a whole number from 1 to 100,000 (pairs), got 0"),
    (["study", "--batch-size", "-3"], "--batch-size: must be a whole number from 1 to 65,536"),
    (["study", "--run", "../../X"], "--run: must be one folder name"),
    (["study", "--run", "/tmp/X"], "--run: must be one folder name"),
    (["study", "--target", "nan"], "--target: must be a finite number, got nan"),
    (["study", "--target", "1.5"], "--target: must be in (0, 1], got 1.5"),
    (["study", "--min-separation", "-1"], "--min-separation: must be a finite number of at least"),
    (["train", "--jobs", "0"], "--jobs: must be a whole number from 1 to 256"),
    (["train", "--jobs", "1000000"], "--jobs: must be a whole number from 1 to 256"),
    (["eval", "--bootstrap", "x"], "--bootstrap: must be a whole number, got 'x'"),
    (["train", "--only", "ghost"], "no manifest entry 'ghost'"),
    (
        ["train", "--tag", "nosuch"],
        "no manifest entry carries the tags ['nosuch']; tags: control, demo",
    ),
    (["train", "--tag", "demo", "--seed", "9"], "have no copy for seed 9; their seeds: 0, 1, 2"),
    (["eval", "--out", "{file}"], "--out {file}: is a file, not a folder"),
    (["circuit", "--model", "erm-teacher-s0", "--suite", "nope"], "unknown suite 'nope'"),
]


@pytest.mark.parametrize("args,message", CLI_CASES)
def test_the_command_line_says_one_line_and_exits_2_before_any_work(
    args, message, tmp_path, capsys, repo_manifest
):
    afile = tmp_path / "afile"
    afile.write_text("x")
    args = [a.replace("{file}", str(afile)) for a in args]
    code, err = run_cli([*args, "--manifest", repo_manifest], capsys)
    assert code == 2
    assert err.count("\n") == 0 and err.startswith("error: ")
    assert message.replace("{file}", str(afile)) in err


def test_an_absurd_thread_count_is_one_line(capsys, monkeypatch, repo_manifest):
    monkeypatch.setenv("INTERP_THREADS", "100000")
    code, err = run_cli(["eval", "--manifest", repo_manifest], capsys)
    assert code == 2 and err == (
        "error: INTERP_THREADS must be a whole number from 1 to 1024, got '100000'"
    )


def test_a_manifest_that_is_a_folder_is_one_line_on_the_command_line(tmp_path, capsys):
    code, err = run_cli(["models", "list", "--manifest", str(tmp_path)], capsys)
    assert (
        code == 2
        and err == f"error: {tmp_path}: is a folder; give the manifest file (a .yaml file)"
    )


def test_debug_shows_the_traceback(tmp_path, capsys):
    code = main(["models", "list", "--manifest", str(tmp_path), "--debug"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and err.strip().endswith("(a .yaml file)")


# ------------------------------------------------------------------------------------ report
def test_the_report_escapes_quotes_markup_and_keeps_non_ascii():
    from interp.report.page import table

    html = table([{"model": "\"><script>x</script> 'q' & café ü", "score": float("nan")}])
    assert "<script>" not in html and "&quot;&gt;&lt;script&gt;" in html
    assert "&#x27;q&#x27; &amp; café ü" in html
    assert "n/a" in html  # undefined numbers are n/a, never 0


# ------------------------------------------------------------------------------------ fuzzing
fuzz = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
manifest_like = st.fixed_dictionaries(
    {},
    optional={
        "version": documents,
        "data": documents,
        "models": st.lists(
            st.dictionaries(
                st.sampled_from(
                    ["id", "role", "task", "path", "recipe", "seeds", "tags", "label_map"]
                ),
                documents,
                max_size=6,
            ),
            max_size=3,
        ),
        "pairs": st.lists(st.dictionaries(st.text(max_size=6), documents, max_size=4), max_size=2),
    },
)


@fuzz
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash_the_manifest_loader(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    path.write_bytes(data)
    try:
        Manifest.load(path)
    except ManifestError as err:
        assert str(err)


@fuzz
@given(raw=manifest_like)
def test_random_yaml_documents_never_crash_the_manifest_loader(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        Manifest.load(path)
    except ManifestError as err:
        assert str(err)


@fuzz
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_input_never_crashes_the_readers(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    for name, reader in (
        ("h.tsv", read_hans),
        ("m.jsonl", read_mnli),
        ("p.jsonl", ProbeSet.from_jsonl),
    ):
        (folder / name).write_bytes(data)
        try:
            reader(folder / name)
        except ValueError as err:
            assert str(err)


rows = st.lists(
    st.lists(
        st.sampled_from(["entailment", "non-entailment", "x", "", "a b"]), min_size=1, max_size=8
    ),
    max_size=5,
)


@fuzz
@given(body=rows)
def test_random_hans_tables_never_crash_the_reader(tmp_path_factory, body):
    path = tmp_path_factory.mktemp("fuzz") / "h.tsv"
    path.write_text(HANS_HEADER + "".join("\t".join(r) + "\n" for r in body))
    try:
        read_hans(path)
    except ValueError as err:
        assert str(err)


@fuzz
@given(records=st.lists(documents, max_size=5))
def test_random_json_lines_never_crash_the_json_readers(tmp_path_factory, records):
    folder = tmp_path_factory.mktemp("fuzz")
    text = "".join(json.dumps(r) + "\n" for r in records)
    for name, reader in (("m.jsonl", read_mnli), ("p.jsonl", ProbeSet.from_jsonl)):
        (folder / name).write_text(text)
        try:
            reader(folder / name)
        except ValueError as err:
            assert str(err)


def _numeric_options():
    """(command, option, type) of every numeric option of every command."""
    from interp.cli import build_parser
    from interp.cli import types as cli_types

    checked = {cli_types.count, cli_types.count_or_zero, cli_types.seed, cli_types.positive}
    checked |= {cli_types.non_negative, cli_types.fraction}
    found = []
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parsers = nested[0].choices.items() if nested else [(None, parser)]
        for inner, command_parser in parsers:
            command = [name] if inner is None else [name, inner]
            for action in command_parser._actions:
                # probe settings (`probes stats`) are checked by the task's settings instead
                if name != "probes":
                    assert action.type not in (int, float), (command, action.option_strings)
                if action.type in checked or getattr(action.type, "checked", False):
                    found.append((command, action.option_strings[0], action.type, action.dest))
    return found


NUMERIC_OPTIONS = _numeric_options()


def test_every_numeric_option_is_checked_where_it_is_parsed():
    options = {(tuple(c), o) for c, o, *_ in NUMERIC_OPTIONS}
    assert len(options) >= 20
    assert (("study",), "--pairs") in options and (("train",), "--jobs") in options


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(NUMERIC_OPTIONS) - 1),
    value=st.one_of(
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
    ),
)
def test_random_values_of_numeric_options_parse_or_are_one_line_errors(index, value):
    from interp.cli import build_parser

    command, option, kind, dest = NUMERIC_OPTIONS[index]
    text = str(value)
    if text.startswith("-") and not text.lstrip("-")[:1].isdigit():
        text = " " + text  # argparse would read it as an option, not as the value
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        try:
            args = build_parser().parse_args([*command, option, text])
        except SystemExit as done:
            assert done.code == 2
            message = errors.getvalue()
            assert message.count("\n") == 1 and message.startswith("error: ")
            return
    parsed = getattr(args, dest)
    if isinstance(parsed, list):  # --seeds takes several values; one was given
        (parsed,) = parsed
    assert parsed == kind(text)  # the contract the type states (count >= 1, finite, ...)


def test_csv_cells_that_look_like_formulas_are_neutralised():
    import pandas as pd

    from interp.io import csv_text

    frame = pd.DataFrame(
        {"heuristic": ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "plain"], "accuracy": [-0.5] * 5}
    )
    lines = csv_text(frame).splitlines()
    assert lines[1:] == ["'=1+1,-0.5", "'+SUM(A1),-0.5", "'-2+3,-0.5", "'@cmd,-0.5", "plain,-0.5"]


def test_findings_refuses_a_folder_page_and_names_a_bad_results_file(tmp_path, capsys):
    good = tmp_path / "results.json"
    good.write_text(json.dumps({"run": "r", "seeds": [0], "pairs": [], "distillability": []}))
    assert main(["findings", str(good), "--out", str(tmp_path)]) == 2
    assert "is a folder; give the page's file" in capsys.readouterr().err
    for body, why in (
        ("{not json", "cannot be read as a study's or a sweep's results.json"),
        ("{}", "not a study's or a sweep's results.json (run: Field required"),
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(body)
        assert main(["findings", str(bad), "--out", str(tmp_path / "f.md")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(bad) in err and why in err


def test_a_findings_title_with_markup_is_escaped():
    from interp.findings import markdown_text

    assert markdown_text("<script>alert(1)</script> *x* [a](b)") == (
        "&lt;script&gt;alert(1)&lt;/script&gt; \\*x\\* \\[a\\](b)"
    )


def test_an_architecture_larger_than_the_machine_is_refused_before_allocating(tmp_path):
    from interp.train.zoo import build_zoo

    raw = {
        "checkpoint_dir": str(tmp_path),
        "models": [teacher(recipe={"arch": {"n_layers": 10**6}, "loss": "erm"})],
    }
    with pytest.raises(ManifestError, match=r"recipe.arch needs about [\d,.]+ GiB to train"):
        build_zoo(Manifest.from_dict(raw), log=lambda line: None)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "task, arch",
    [
        ("nli", "teacher"),
        ("nli", {"norm": "post", "head": "bert_pooler", "n_layers": 1}),
        ("digits", "vit-student"),
    ],
)
def test_the_parameter_estimate_is_the_models_count(task, arch):
    from interp.train.recipes import architecture, parameter_count

    cfg = architecture(task, arch)
    model = HookedClassifier(cfg, seed=0)
    assert parameter_count(cfg) == sum(p.numel() for p in model.parameters())


def test_a_probe_line_of_many_megabytes_is_refused_without_holding_it(tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_bytes(b'{"sentence1": "' + b"a" * (3 << 20) + b'"}\n')
    with pytest.raises(ValueError, match=r"dev.jsonl:1: a line longer than 1 MiB"):
        read_mnli(path)


def test_inputs_that_are_not_regular_files_or_too_large_are_refused(tmp_path, saved):
    import os

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        read_mnli(fifo)
    with pytest.raises(ManifestError, match="not a regular file"):
        Manifest.load(fifo)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (5 << 20))
    with pytest.raises(ManifestError, match="more than a manifest file may hold"):
        Manifest.load(big)
    (saved / "config.json").write_bytes(b" " * (2 << 20) + b"{}")
    with pytest.raises(ConfigError, match="more than a config file may hold"):
        load(saved)


def test_a_checkpoint_dir_that_cannot_be_written_is_refused_before_training(tmp_path):
    from interp.errors import InterpError
    from interp.train.zoo import build_zoo

    afile = tmp_path / "afile"
    afile.write_text("x")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for where, message in ((afile, "is a file, not a folder"), (loop, "cannot write there")):
        raw = {
            "checkpoint_dir": str(where),
            "models": [
                {
                    "id": "b",
                    "role": "bias_model",
                    "task": "nli",
                    "recipe": {"arch": "features", "loss": "erm"},
                }
            ],
        }
        with pytest.raises(InterpError, match=f"checkpoint_dir {where}: .*{message}"):
            build_zoo(Manifest.from_dict(raw), log=lambda line: None)
