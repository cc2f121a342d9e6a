"""A teacher and a student with different tokenizers: words as the common unit, attention pooled
from tokens to words, and a study of a DeBERTa-v2 teacher with a BERT student end to end."""

import json

import pytest
import torch
import transformers as hf
from tokenizers import Tokenizer
from tokenizers.models import WordPiece

from interp.attention import pattern_divergence, word_patterns
from interp.models import load
from interp.models.tokenize import encode_texts
from probes.tasks import get_task
from probes.tokenizer import bert_style
from tests.test_family_studies import quick_study

LABELS = {0: "entailment", 1: "neutral", 2: "contradiction"}
PREMISES = ["The doctor who the lawyer saw paid the artist.", "The judge slept."]
HYPOTHESES = ["The lawyer paid the artist.", "The judge did not sleep."]


def piece_tokenizer(words) -> Tokenizer:
    """A WordPiece vocabulary that splits every word longer than three letters in two
    (`doctor` -> `doc ##tor`), with DeBERTa's special-token order: another tokenization of the
    same texts."""
    vocab = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3}
    for word in sorted({w.lower() for w in words}):
        for piece in [word] if len(word) <= 3 else [word[:3], "##" + word[3:]]:
            vocab.setdefault(piece, len(vocab))
    return bert_style(Tokenizer(WordPiece(vocab=vocab, unk_token="[UNK]")), vocab)


@pytest.fixture(scope="module")
def tokenizers():
    word = get_task("nli").tokenizer()
    return word, piece_tokenizer(word.get_vocab())


def test_two_tokenizers_give_the_same_word_units(tokenizers):
    word, pieces = tokenizers
    a = encode_texts(word, PREMISES, HYPOTHESES)
    b = encode_texts(pieces, PREMISES, HYPOTHESES)
    assert a.input_ids.shape[1] < b.input_ids.shape[1]  # the pieces are longer
    for row in range(2):
        units_a = a.word_ids[row][a.word_ids[row] >= 0]
        units_b = b.word_ids[row][b.word_ids[row] >= 0]
        assert units_a.unique().tolist() == units_b.unique().tolist()
    # [CLS] doctor -> unit 0, then the first word "the" -> 2; "doctor" is two pieces, one word
    doctor = pieces.token_to_id("doc")
    position = (b.input_ids[0] == doctor).nonzero()[0, 0]
    assert b.word_ids[0, 0] == 0 and b.word_ids[0, position] == b.word_ids[0, position + 1] == 3
    # the period is its own token but part of the word "artist." (whitespace-separated)
    assert a.word_ids[0].max() == 2 + len(PREMISES[0].split()) + len(HYPOTHESES[0].split()) - 1


def test_word_patterns_pool_by_hand():
    pattern = torch.tensor([[[[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]]])
    word_ids = torch.tensor([[0, 2, 2]])  # [CLS], then one word of two tokens
    pooled, counts = word_patterns(pattern, word_ids)
    assert counts.tolist() == [[1, 0, 2]]
    expected = torch.tensor([[0.5, 0.0, 0.5], [0.0, 0.0, 0.0], [0.15, 0.0, 0.85]])
    assert torch.allclose(pooled[0, 0], expected)


def test_attention_to_its_own_word_pools_to_the_diagonal_in_both_tokenizations(tokenizers):
    """Every query token attending to the first token of its own word gives, pooled, a word
    pattern that is the identity, whether a word is one token or two."""
    word, pieces = tokenizers
    for batch in (
        encode_texts(word, PREMISES, HYPOTHESES),
        encode_texts(pieces, PREMISES, HYPOTHESES),
    ):
        n = batch.input_ids.shape[1]
        pattern = torch.zeros(2, 1, n, n)
        for row in range(2):
            for q in range(n):
                first = (batch.word_ids[row] == batch.word_ids[row, q]).nonzero()[0, 0]
                pattern[row, 0, q, first] = 1.0
        pooled, counts = word_patterns(pattern, batch.word_ids)
        present = counts > 0
        diagonal = pooled[:, 0].diagonal(dim1=-2, dim2=-1)
        assert torch.allclose(diagonal[present], torch.ones(int(present.sum())))


def tiny_deberta(folder, tokenizer):
    torch.manual_seed(0)
    config = hf.DebertaV2Config(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=96,
        relative_attention=True,
        pos_att_type="p2c|c2p",
        position_buckets=16,
        max_relative_positions=96,
        position_biased_input=False,
        type_vocab_size=0,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        num_labels=3,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    hf.DebertaV2ForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save(str(folder / "tokenizer.json"))


def tiny_bert(folder, tokenizer, seed):
    torch.manual_seed(seed)
    config = hf.BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=96,
        num_labels=3,
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    hf.BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save(str(folder / "tokenizer.json"))


MANIFEST = """
version: 1
checkpoint_dir: ckpt
data:
  nli: {n_train: 300, n_in_distribution: 60, n_per_subcase: 6, n_negation: 30, n_augment: 30}
models:
  - {id: deberta-teacher, role: teacher, task: nli, path: deberta, tags: [cross]}
  - {id: bert-student, role: student, task: nli, path: bert, tags: [cross]}
  - {id: bert-alone, role: student, task: nli, path: bert-alone, tags: [cross]}
pairs:
  - {id: cross, teacher: deberta-teacher, student: bert-student, baseline: bert-alone,
     suites: [lexical_overlap], tags: [cross]}
"""


def test_a_deberta_teacher_with_a_bert_student_studied_end_to_end(tmp_path, tokenizers):
    word, pieces = tokenizers
    tiny_deberta(tmp_path / "deberta", pieces)
    tiny_bert(tmp_path / "bert", word, seed=1)
    tiny_bert(tmp_path / "bert-alone", word, seed=2)
    (tmp_path / "checkpoints_manifest.yaml").write_text(MANIFEST)
    page, results = quick_study(tmp_path, "cross")
    (pair,) = results["pairs"]
    assert pair["skipped"] == {}, pair["skipped"]
    part = pair["suites"]["lexical_overlap"]
    mapping = part["diff"]["extra"]["correspondence"]["node_map"]
    assert set(mapping) >= {f"a0.h{h}" for h in range(4)}  # every student head matched
    example = part["attention_example"]
    assert example["tokens"][:2] == ["[CLS]", "[SEP]"] and "word by word" in example["text"]
    assert len(example["teacher_pattern"]) == len(example["student_pattern"])
    assert {r["bias_type"] for r in results["distillability"]} == {"overlap", "negation"}
    html = page.read_text(encoding="utf-8")
    assert "<script" in html and "http://" not in html.split("<script", 1)[0]


def test_the_study_models_keep_their_own_tokenizers(tmp_path, tokenizers):
    word, pieces = tokenizers
    tiny_deberta(tmp_path / "deberta", pieces)
    teacher = load(tmp_path / "deberta")
    batch = teacher.encode(PREMISES, HYPOTHESES)
    assert batch.word_ids is not None and int(batch.input_ids.max()) < teacher.cfg.vocab_size
    with pytest.raises(ValueError, match="different tokenizers needs each model's own"):
        tiny_bert(tmp_path / "bert", word, seed=1)
        pattern_divergence(teacher, load(tmp_path / "bert"), batch)


KD_MANIFEST = """
version: 1
checkpoint_dir: ckpt
data:
  nli: {n_train: 200, n_in_distribution: 40, n_per_subcase: 4, n_negation: 20, n_augment: 20}
models:
  - {id: deberta-teacher, role: teacher, task: nli, path: deberta}
  - {id: student, role: student, task: nli,
     recipe: {arch: {n_layers: 1, d_model: 16, n_heads: 2, d_mlp: 32}, loss: kd,
              teacher: deberta-teacher, steps: 20, params: {batch_size: 16, alpha: 0.0}}}
  - {id: guided, role: student, task: nli,
     recipe: {arch: {n_layers: 1, d_model: 16, n_heads: 2, d_mlp: 32}, loss: kd+attention,
              teacher: deberta-teacher, steps: 20}}
"""


def test_kd_from_a_teacher_with_another_tokenizer_trains_on_its_own_encoding(tmp_path, tokenizers):
    """KD matches class distributions: the teacher reads the examples in its own encoding. A
    circuit-guided loss, which needs the teacher's positions, is refused by name."""
    from interp.train.zoo import BuildFailed, build_zoo

    _, pieces = tokenizers
    tiny_deberta(tmp_path / "deberta", pieces)
    manifest = tmp_path / "checkpoints_manifest.yaml"
    manifest.write_text(KD_MANIFEST)
    build_zoo(str(manifest), only=["student"], log=lambda line: None)
    record = json.loads((tmp_path / "ckpt" / "student" / "train.json").read_text())
    assert record["recipe"]["teacher"] == "deberta-teacher"
    with pytest.raises(BuildFailed, match="uses another tokenizer; kd\\+attention needs"):
        build_zoo(str(manifest), only=["guided"], log=lambda line: None)


def test_premise_and_hypothesis_are_told_apart_without_token_types(tokenizers):
    """A RoBERTa-style template leaves every token type at 0; the sequence each token came
    from still separates premise and hypothesis, so the overlap statistic is defined."""
    from tokenizers import processors

    from interp.attention import identical_token_mask

    word, _ = tokenizers
    roberta_style = Tokenizer.from_str(word.to_str())
    cls, sep = word.token_to_id("[CLS]"), word.token_to_id("[SEP]")
    roberta_style.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] [SEP] $B [SEP]",  # types all 0
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    bert = encode_texts(word, PREMISES, HYPOTHESES)
    roberta = encode_texts(roberta_style, PREMISES, HYPOTHESES)
    assert int(roberta.token_type_ids.max()) == 0 and int(bert.token_type_ids.max()) == 1
    links = [identical_token_mask(b, [cls, sep]).sum((1, 2)).tolist() for b in (bert, roberta)]
    assert links[0] == links[1] and links[0][0] > 0  # "the lawyer paid the artist" overlaps
