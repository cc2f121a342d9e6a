"""Readers for real NLI data: the HANS evaluation file and MNLI JSON lines, as ProbeSets."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from probes.core import Example, ProbeSet, open_text, text_lines
from probes.nli.generate import BINARY, THREE_WAY, to_binary

HANS_COLUMNS = ("gold_label", "sentence1", "sentence2", "heuristic", "subcase", "template")
HANS_LABELS = {"entailment": "entailment", "non-entailment": "non-entailment"}


def read_hans(path: str | Path, limit: int | None = None) -> ProbeSet:
    """The HANS evaluation file (tab-separated, with a header) as a binary ProbeSet."""
    path = Path(path)
    examples: list[Example] = []
    with open_text(path, "HANS") as opened:
        reader = csv.reader(text_lines(opened, path), delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            examples = _hans_examples(reader, path, limit)
        except csv.Error as err:
            raise ValueError(f"{path}:{reader.line_num}: not a HANS line ({err})") from None
    if not examples:
        raise ValueError(f"{path}: no examples after the header")
    return ProbeSet("hans", list(BINARY), examples)


def _hans_examples(reader, path: Path, limit: int | None) -> list[Example]:
    examples: list[Example] = []
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError(f"{path}: empty file, expected a HANS header line") from None
    missing = [c for c in HANS_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}:1: HANS header lacks columns {missing}")
    index = {name: header.index(name) for name in header}
    for row in reader:
        line_number = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{path}:{line_number}: expected {len(header)} tab-separated fields, got {len(row)}"
            )
        label = row[index["gold_label"]]
        if label not in HANS_LABELS:
            raise ValueError(
                f"{path}:{line_number}: gold_label '{label}' is not entailment or non-entailment"
            )
        pair_id = row[index["pairID"]] if "pairID" in index else f"hans-{line_number - 1}"
        examples.append(
            Example(
                id=pair_id,
                label=HANS_LABELS[label],
                suite="hans",
                heuristic=row[index["heuristic"]],
                subcase=row[index["subcase"]],
                bias_type="overlap",
                bias_aligned=label == "entailment",
                premise=row[index["sentence1"]],
                hypothesis=row[index["sentence2"]],
                template=row[index["template"]],
                premise_parse=row[index["sentence1_parse"]] if "sentence1_parse" in index else "",
                hypothesis_parse=row[index["sentence2_parse"]]
                if "sentence2_parse" in index
                else "",
            )
        )
        if limit is not None and len(examples) >= limit:
            break
    return examples


def read_mnli(path: str | Path, binary: bool = False, name: str = "mnli") -> ProbeSet:
    """MNLI JSON lines (`sentence1`, `sentence2`, `gold_label`); examples labelled '-' (no
    annotator consensus) are skipped, as is usual. `binary` maps labels to the HANS scheme."""
    path = Path(path)
    examples: list[Example] = []
    with open_text(path, "MNLI JSON lines") as opened:
        for line_number, line in enumerate(text_lines(opened, path), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_number}: not valid JSON ({err.msg})") from None
            except RecursionError:
                raise ValueError(f"{path}:{line_number}: JSON nested too deeply") from None
            if not isinstance(record, dict):
                raise ValueError(
                    f"{path}:{line_number}: expected a JSON object with sentence1, sentence2 "
                    f"and gold_label, got a JSON {type(record).__name__}"
                )
            missing = [k for k in ("sentence1", "sentence2", "gold_label") if k not in record]
            if missing:
                names = ", ".join(f"'{m}'" for m in missing)
                raise ValueError(f"{path}:{line_number}: missing field {names}")
            premise, hypothesis = record["sentence1"], record["sentence2"]
            label = record["gold_label"]
            for key, value in (("sentence1", premise), ("sentence2", hypothesis)):
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(
                        f"{path}:{line_number}: field '{key}' must be a non-empty string, "
                        f"got {value!r}"
                    )
            if label == "-":
                continue
            if label not in THREE_WAY:
                raise ValueError(f"{path}:{line_number}: gold_label '{label}' is not an NLI label")
            genre = record.get("genre", "")
            examples.append(
                Example(
                    id=str(record.get("pairID", f"{name}-{line_number}")),
                    label=to_binary(label) if binary else label,
                    suite=name,
                    heuristic=genre,
                    subcase=genre,
                    bias_type="none",
                    bias_aligned=None,
                    premise=premise,
                    hypothesis=hypothesis,
                )
            )
    if not examples:
        raise ValueError(f"{path}: no labelled examples")
    return ProbeSet(name, list(BINARY if binary else THREE_WAY), examples)


def accuracy_table(probe_set: ProbeSet, predictions: Sequence[str]) -> pd.DataFrame:
    """Accuracy per heuristic, subcase and gold label for predicted label strings.

    Three-way predictions are mapped to the binary scheme when the probe set is binary.
    Rows: one per (heuristic, subcase, label), plus one per (heuristic, label) with subcase
    'all'.
    """
    if len(predictions) != len(probe_set):
        raise ValueError(f"{len(predictions)} predictions for {len(probe_set)} examples")
    binary = probe_set.labels == BINARY
    predicted = [to_binary(p) if binary and p in THREE_WAY else p for p in predictions]
    unknown = sorted(set(predicted) - set(probe_set.labels))
    if unknown:
        raise ValueError(f"predictions {unknown} are not labels of '{probe_set.name}'")
    frame = probe_set.to_frame()[["heuristic", "subcase", "label"]]
    frame["correct"] = [p == gold for p, gold in zip(predicted, frame["label"])]
    by_subcase = frame.groupby(["heuristic", "subcase", "label"], as_index=False)["correct"]
    by_heuristic = frame.groupby(["heuristic", "label"], as_index=False)["correct"]
    table = pd.concat(
        [
            by_subcase.agg(accuracy="mean", n="size"),
            by_heuristic.agg(accuracy="mean", n="size").assign(subcase="all"),
        ],
        ignore_index=True,
    )
    return table.sort_values(["heuristic", "label", "subcase"]).reset_index(drop=True)
