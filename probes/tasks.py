"""The task registry: a task's name gives its benchmark generator, settings, labels and bias types.

Training, evaluation and the study ask this registry about a task; adding a task is one entry in
`TASKS`. Benchmarks are generated once per process and settings.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from probes.nli.generate import SUITES as NLI_SUITES
from probes.nli.generate import THREE_WAY, NLIConfig, generate, nli_tokenizer
from probes.nli.lexicon import NEGATION_WORDS
from probes.nli.templates import template_label
from probes.vision.digits import IMAGE_SIZE, LABELS, DigitsConfig, generate_digits
from probes.vision.digits import SUITES as DIGIT_SUITES


@dataclass(frozen=True)
class Task:
    """What the toolkit needs to know about one task.

    `bias_types` maps a bias type to the suites whose bias-conflicting examples measure it;
    `training_checks` are the suites reported at the end of training.
    """

    name: str
    modality: Literal["text", "vision"]
    settings: type  # a frozen dataclass of generator settings
    generator: Callable[[Any], Any]  # settings -> benchmark (.train, .suites, .augment)
    labels: tuple[str, ...]
    suites: tuple[str, ...]  # the evaluation suites the generator makes
    bias_types: dict[str, tuple[str, ...]]
    training_checks: tuple[str, ...]
    analysed: tuple[str, ...]  # the suites a study analyses by default (their minimal pairs)
    tokenizer: Callable[[], Any] | None = None  # text tasks: the vocabulary of the benchmark
    image_size: int | None = None  # vision tasks: square images of this side
    # text tasks: the words whose attention the head statistics track (NLI: negation words)
    cue_words: tuple[str, ...] = ()
    # an example's label in a finer scheme, for a model that lacks its own label (NLI: a HANS
    # "non-entailment" example read as its template's neutral or contradiction); None: none
    finer_label: Callable[[Any], str | None] | None = None

    def setting_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.settings)]

    def make_settings(self, values: Mapping[str, Any] | None = None):
        """The settings object; unknown names and bad values are a ValueError naming them."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.setting_names()))
        if unknown:
            raise ValueError(
                f"unknown {self.name} data setting(s) {unknown}; known: "
                f"{', '.join(self.setting_names())}"
            )
        return self.settings(**values)

    def benchmark(self, values: Mapping[str, Any] | None = None):
        """The generated benchmark for these settings (cached per process)."""
        return _benchmark(self.name, tuple(sorted(dict(values or {}).items())))


TASKS: dict[str, Task] = {
    "nli": Task(
        name="nli",
        modality="text",
        settings=NLIConfig,
        generator=generate,
        labels=tuple(THREE_WAY),
        suites=NLI_SUITES,
        bias_types={
            "overlap": ("lexical_overlap", "subsequence", "constituent"),
            "negation": ("negation",),
        },
        training_checks=("in_distribution", "lexical_overlap", "negation"),
        analysed=("lexical_overlap", "negation"),
        tokenizer=nli_tokenizer,
        cue_words=tuple(NEGATION_WORDS),
        finer_label=template_label,
    ),
    "digits": Task(
        name="digits",
        modality="vision",
        settings=DigitsConfig,
        generator=generate_digits,
        labels=tuple(LABELS),
        suites=DIGIT_SUITES,
        # Each bias type compares the held-out digits drawn in their own colour and slot with
        # those whose colour (or marker) points to another class.
        bias_types={
            "colour": ("aligned", "colour_conflicting"),
            "marker": ("aligned", "marker_conflicting"),
        },
        training_checks=("in_distribution", "colour_conflicting", "marker_conflicting"),
        analysed=("colour_conflicting", "marker_conflicting"),
        image_size=IMAGE_SIZE,
    ),
}


def get_task(name: str) -> Task:
    """The registered task `name`; an unknown name is a ValueError listing the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task '{name}'; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def check_suites(task: str, names) -> None:
    """A ValueError naming the suites that the task does not have, and the ones it has."""
    known = get_task(task).suites
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown {task} suite(s) {unknown}; suites: {', '.join(known)}")


def cue_words() -> tuple[str, ...]:
    """Every text task's cue words (`Task.cue_words`)."""
    return tuple(dict.fromkeys(w for task in TASKS.values() for w in task.cue_words))


def finer_labels(example) -> list[str]:
    """The finer labels the tasks give an example (`Task.finer_label`), most tasks none."""
    found = (task.finer_label(example) for task in TASKS.values() if task.finer_label)
    return [label for label in found if label is not None]


def all_bias_types() -> dict[str, tuple[str, ...]]:
    """Every task's bias types (names are unique across tasks)."""
    return {name: suites for task in TASKS.values() for name, suites in task.bias_types.items()}


@functools.lru_cache(maxsize=8)
def _benchmark(task: str, settings: tuple):
    spec = get_task(task)
    return spec.generator(spec.make_settings(dict(settings)))
