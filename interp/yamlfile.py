"""YAML read strictly and within bounds: a duplicated key is an error (not the last value kept
silently), and a document's size, its number of aliases and the size it expands to (every
alias counted as a copy of its anchor) are limited, so that a document of nested aliases
cannot expand into memory or time without end."""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 4 * 2**20  # a manifest is a few kilobytes; read_text_bounded refuses larger files
MAX_ALIASES = 256
MAX_EXPANDED_NODES = 200_000  # values once every alias is expanded


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys and counts aliases."""

    def __init__(self, stream):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name)", mark
                )
        return super().compose_node(parent, index)

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None and expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"it expands to more than {MAX_EXPANDED_NODES} values (nested aliases)",
                node.start_mark,
            )
        return node


def expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values `node` stands for once every alias is expanded (capped just above
    MAX_EXPANDED_NODES); a recursive alias counts as too many."""
    key = id(node)
    if key in memo:
        if memo[key] < 0:  # reached again while being counted: a recursive alias
            return MAX_EXPANDED_NODES + 1
        return memo[key]
    memo[key] = -1
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    for child in children:
        total = min(total + expanded_size(child, memo), MAX_EXPANDED_NODES + 1)
    memo[key] = total
    return total


def _unique_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: the constructor below names it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"duplicate key '{key}'",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml(text: str) -> Any:
    """The document in `text`; yaml.YAMLError for a duplicate key or too many aliases. Its
    size is bounded where the file is read, before reading (MAX_BYTES,
    `interp.io.read_text_bounded`)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
