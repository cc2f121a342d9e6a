"""Readers for the HANS evaluation file and MNLI JSON lines, and the accuracy table."""

import json

import pytest

from probes.nli import accuracy_table, read_hans, read_mnli

HEADER = (
    "gold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
    "sentence2_parse\tsentence1\tsentence2\tpairID\theuristic\tsubcase\ttemplate"
)
ROWS = [
    (
        "non-entailment",
        "The doctor saw the lawyer .",
        "The lawyer saw the doctor .",
        "ex0",
        "lexical_overlap",
        "ln_subject/object_swap",
        "temp1",
    ),
    (
        "entailment",
        "The doctor saw the lawyer .",
        "The doctor saw the lawyer .",
        "ex1",
        "lexical_overlap",
        "le_relative_clause",
        "temp2",
    ),
    (
        "non-entailment",
        "If the judge slept , the actor ran .",
        "The judge slept .",
        "ex2",
        "constituent",
        "cn_embedded_under_if",
        "temp3",
    ),
    (
        "entailment",
        "Since the judge slept , the actor ran .",
        "The actor ran .",
        "ex3",
        "constituent",
        "ce_after_since_clause",
        "temp4",
    ),
    (
        "non-entailment",
        "If the chef ran , the nurse slept .",
        "The chef ran .",
        "ex4",
        "constituent",
        "cn_embedded_under_if",
        "temp3",
    ),
]


def hans_line(label, s1, s2, pair_id, heuristic, subcase, template):
    return "\t".join(
        [
            label,
            f"( {s1} )",
            f"( {s2} )",
            f"(ROOT {s1})",
            f"(ROOT {s2})",
            s1,
            s2,
            pair_id,
            heuristic,
            subcase,
            template,
        ]
    )


@pytest.fixture
def hans_file(tmp_path):
    path = tmp_path / "heuristics_evaluation_set.txt"
    path.write_text("\n".join([HEADER] + [hans_line(*row) for row in ROWS]) + "\n")
    return path


def test_hans_file_parses_with_heuristics_and_subcases(hans_file):
    probes = read_hans(hans_file)
    assert len(probes) == 5
    first = probes.examples[0]
    assert (first.id, first.label, first.heuristic, first.subcase) == (
        "ex0",
        "non-entailment",
        "lexical_overlap",
        "ln_subject/object_swap",
    )
    assert first.premise_parse == "(ROOT The doctor saw the lawyer .)"
    assert [e.bias_aligned for e in probes] == [False, True, False, True, False]


def test_accuracy_per_heuristic_and_subcase_for_predictions(hans_file):
    probes = read_hans(hans_file)
    # Three-way predictions are mapped to the binary scheme.
    predictions = ["entailment", "entailment", "neutral", "entailment", "entailment"]
    table = accuracy_table(probes, predictions).set_index(["heuristic", "subcase", "label"])
    assert (
        table.loc[("lexical_overlap", "ln_subject/object_swap", "non-entailment"), "accuracy"] == 0
    )
    assert table.loc[("constituent", "cn_embedded_under_if", "non-entailment"), "accuracy"] == 0.5
    assert table.loc[("constituent", "cn_embedded_under_if", "non-entailment"), "n"] == 2
    assert table.loc[("constituent", "all", "entailment"), "accuracy"] == 1.0
    assert table.loc[("lexical_overlap", "all", "non-entailment"), "accuracy"] == 0.0


def test_prediction_count_and_unknown_labels_are_errors(hans_file):
    probes = read_hans(hans_file)
    with pytest.raises(ValueError, match="4 predictions for 5 examples"):
        accuracy_table(probes, ["entailment"] * 4)
    with pytest.raises(ValueError, match="not labels"):
        accuracy_table(probes, ["maybe"] * 5)


def test_malformed_hans_row_names_its_line(tmp_path):
    path = tmp_path / "hans.txt"
    lines = [HEADER, hans_line(*ROWS[0]), "entailment\tonly three\tfields"]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"hans.txt:3: expected 11 tab-separated fields, got 3"):
        read_hans(path)
    path.write_text("\n".join([HEADER, hans_line("contradiction", *ROWS[0][1:])]) + "\n")
    with pytest.raises(ValueError, match=r"hans.txt:2: gold_label 'contradiction'"):
        read_hans(path)
    path.write_text("sentence1\tsentence2\n")
    with pytest.raises(ValueError, match="lacks columns"):
        read_hans(path)


def test_mnli_jsonl_parses_skips_unlabelled_and_maps_to_binary(tmp_path):
    path = tmp_path / "dev.jsonl"
    records = [
        {
            "sentence1": "A man sleeps.",
            "sentence2": "A person sleeps.",
            "gold_label": "entailment",
            "pairID": "1",
            "genre": "fiction",
        },
        {
            "sentence1": "A man sleeps.",
            "sentence2": "Nobody sleeps.",
            "gold_label": "contradiction",
            "pairID": "2",
            "genre": "fiction",
        },
        {"sentence1": "A man sleeps.", "sentence2": "It rains.", "gold_label": "-", "pairID": "3"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    three_way = read_mnli(path)
    assert [e.label for e in three_way] == ["entailment", "contradiction"]
    binary = read_mnli(path, binary=True)
    assert [e.label for e in binary] == ["entailment", "non-entailment"]
    assert read_mnli(path).name == "mnli" and read_mnli(path, name="dev_a").name == "dev_a"
    assert binary.labels == ["entailment", "non-entailment"]


def test_malformed_mnli_line_names_its_line(tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_text(
        '{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}\n{"sentence1": \n'
    )
    with pytest.raises(ValueError, match=r"dev.jsonl:2: not valid JSON"):
        read_mnli(path)
    path.write_text('{"sentence1": "a", "gold_label": "neutral"}\n')
    with pytest.raises(ValueError, match=r"dev.jsonl:1: missing field 'sentence2'"):
        read_mnli(path)
