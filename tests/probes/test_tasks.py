"""The task registry holds what is task-specific: the analysis reads cue words and finer
labels through it, never from a task's own modules."""

from interp.contrast import model_label
from probes.core import Example
from probes.nli.lexicon import NEGATION_WORDS
from probes.nli.templates import TEMPLATES
from probes.tasks import cue_words, finer_labels, get_task


def test_cue_words_and_finer_labels_come_from_the_registered_tasks():
    assert set(cue_words()) == set(NEGATION_WORDS) and get_task("digits").cue_words == ()
    name, template = next((n, t) for n, t in TEMPLATES.items() if t.label != "entailment")
    common = dict(suite="s", heuristic="h", subcase="c", bias_type="overlap", bias_aligned=False)
    binary = Example(
        id="x", premise="a", hypothesis="b", label="non-entailment", template=name, **common
    )
    assert finer_labels(binary) == [template.label]
    assert model_label(binary, ["entailment", "neutral", "contradiction"]) == template.label
    assert model_label(binary, ["entailment", "non-entailment"]) == "non-entailment"
    plain = Example(id="y", premise="a", hypothesis="b", label="entailment", **common)
    assert finer_labels(plain) == []


def test_the_analysis_modules_reach_a_task_only_through_the_registry():
    import ast
    from pathlib import Path

    from tests.test_layering import ANALYSIS

    root = Path(__file__).resolve().parents[2]
    offenders = []
    paths = []
    for module in ANALYSIS:  # a module's file, or every file of a package
        base = root / module.replace(".", "/")
        paths += sorted(base.glob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    for path in paths:
        module = path.relative_to(root).with_suffix("").as_posix().replace("/", ".")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                ("probes.nli", "probes.vision")
            ):
                offenders.append(f"{module}: {node.module}")
    assert offenders == [], offenders
