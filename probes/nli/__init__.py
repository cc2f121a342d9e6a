"""Synthetic NLI benchmark with lexical-overlap and negation shortcuts, and real-data readers."""

from probes.nli.generate import (
    BINARY,
    HEURISTICS,
    SUITES,
    THREE_WAY,
    NLIBenchmark,
    NLIConfig,
    generate,
    nli_tokenizer,
    to_binary,
)
from probes.nli.readers import accuracy_table, read_hans, read_mnli

__all__ = [
    "BINARY",
    "HEURISTICS",
    "SUITES",
    "THREE_WAY",
    "NLIBenchmark",
    "NLIConfig",
    "accuracy_table",
    "generate",
    "nli_tokenizer",
    "read_hans",
    "read_mnli",
    "to_binary",
]
