"""Circuit units: attention heads and MLPs, whole or split by position.

A circuit is a set of units. At `node` granularity a unit is a head `a{layer}.h{head}` or an
MLP `m{layer}` at every position. At `position` granularity each of them is split in two: its
output at the first position (`@cls`: [CLS], where the classifier reads) and at every other
position (`@rest`), so that a circuit can keep a head where the decision is read and drop it
elsewhere. Masks over units are [circuit, layer, head, position class] for heads and
[circuit, layer, position class] for MLPs; a whole node covers both classes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

Units = Literal["node", "position"]
UNITS: tuple[str, ...] = ("node", "position")
POSITIONS: tuple[str, ...] = ("cls", "rest")  # position classes: first position, the others

UNIT = re.compile(r"^(?:a(\d+)\.h(\d+)|m(\d+))(?:@(cls|rest))?$")


def check_units(units: str) -> None:
    if units not in UNITS:
        raise ValueError(f"unknown circuit units '{units}': {' or '.join(UNITS)}")


def unit_names(n_layers: int, n_heads: int, units: Units = "node") -> list[str]:
    """Every unit in forward order: a layer's heads, then its MLP (each split by position)."""
    check_units(units)
    suffixes = [""] if units == "node" else [f"@{p}" for p in POSITIONS]
    names = []
    for layer in range(n_layers):
        for suffix in suffixes:
            names += [f"a{layer}.h{h}{suffix}" for h in range(n_heads)]
        names += [f"m{layer}{suffix}" for suffix in suffixes]
    return names


def parse_unit(name: str) -> tuple[Literal["head", "mlp"], int, int | None, str | None]:
    """(kind, layer, head or None, position class or None for a whole node)."""
    match = UNIT.match(name)
    if not match:
        raise ValueError(
            f"'{name}' is not a circuit unit (a<layer>.h<head> or m<layer>, optionally "
            "@cls or @rest)"
        )
    position = match.group(4)
    if match.group(3) is not None:
        return "mlp", int(match.group(3)), None, position
    return "head", int(match.group(1)), int(match.group(2)), position


def base_node(name: str) -> str:
    """The head or MLP a unit belongs to: `a1.h2@cls` -> `a1.h2`."""
    return name.split("@", 1)[0]


def node_totals(scores: dict[str, float]) -> dict[str, float]:
    """Scores per head or MLP: units at positions summed into their node, in first-seen order."""
    totals: dict[str, float] = {}
    for unit, value in scores.items():
        totals[base_node(unit)] = totals.get(base_node(unit), 0.0) + value
    return totals


def with_node(unit: str, node: str) -> str:
    """The unit of another node at the same position class: (`a1.h2@cls`, `a0.h3`) ->
    `a0.h3@cls`."""
    _, _, suffix = unit.partition("@")
    return f"{node}@{suffix}" if suffix else node


def units_of(name: str) -> str:
    """The granularity a unit name belongs to."""
    return "position" if "@" in name else "node"


def unit_masks(
    n_layers: int, n_heads: int, circuits: Sequence[Sequence[str]]
) -> tuple[Tensor, Tensor]:
    """Boolean masks of the units in each circuit: heads [circuit, layer, head, 2] and MLPs
    [circuit, layer, 2] (last axis: the position classes)."""
    heads = torch.zeros(len(circuits), n_layers, n_heads, len(POSITIONS), dtype=torch.bool)
    mlps = torch.zeros(len(circuits), n_layers, len(POSITIONS), dtype=torch.bool)
    for i, units in enumerate(circuits):
        for name in units:
            kind, layer, head, position = parse_unit(name)
            if layer >= n_layers or (head is not None and head >= n_heads):
                raise ValueError(
                    f"'{name}' is not a node of this model ({n_layers} layers of {n_heads} heads)"
                )
            where = slice(None) if position is None else POSITIONS.index(position)
            if kind == "head":
                heads[i, layer, head, where] = True
            else:
                mlps[i, layer, where] = True
    return heads, mlps


def position_classes(n_positions: int, device=None) -> Tensor:
    """[pos] index of each position's class: 0 at the first position, 1 elsewhere."""
    classes = torch.ones(n_positions, dtype=torch.long, device=device)
    classes[:1] = 0
    return classes


def strata(name: str) -> tuple:
    """The group a unit is exchanged within when a circuit's shape is kept: heads within their
    layer (and position class), MLPs across layers (within their position class)."""
    kind, layer, _, position = parse_unit(name)
    return ("head", layer, position) if kind == "head" else ("mlp", position)


def output_hooks(n_layers: int) -> list[str]:
    """The hook names of every unit's output, in forward order: each layer's head outputs
    (`hook_z`) and MLP output."""
    names = []
    for layer in range(n_layers):
        names += [f"blocks.{layer}.attn.hook_z", f"blocks.{layer}.hook_mlp_out"]
    return names
