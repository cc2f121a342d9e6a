"""A tiny study per newly supported family: an ELECTRA, an XLM-RoBERTa, a ModernBERT and a
distilled DeiT teacher (Hugging Face folders) with a BERT or ViT student, analysed end to end:
patching, EAP-IG, circuits, the diff and the report. (DeBERTa-v2's is in test_cross_tokenizer.)"""

import json
import warnings

import pytest
import torch
import transformers as hf

from interp.study import StudyConfig, run_study
from probes.tasks import get_task
from tests.models.test_families import TEXT as SIZES
from tests.models.test_families import VISION as IMAGE_SIZES

NLI = {0: "entailment", 1: "neutral", 2: "contradiction"}
DIGITS = {i: str(i) for i in range(10)}
# the parity tests' tiny configs, with room for the probes' sentences and without labels
TEXT = {k: v for k, v in SIZES.items() if k not in ("vocab_size", "num_labels")}
TEXT["max_position_embeddings"] = 96
VISION = {k: v for k, v in IMAGE_SIZES.items() if k != "num_labels"}
TEACHERS = {
    "electra": (hf.ElectraConfig, hf.ElectraForSequenceClassification, dict(embedding_size=24)),
    "xlm-roberta": (hf.XLMRobertaConfig, hf.XLMRobertaForSequenceClassification, {}),
    "modernbert": (
        hf.ModernBertConfig,
        hf.ModernBertForSequenceClassification,
        dict(
            global_attn_every_n_layers=2,
            local_attention=8,
            pad_token_id=0,
            cls_token_id=2,
            sep_token_id=3,
            bos_token_id=2,
            eos_token_id=3,
        ),
    ),
    "deit": (hf.DeiTConfig, hf.DeiTForImageClassificationWithTeacher, {}),
}


def save(folder, config_cls, model_cls, seed, labels, **fields):
    torch.manual_seed(seed)
    config = config_cls(
        **fields,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    model_cls(config).save_pretrained(folder)


def text_folder(folder, family_classes, seed, tokenizer, **extra):
    config_cls, model_cls = family_classes
    fields = {**TEXT, **extra, "vocab_size": tokenizer.get_vocab_size()}
    if config_cls is hf.XLMRobertaConfig:  # RoBERTa's positions start after the padding id
        fields.update(pad_token_id=0, max_position_embeddings=98)
    save(folder, config_cls, model_cls, seed, NLI, **fields)
    tokenizer.save(str(folder / "tokenizer.json"))


def quick_study(folder, tag: str):
    """The study of the pairs tagged `tag` in folder/checkpoints_manifest.yaml (untrained
    models: every minimal pair kept, no specificity controls): its page and results."""
    cfg = StudyConfig(
        manifest=str(folder / "checkpoints_manifest.yaml"),
        out=str(folder / "reports"),
        tags=[tag],
        n_pairs=8,
        min_separation=0.0,
        bootstrap=20,
        specificity=False,
        jobs=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = run_study(cfg, progress=False)
    return page, json.loads((page.parent / "results.json").read_text())


MANIFEST = """
version: 1
checkpoint_dir: ckpt
data:
  nli: {{n_train: 300, n_in_distribution: 60, n_per_subcase: 6, n_negation: 30, n_augment: 30}}
models:
  - {{id: teacher, role: teacher, task: {task}, path: teacher, tags: [family]}}
  - {{id: student, role: student, task: {task}, path: student, tags: [family]}}
  - {{id: alone, role: student, task: {task}, path: alone, tags: [family]}}
pairs:
  - {{id: family, teacher: teacher, student: student, baseline: alone,
     suites: [{suite}], tags: [family]}}
"""


@pytest.mark.parametrize("family", list(TEACHERS))
def test_a_tiny_study_of_each_new_family(family, tmp_path):
    config_cls, model_cls, extra = TEACHERS[family]
    if family == "deit":
        task, suite = "digits", "colour_conflicting"
        save(tmp_path / "teacher", config_cls, model_cls, 0, DIGITS, **VISION)
        for name, seed in (("student", 1), ("alone", 2)):
            fields = {**VISION, "num_hidden_layers": 1}
            save(
                tmp_path / name, hf.ViTConfig, hf.ViTForImageClassification, seed, DIGITS, **fields
            )
    else:
        task, suite = "nli", "lexical_overlap"
        tokenizer = get_task("nli").tokenizer()
        text_folder(tmp_path / "teacher", (config_cls, model_cls), 0, tokenizer, **extra)
        bert = (hf.BertConfig, hf.BertForSequenceClassification)
        for name, seed in (("student", 1), ("alone", 2)):
            text_folder(tmp_path / name, bert, seed, tokenizer, num_hidden_layers=1)
    (tmp_path / "checkpoints_manifest.yaml").write_text(MANIFEST.format(task=task, suite=suite))
    page, results = quick_study(tmp_path, "family")
    (pair,) = results["pairs"]
    assert pair["skipped"] == {}, pair["skipped"]
    part = pair["suites"][suite]
    teacher = part["teacher"]
    # every head and MLP patched exactly and attributed by EAP-IG (two layers of four heads)
    assert len(teacher["exact"]) >= 2 * 4 + 2 and set(teacher["attribution"]) == set(
        teacher["exact"]
    )
    assert -1.0 <= teacher["spearman"] <= 1.0 and "nodes" in teacher["circuit"]
    assert part["diff"]["extra"]["correspondence"]["node_map"]
    if family == "deit":  # the [CLS] row over the patch grid skips the distillation token
        grid = part["attention_example"]["renderings"][0]["teacher_cls"]
        assert len(grid) == 3 and len(grid[0]) == 3
    assert "<script" in page.read_text(encoding="utf-8")
