"""The base of every results model, the schema version and reading a results file.

A record validates what a producer hands it (so a field a reader relies on is always there, of
its type) and serialises to the JSON the toolkit writes: field names as in the file, undefined
numbers as null, keys sorted by `interp.io.atomic_write_json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer

from interp.errors import InterpError
from interp.io import finite, read_text_bounded

SCHEMA_VERSION = 1  # results.json layout; raise it when a field changes meaning or goes away
MAX_RESULTS_BYTES = 1 << 30  # a study's results.json (the zoo's is tens of megabytes)

R = TypeVar("R", bound="Record")


class Record(BaseModel):
    """A part of a results file: unknown fields are refused, field docstrings document it."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        use_attribute_docstrings=True,
        validate_assignment=True,
    )
    # Fields that may be absent (their absence is part of the layout): written only when they
    # were given, so that a file read and written again keeps absent fields absent and null
    # ones null.
    optional_fields: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler):
        data = handler(self)
        for name in self.optional_fields - self.model_fields_set:
            data.pop(type(self).model_fields[name].alias or name, None)
        return data

    def to_data(self) -> dict[str, Any]:
        """JSON-ready data: file field names, undefined numbers as None."""
        return finite(self.model_dump(mode="json", by_alias=True))

    def to_json(self) -> str:
        """Strict JSON text, keys sorted."""
        return json.dumps(self.to_data(), indent=2, sort_keys=True, allow_nan=False)


def validation_message(err: ValidationError, limit: int = 3) -> str:
    """The first few problems of a validation error, each with the path of its field."""
    problems = []
    for item in err.errors()[:limit]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{where}: {item['msg']}")
    more = len(err.errors()) - limit
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def check_version(data: Any, path: str | Path) -> None:
    """Refuse a file written by a newer toolkit; files from before the version field (the same
    layout) are read as version 1."""
    version = data.get("schema_version", 1) if isinstance(data, dict) else 1
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise InterpError(
            f"{path}: results schema version {version!r}; this toolkit reads versions up to "
            f"{SCHEMA_VERSION} (upgrade it to read this file)"
        )


def read_json(path: str | Path, what: str = "results.json") -> Any:
    """A results file's JSON data, with an error naming the file when it cannot be read."""
    try:
        return json.loads(read_text_bounded(path, MAX_RESULTS_BYTES, "results.json"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InterpError(f"{path}: cannot be read as {what} ({err})") from None


def parse(model: type[R], data: Any, path: str | Path, what: str) -> R:
    """`data` validated as `model`, or an InterpError naming the file and the first fields."""
    check_version(data, path)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise InterpError(f"{path}: not a {what} ({validation_message(err)})") from None


class ResultsFile(Record):
    """A whole results file: its layout's version, and reading one back."""

    file_kind: ClassVar[str] = "results.json"  # what error messages call the file

    schema_version: int = SCHEMA_VERSION
    """The layout's version; files without it are version 1."""

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """The file validated, or an InterpError naming it and the fields that do not fit."""
        return parse(cls, read_json(path), path, cls.file_kind)
