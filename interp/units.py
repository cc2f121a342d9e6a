"""Circuit units: attention heads and MLPs, whole or split by position.

A circuit is a set of units. At `node` granularity a unit is a head `a{layer}.h{head}` or an
MLP `m{layer}` at every position. At `position` granularity each of them is split in two: its
output at the first position (`@cls`: [CLS], where the classifier reads) and at every other
position (`@rest`), so that a circuit can keep a head where the decision is read and drop it
elsewhere. Masks over units are [circuit, layer, head, position class] for heads and
[circuit, layer, position class] for MLPs; a whole node covers both classes.

At `edge` granularity (pre-norm models, whose residual stream is a sum of the outputs before
it) a unit is an edge `sender->receiver`: a sender is the embeddings `embed`, a head or an MLP;
a receiver is a head's query, key or value input (`a2.h1.q`), an MLP's input (`m1`) or the
classifier's input (`logits`), and the sender lies earlier in the forward pass. The node an
edge belongs to (`base_node`) is its sender, whose output it carries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

Units = Literal["node", "position", "edge"]
UNITS: tuple[str, ...] = ("node", "position", "edge")
POSITIONS: tuple[str, ...] = ("cls", "rest")  # position classes: first position, the others
INPUTS: tuple[str, ...] = ("q", "k", "v")  # a head's inputs, each a receiver of edges

UNIT = re.compile(r"^(?:a(\d+)\.h(\d+)|m(\d+))(?:@(cls|rest))?$")
SENDER = re.compile(r"^(?:embed|a\d+\.h\d+|m\d+)$")
RECEIVER = re.compile(r"^(?:a\d+\.h\d+\.[qkv]|m\d+|logits)$")


NODE = re.compile(r"^(?:a(\d+)\.h(\d+)|m(\d+))$")


def head_name(layer: int, head: int) -> str:
    """The unit name of a head: `a{layer}.h{head}`."""
    return f"a{layer}.h{head}"


def mlp_name(layer: int) -> str:
    """The unit name of an MLP: `m{layer}`."""
    return f"m{layer}"


def parse_node(name: str) -> tuple[Literal["head", "mlp"], int, int | None]:
    """('head', layer, head) for `a<layer>.h<head>`, ('mlp', layer, None) for `m<layer>`; a
    ValueError for any other name."""
    match = NODE.match(name)
    if not match:
        raise ValueError(f"'{name}' is not a head (a<layer>.h<head>) or an MLP (m<layer>)")
    if match.group(3) is not None:
        return "mlp", int(match.group(3)), None
    return "head", int(match.group(1)), int(match.group(2))


def block_hook(layer: int, hook: str) -> str:
    """A block's hook point name: `blocks.{layer}.{hook}` (e.g. `attn.hook_z`)."""
    return f"blocks.{layer}.{hook}"


def check_units(units: str) -> None:
    if units not in UNITS:
        raise ValueError(f"unknown circuit units '{units}': {' or '.join(UNITS)}")


def unit_names(n_layers: int, n_heads: int, units: Units = "node") -> list[str]:
    """Every unit in forward order: a layer's heads, then its MLP (each split by position); for
    edges, by receiver in forward order, then by sender."""
    check_units(units)
    if units == "edge":
        return edge_names(n_layers, n_heads)
    suffixes = [""] if units == "node" else [f"@{p}" for p in POSITIONS]
    names = []
    for layer in range(n_layers):
        for suffix in suffixes:
            names += [head_name(layer, h) + suffix for h in range(n_heads)]
        names += [mlp_name(layer) + suffix for suffix in suffixes]
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
    """The head or MLP a unit belongs to: `a1.h2@cls` -> `a1.h2`; an edge's sender
    (`a0.h1->m1` -> `a0.h1`, `embed` for the embeddings)."""
    return name.split("->", 1)[0] if "->" in name else name.split("@", 1)[0]


def node_totals(scores: dict[str, float]) -> dict[str, float]:
    """Scores per head or MLP: units at positions summed into their node, edges into their
    sender (the embeddings left out), in first-seen order."""
    totals: dict[str, float] = {}
    for unit, value in scores.items():
        node = base_node(unit)
        if node != "embed":
            totals[node] = totals.get(node, 0.0) + value
    return totals


def with_node(unit: str, node: str) -> str:
    """The unit of another node at the same position class: (`a1.h2@cls`, `a0.h3`) ->
    `a0.h3@cls`."""
    _, _, suffix = unit.partition("@")
    return f"{node}@{suffix}" if suffix else node


def map_unit(unit: str, node_map) -> list[str]:
    """The units of another model that stand for `unit`, given `node_map(node) -> [nodes]` of
    that model: a node's or position unit's images, and for an edge every edge between an
    image of its sender and an image of its receiver's node (same input; the embeddings and
    logits map to themselves)."""
    if "->" not in unit:
        return [with_node(unit, node) for node in node_map(base_node(unit))]
    sender, receiver = unit.split("->")
    node, inp = _receiver_parts(receiver)
    senders = [sender] if sender == "embed" else node_map(sender)
    receivers = [node] if node == "logits" else node_map(node)
    return [f"{s}->{r}{inp}" for s in senders for r in receivers if earlier(s, r)]


def _receiver_parts(receiver: str) -> tuple[str, str]:
    """(node, ".q" / ".k" / ".v" or "") of a receiver name."""
    if receiver.count(".") == 2:
        node, inp = receiver.rsplit(".", 1)
        return node, f".{inp}"
    return receiver, ""


def units_of(name: str) -> str:
    """The granularity a unit name belongs to."""
    if "->" in name:
        return "edge"
    return "position" if "@" in name else "node"


def _rank(node: str) -> float:
    """Order in the forward pass: embed < a0 < m0 < a1 < ... < logits."""
    if node == "embed":
        return -1.0
    if node == "logits":
        return float("inf")
    base = node.split(".")[0]
    return int(base[1:]) + (0.5 if base.startswith("m") else 0.0)


def earlier(sender: str, receiver: str) -> bool:
    """Whether `sender` comes before `receiver` (a node, or a receiver such as `a2.h1.q`) in
    the forward pass."""
    return _rank(sender) < _rank(receiver)


def senders(n_layers: int, n_heads: int) -> list[str]:
    """Every edge sender in forward order: the embeddings, then each layer's heads and MLP."""
    return ["embed", *unit_names(n_layers, n_heads, "node")]


def receivers(n_layers: int, n_heads: int) -> list[str]:
    """Every edge receiver in forward order: each layer's head inputs (all queries, then keys,
    then values), its MLP, and finally the classifier's input."""
    names = []
    for layer in range(n_layers):
        for inp in INPUTS:
            names += [f"{head_name(layer, h)}.{inp}" for h in range(n_heads)]
        names.append(f"m{layer}")
    return [*names, "logits"]


def edge_names(n_layers: int, n_heads: int) -> list[str]:
    """Every edge (sender earlier than the receiver's node), by receiver then sender."""
    return [
        f"{s}->{r}"
        for r in receivers(n_layers, n_heads)
        for s in senders(n_layers, n_heads)
        if earlier(s, _receiver_parts(r)[0])
    ]


def parse_edge(name: str) -> tuple[str, str]:
    """(sender, receiver) of an edge name; a ValueError for any other name."""
    sender, arrow, receiver = name.partition("->")
    if not arrow or not SENDER.match(sender) or not RECEIVER.match(receiver):
        raise ValueError(
            f"'{name}' is not an edge (sender->receiver: a sender embed, a<l>.h<h> or m<l>; a "
            "receiver a<l>.h<h>.q|k|v, m<l> or logits)"
        )
    if not earlier(sender, _receiver_parts(receiver)[0]):
        raise ValueError(f"edge '{name}': the sender does not come before the receiver")
    return sender, receiver


def edge_ends(name: str) -> tuple[str, str]:
    """(sender, receiver's node) of an edge: `a0.h1->a1.h2.q` -> (`a0.h1`, `a1.h2`)."""
    sender, receiver = parse_edge(name)
    return sender, _receiver_parts(receiver)[0]


def edge_masks(n_layers: int, n_heads: int, circuits: Sequence[Sequence[str]]) -> Tensor:
    """[circuit, sender, receiver] boolean masks of the edges in each circuit (axes ordered as
    `senders` and `receivers`)."""
    sender_index = {n: i for i, n in enumerate(senders(n_layers, n_heads))}
    receiver_index = {n: i for i, n in enumerate(receivers(n_layers, n_heads))}
    masks = torch.zeros(len(circuits), len(sender_index), len(receiver_index), dtype=torch.bool)
    for i, edges in enumerate(circuits):
        for name in edges:
            sender, receiver = parse_edge(name)
            if sender not in sender_index or receiver not in receiver_index:
                raise ValueError(
                    f"'{name}' is not an edge of this model ({n_layers} layers of {n_heads} heads)"
                )
            masks[i, sender_index[sender], receiver_index[receiver]] = True
    return masks


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
    layer (and position class), MLPs across layers (within their position class); edges within
    the pair (sender's layer and kind, receiver's layer and kind)."""
    if "->" in name:
        sender, receiver = parse_edge(name)
        return ("edge", _group(sender), _group(_receiver_parts(receiver)[0]))
    kind, layer, _, position = parse_unit(name)
    return ("head", layer, position) if kind == "head" else ("mlp", position)


def _group(node: str) -> str:
    """A node's layer and kind: `a3` for any head of layer 3, `m3`, `embed` or `logits`."""
    return node.split(".")[0]


def output_hooks(n_layers: int) -> list[str]:
    """The hook names of every unit's output, in forward order: each layer's head outputs
    (`hook_z`) and MLP output."""
    names = []
    for layer in range(n_layers):
        names += [block_hook(layer, "attn.hook_z"), block_hook(layer, "hook_mlp_out")]
    return names
