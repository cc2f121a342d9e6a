"""docs/results.md, generated from the results models: every field of a study's and a sweep's
results.json with its type and meaning. `python -m interp.results.doc` rewrites the page; a
test keeps it equal to what this module produces."""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from interp.results.record import SCHEMA_VERSION
from interp.results.study import EvaluationResults, StudyResults
from interp.results.sweep import SweepResults

PAGE = Path(__file__).resolve().parents[2] / "docs" / "results.md"

INTRO = f"""# results.json

What `interp study`, `interp sweep` and `interp eval` write, field by field (schema version
{SCHEMA_VERSION}). This page is generated from the typed models in `interp/results/` by
`python -m interp.results.doc`; a test keeps it equal to them. Read a study's or a sweep's
file with `interp.results.read_results(path)` (or `StudyResults.read`, `SweepResults.read`,
`EvaluationResults.read`): it is validated against these models, and a file written by a
newer toolkit is refused with a message. Files written before `schema_version` existed have
the same layout and read as version 1.

Conventions: `null` is an undefined number (no behaviour to measure, too few examples),
never 0. Keys of `dict[...]` fields are names (units as in docs/hooks.md: `a1.h2`, `m0`,
`a1.h2@cls`, `a0.h1->a1.h2.q`; suites; models). Layer maps are written with string keys.
Keys are sorted in the file.
"""


def type_name(annotation) -> str:
    """A field's type as the page shows it."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return " or ".join(f'"{a}"' for a in args)
    if origin in (list, tuple, dict):
        inner = ", ".join(type_name(a) for a in args if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation))


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models_in(a)]


def models_of(root: type[BaseModel]) -> list[type[BaseModel]]:
    """The root model and every model reachable from its fields, in first-seen order."""
    seen: list[type[BaseModel]] = []
    queue = [root]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            queue += _models_in(info.annotation)
    return seen


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def model_section(model: type[BaseModel]) -> list[str]:
    doc = _cell(model.__doc__ or "")
    lines = [f"### {model.__name__}", "", doc, ""] if doc else [f"### {model.__name__}", ""]
    lines += ["| field | type | meaning |", "|---|---|---|"]
    for name, info in model.model_fields.items():
        optional = "" if info.is_required() else " (optional)"
        if name in getattr(model, "optional_fields", ()):
            optional = " (may be absent)"
        lines.append(
            f"| `{info.alias or name}` | {type_name(info.annotation)}{optional} | "
            f"{_cell(info.description or '')} |"
        )
    if model.model_config.get("extra") == "allow":
        lines.append("| (more) | number or null | see above |")
    return [*lines, ""]


def page() -> str:
    out = [INTRO]
    done: set[type[BaseModel]] = set()
    roots = (
        ("A study's results.json (`interp study`)", StudyResults),
        ("A sweep's (`interp sweep`)", SweepResults),
        ("An evaluation's (`interp eval`)", EvaluationResults),
    )
    for title, root in roots:
        out += [f"## {title}", ""]
        for model in models_of(root):
            if model not in done:
                done.add(model)
                out += model_section(model)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    PAGE.write_text(page(), encoding="utf-8")
    sys.stdout.write(f"written to {PAGE}\n")
