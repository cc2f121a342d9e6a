"""The control examples a circuit's specificity is measured on, chosen through the task registry:
in-distribution inputs (also the reference of the mean ablation) and the minimal pairs of every
other bias type of the task."""

from __future__ import annotations

from dataclasses import dataclass, field

from interp.contrast import contrast_pairs
from interp.errors import NotAnalysable
from interp.inputs import encode_examples
from interp.models import Batch, HookedClassifier
from interp.specificity import ExampleSet
from probes.tasks import get_task

IN_DISTRIBUTION = "in_distribution"
N_REFERENCE = 256  # in-distribution examples: the mean-ablation reference and a control


@dataclass
class Controls:
    """In-distribution inputs (the reference of the mean ablation) and control examples by
    name."""

    reference: Batch
    examples: dict[str, ExampleSet] = field(default_factory=dict)


def control_suites(task: str, suite: str) -> list[str]:
    """For each bias type of the task that `suite` does not measure, its first analysed suite."""
    spec = get_task(task)
    own = {name for name, suites in spec.bias_types.items() if suite in suites}
    chosen = []
    for name, suites in spec.bias_types.items():
        if name in own:
            continue
        analysed = [s for s in suites if s in spec.analysed] or list(suites)
        chosen += [s for s in analysed[:1] if s not in chosen and s != suite]
    return chosen


def build_controls(
    model: HookedClassifier, task: str, benchmark, suite: str, n_pairs: int
) -> Controls:
    """The controls of a circuit found on `suite` for this model (its own tokenization)."""
    every = benchmark.suites[IN_DISTRIBUTION].examples
    in_distribution = every[:: max(1, len(every) // N_REFERENCE)][:N_REFERENCE]
    try:
        encoded = encode_examples(model, in_distribution)
        examples = {IN_DISTRIBUTION: ExampleSet(encoded.batch, encoded.label_ids, None)}
    except NotAnalysable:  # labels the model cannot express: a reference, not a control
        encoded = encode_examples(model, in_distribution, with_labels=False)
        examples = {}
    for name in control_suites(task, suite):
        try:
            pairs = contrast_pairs(model, benchmark.suites[name], n_pairs)
        except NotAnalysable:  # no usable minimal pair in this model's labels: no such control
            continue
        examples[name] = ExampleSet(pairs.clean, pairs.gold, pairs.foil)
    return Controls(encoded.batch, examples)


def manifest_controls(manifest, model_id: str, model: HookedClassifier, suite: str, n_pairs: int):
    """`build_controls` for a manifest entry: its task and the benchmark of its data settings."""
    entry = manifest.entry(model_id)
    benchmark = get_task(entry.task).benchmark(manifest.data_for(entry))
    return build_controls(model, entry.task, benchmark, suite, n_pairs)
