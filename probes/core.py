"""ProbeSet: a table of labelled probe examples with their bias annotations and minimal pairs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Example:
    """One probe example; `inputs` are the model inputs (text fields or an image)."""

    id: str
    label: str
    suite: str
    heuristic: str
    subcase: str
    bias_type: str  # overlap / negation / colour / marker / none
    bias_aligned: bool | None  # does the shortcut predict the gold label? None: no shortcut
    premise: str = ""
    hypothesis: str = ""
    template: str = ""
    premise_parse: str = ""
    hypothesis_parse: str = ""
    image: np.ndarray | None = field(default=None, repr=False)  # [3, H, W] float32 in [0, 1]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProbeSet:
    """Examples of one suite (or the training set) plus minimal pairs for patching.

    `pairs` hold (bias-conflicting id, partner id): the partner differs minimally and either
    carries the other label (sentence pairs) or the same label with the spurious feature of its
    own class (images, whose conflicting example names in `extra["bias_label"]` the class its
    feature points to). Partners that are not themselves members of the
    suite live in `partners`, so that accuracies over `examples` are not changed by them.
    """

    name: str
    labels: list[str]
    examples: list[Example]
    partners: list[Example] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = sorted({e.label for e in self.all_examples()} - set(self.labels))
        if unknown:
            raise ValueError(f"probe set '{self.name}': labels {unknown} not in {self.labels}")
        self._by_id = {e.id: e for e in self.all_examples()}
        if len(self._by_id) != len(self.examples) + len(self.partners):
            raise ValueError(f"probe set '{self.name}': example ids are not unique")
        for clean, corrupt in self.pairs:
            if clean not in self._by_id or corrupt not in self._by_id:
                raise ValueError(f"probe set '{self.name}': pair ({clean}, {corrupt}) is unknown")

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self):
        return iter(self.examples)

    def all_examples(self) -> Iterable[Example]:
        yield from self.examples
        yield from self.partners

    def example(self, example_id: str) -> Example:
        return self._by_id[example_id]

    def pair_examples(self) -> list[tuple[Example, Example]]:
        return [(self._by_id[c], self._by_id[k]) for c, k in self.pairs]

    def label_ids(self) -> list[int]:
        index = {label: i for i, label in enumerate(self.labels)}
        return [index[e.label] for e in self.examples]

    def to_frame(self) -> pd.DataFrame:
        """One row per example (images left out), in order."""
        columns = [f.name for f in fields(Example) if f.name not in ("image", "extra")]
        rows = [{c: getattr(e, c) for c in columns} for e in self.examples]
        return pd.DataFrame(rows, columns=columns)

    def subset(self, name: str, keep) -> "ProbeSet":
        """The examples for which `keep(example)` holds, with the pairs among them."""
        examples = [e for e in self.examples if keep(e)]
        ids = {e.id for e in examples}
        pairs = [(c, k) for c, k in self.pairs if c in ids]
        partner_ids = {k for _, k in pairs} - ids
        partners = [e for e in self.partners if e.id in partner_ids]
        return ProbeSet(name, list(self.labels), examples, partners, pairs)

    # ------------------------------------------------------------------ files (text probes)
    def to_jsonl(self, path: str | Path) -> None:
        """Write text probes as JSON lines (a header line, then examples, partners, pairs)."""
        path = Path(path)
        if any(e.image is not None for e in self.all_examples()):
            raise ValueError("to_jsonl writes text probes only")
        lines = [json.dumps({"name": self.name, "labels": self.labels})]
        for kind, items in (("example", self.examples), ("partner", self.partners)):
            for e in items:
                record = {k: v for k, v in asdict(e).items() if k != "image"}
                lines.append(json.dumps({"kind": kind, **record}, sort_keys=True))
        lines += [json.dumps({"kind": "pair", "clean": c, "corrupt": k}) for c, k in self.pairs]
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(path)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> "ProbeSet":
        """Read what `to_jsonl` wrote; a malformed line is a ValueError naming the line (and
        ProbeSet's own checks catch unknown labels, repeated ids and dangling pairs)."""
        path = Path(path)
        text_fields = {f.name for f in fields(Example)} - {"image"}
        examples, partners, pairs = [], [], []
        header = None
        with open_text(path, "probe") as opened:
            for number, line in enumerate(text_lines(opened, path), start=1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from None
                if not isinstance(record, dict):
                    raise ValueError(f"{path}:{number}: expected a JSON object")
                if number == 1:
                    header = record
                    if not isinstance(header.get("name"), str) or not isinstance(
                        header.get("labels"), list
                    ):
                        raise ValueError(
                            f"{path}:1: the header needs 'name' (text) and 'labels' (a list)"
                        )
                    continue
                kind = record.pop("kind", None)
                if kind == "pair":
                    clean, corrupt = record.get("clean"), record.get("corrupt")
                    if not isinstance(clean, str) or not isinstance(corrupt, str):
                        raise ValueError(f"{path}:{number}: a pair needs 'clean' and 'corrupt'")
                    pairs.append((clean, corrupt))
                elif kind in ("example", "partner"):
                    unknown = sorted(set(record) - text_fields)
                    if unknown:
                        raise ValueError(f"{path}:{number}: unknown field(s) {unknown}")
                    try:
                        example = Example(**record)
                    except TypeError as err:
                        raise ValueError(f"{path}:{number}: malformed example ({err})") from None
                    (examples if kind == "example" else partners).append(example)
                else:
                    raise ValueError(
                        f"{path}:{number}: 'kind' must be example, partner or pair, got {kind!r}"
                    )
        if header is None:
            raise ValueError(f"{path}: empty file, expected a header line")
        return cls(header["name"], [str(x) for x in header["labels"]], examples, partners, pairs)


def open_text(path: Path, what: str):
    """The file opened for reading (bytes, decoded line by line by `text_lines`), or a ValueError
    that says what is wrong with the path."""
    if not path.exists():
        raise ValueError(f"{path}: no such {what} file")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a {what} file")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise ValueError(f"{path}: not a regular file; give a {what} file")
    return path.open("rb")


MAX_LINE_BYTES = 1 << 20  # one probe example; a longer line is not one


def text_lines(handle, path: Path):
    """The file's lines as text; a line that is not UTF-8, or longer than MAX_LINE_BYTES, is a
    ValueError naming it (read in bounded pieces: a huge line is never held whole)."""
    number = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise ValueError(
                f"{path}:{number}: a line longer than {MAX_LINE_BYTES // 2**20} MiB; is this "
                "a probe file?"
            )
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{path}:{number}: not UTF-8 text (byte 0x{raw[err.start]:02x})"
            ) from None


def stats_frame(probe_sets: Iterable[ProbeSet]) -> pd.DataFrame:
    """Per suite and subcase: size, share of each label, share of bias-aligned examples."""
    rows = []
    for probe_set in probe_sets:
        frame = probe_set.to_frame()
        if frame.empty:
            continue
        for (suite, subcase), group in frame.groupby(["suite", "subcase"], sort=True):
            row = {"set": probe_set.name, "suite": suite, "subcase": subcase, "size": len(group)}
            for label in probe_set.labels:
                row[f"share_{label}"] = float((group["label"] == label).mean())
            aligned = group["bias_aligned"].dropna()
            row["bias_aligned_share"] = float(aligned.mean()) if len(aligned) else float("nan")
            row["pairs"] = sum(1 for c, _ in probe_set.pairs if c in set(group["id"]))
            rows.append(row)
    return pd.DataFrame(rows)
