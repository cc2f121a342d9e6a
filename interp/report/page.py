"""The study report: one self-contained HTML page (plotly.js inlined once) from results.json data.

Every string that comes from data (model ids, probe text, component names) is escaped, in
tables here and in figures (interp.report.figures).
"""

from __future__ import annotations

from pathlib import Path

from interp.diff import CARRIES
from interp.io import atomic_write_text
from interp.report import figures as fg
from interp.report.definitions import DEFINITIONS
from interp.report.figures import esc, number
from interp.report.verdicts import (
    circuit_sentences,
    circuit_status,
    cross_faithfulness_text,
    mechanism_sentence,
)
from interp.report.where import verdict_lines, where_section
from interp.results import (
    ComparisonResult,
    Correspondence,
    ModelAnalysis,
    SeedConsistency,
    StudyResults,
    SuiteResult,
)
from interp.results.study import Distillability

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 2em; }
.summary li { margin: 0.3em 0; } .muted { color: #777; }
dl.definitions dt { font-weight: bold; margin-top: 0.6em; }
dl.definitions dd { margin-left: 1.5em; }
"""


def _format(value) -> str:
    """Numbers to three decimals; undefined values (None, NaN) as n/a, never as 0."""
    if isinstance(value, float):
        return number(value, 3)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "n/a" if value is None else str(value)


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """An HTML table of dict rows; text cells left-aligned; every cell escaped."""
    if not rows:
        return '<p class="muted">(none)</p>'
    columns = columns or list(rows[0])
    head = "".join(f'<th class="text">{esc(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            kind = "" if isinstance(value, (int, float)) else ' class="text"'
            cells.append(f"<td{kind}>{esc(_format(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


class Figures:
    """Figure HTML with stable div ids; plotly.js goes inline with the first figure only."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, figure) -> str:
        self.count += 1
        return figure.to_html(
            full_html=False,
            include_plotlyjs=self.count == 1,
            div_id=f"figure-{self.count}",
            config={"displaylogo": False},
        )


# The figures of one distillability row that every report shows, in this order.
DISTILLABILITY_FIGURES = [
    "teacher_mean",
    "student_mean",
    "baseline_mean",
    "D_mean",
    "D_ci_low",
    "D_ci_high",
    "C_mean",
    "C_ci_low",
    "C_ci_high",
    "seeds",
]


def distillability_rows(rows: list[Distillability]) -> list[dict]:
    """Table rows of the figures every report shows."""
    columns = ["group", "bias_type", *DISTILLABILITY_FIGURES]
    return [{c: getattr(r, c) for c in columns} for r in rows]


def _suite_rows(results: StudyResults) -> list[dict]:
    """Accuracy per model (rows, in study order) and suite (columns)."""
    rows: dict[str, dict] = {m: {"model": m} for m in results.models}
    for r in results.accuracy.suites:
        rows.setdefault(r.model, {"model": r.model})[r.suite] = r.accuracy
    return list(rows.values())


def _gap(analysis: ModelAnalysis) -> float:
    return analysis.clean_metric - analysis.corrupt_metric


def student_names(nodes: list[str], to_teacher: dict[str, str]) -> str:
    """Student components in their own names, each with its teacher match: `a1.h2 (~a2.h5)`."""
    return ", ".join(f"{n} (~{to_teacher[n]})" if n in to_teacher else n for n in nodes) or "none"


def _seed_note(consistency: SeedConsistency) -> str:
    n, seeds = consistency.n_seeds, consistency.seeds
    if n == 0:
        return "the teacher separates the pairs in no seed"
    if n == 1:
        which = "one unseeded run" if seeds[0] is None else f"seed {seeds[0]} only"
        note = f"{which}: one seed is an anecdote"
    else:
        note = (
            f"components found in at least {consistency.threshold} of {n} seeds "
            f"({', '.join(str(s) for s in seeds)})"
        )
    skipped = consistency.skipped_seeds
    if skipped:
        left_out = ", ".join(str(s) for s in skipped)
        word = "seed" if len(skipped) == 1 else "seeds"
        note += f"; {word} {left_out} left out: the teacher does not separate the pairs there"
    return note


def d_sentence(row: Distillability) -> str:
    """`distillability D = -0.48 [-0.62, -0.39] over 3 seed(s) (the verdict)` of a
    distillability row."""
    d, low, high = row.D_mean, row.D_ci_low, row.D_ci_high
    if high < 0:
        verdict = "the student lost part of the teacher's robustness"
    elif low > 0:
        verdict = "the student is more robust than the teacher"
    else:
        verdict = "no clear difference: the interval contains 0"
    seeds = row.seeds
    return f"distillability D = {d:+.3f} [{low:+.3f}, {high:+.3f}] over {seeds} seed(s) ({verdict})"


def _answer_section(results: StudyResults, figures: "Figures") -> str:
    """The first screen: per bias type, the teacher's, KD student's and non-KD student's
    accuracy on bias-conflicting examples, and D's verdict per comparison."""
    rows = [r for r in results.distillability if r.D_mean is not None]
    if not rows:
        return '<p class="muted">No comparison with a KD student to answer from.</p>'
    reference = {r.bias_type: r.teacher_mean for r in rows if r.group == "erm"}
    sentences = "".join(
        f"<li>{esc(r.group)} / {esc(r.bias_type)}: {esc(d_sentence(r))}</li>" for r in rows
    )
    return (
        '<div class="answer">'
        + figures.html(fg.answer_figure(rows, reference))
        + f'<ul class="summary">{sentences}</ul></div>'
    )


def _mechanism_section(results: StudyResults, figures: "Figures") -> str:
    """Per comparison and suite (first analysed seed), the diff judged by function: both
    directions of cross-faithfulness and the verdict."""
    rows, sentences = [], []
    for comparison in _first_seed_comparisons(results):
        for suite, part in comparison.suites.items():
            extra = part.diff.extra
            row = {"group": comparison.group, "suite": suite, "verdict": extra.mechanism.verdict}
            for key in ("teacher_circuit_on_student", "student_circuit_on_teacher"):
                row[key] = getattr(extra.cross_faithfulness, key)
                row[f"{key}_interval"] = list(getattr(extra.cross_faithfulness_interval, key))
            rows.append(row)
            sentence = mechanism_sentence(part.diff)
            sentences.append(f"<li>{esc(comparison.id)} on {esc(suite)}: {esc(sentence)}</li>")
    if not rows:
        return '<p class="muted">No comparison was analysed.</p>'
    return (
        figures.html(fg.mechanism_figure(rows, CARRIES))
        + f'<ul class="summary">{"".join(sentences)}</ul>'
    )


def summary_lines(results: StudyResults) -> list[str]:
    """Plain sentences of the main findings, computed from the results.

    Circuit findings name only components found in a majority of the analysed seeds (see
    `interp.seeds`); student components are named as the student's own, teacher match beside.
    """
    lines = []
    for row in results.distillability:
        if row.D_mean is None:
            continue
        lines.append(
            f"{row.group} / {row.bias_type}: teacher {row.teacher_mean:.3f}, "
            f"KD student {row.student_mean:.3f} on bias-conflicting examples; "
            f"{d_sentence(row)}."
        )
    lines += verdict_lines(results.comparisons)
    by_group: dict[str, list[ComparisonResult]] = {}
    for comparison in results.comparisons:
        by_group.setdefault(comparison.group, []).append(comparison)
        for suite, why in comparison.skipped.items():
            lines.append(f"{comparison.id} on {suite}: not analysed ({why}).")
    for consistency in results.seed_consistency:
        group, suite = consistency.group, consistency.suite
        parts = [p.suites[suite] for p in by_group.get(group, []) if suite in p.suites]
        teacher_gap = sum(_gap(p.teacher) for p in parts) / max(len(parts), 1)
        student_gap = sum(_gap(p.student) for p in parts) / max(len(parts), 1)
        gaps = (
            f"logit-difference gap on the same pairs: teacher {teacher_gap:+.2f}, student "
            f"{student_gap:+.2f} (mean over seeds)"
        )
        if consistency.n_seeds == 0:
            lines.append(
                f"{group} on {suite}: the teacher barely tells clean from corrupt in any seed, so "
                f"there is no circuit to compare; {gaps}."
            )
            continue
        lines.append(control_line(group, suite, parts))
        matches = consistency.student.teacher_match
        lines.append(
            f"{group} on {suite} ({_seed_note(consistency)}): teacher circuit"
            f"{_not_a_finding([p.teacher for p in parts])} "
            f"{', '.join(consistency.teacher.robust) or 'none'} (stability "
            f"{number(consistency.teacher.stability)}); student circuit"
            f"{_not_a_finding([p.student for p in parts])} "
            f"{student_names(consistency.student.robust, matches)} (stability "
            f"{number(consistency.student.stability)}); teacher-only "
            f"{', '.join(consistency.teacher_only.robust) or 'none'}; {gaps}."
        )
    return lines


def _status_counts(analyses: list[ModelAnalysis]) -> str:
    statuses = [circuit_status(a) for a in analyses]
    specific = [
        a.specificity.specific
        for a in analyses
        if a.specificity is not None and a.specificity.specific is not None
    ]
    words = {
        "finding": "beats chance",
        "distributed": "beats chance but is distributed",
        "chance": "does not beat chance",
        "no behaviour": "has no behaviour to carry",
        "unchecked": "was not compared with chance",
    }
    counts = [f"{words[k]} in {statuses.count(k)}" for k in words if statuses.count(k)]
    text = ", ".join(counts)
    if specific:
        text += f"; specific in {sum(specific)} of {len(specific)}"
    return text


def _not_a_finding(analyses: list[ModelAnalysis]) -> str:
    """A warning when no seed's circuit is a finding (it fails chance or is distributed)."""
    statuses = {circuit_status(a) for a in analyses} - {"no behaviour"}
    if not statuses or "finding" in statuses or statuses == {"unchecked"}:
        return ""
    return " (not a finding in any seed: distributed or not above chance)"


def control_line(group: str, suite: str, parts: list[SuiteResult]) -> str:
    """Per comparison and suite over its seeds: the mechanism verdicts, and how the teacher's
    and the student's circuits fared against chance and on controls."""
    verdicts = [p.diff.extra.mechanism.verdict if p.diff.extra else "not judged" for p in parts]
    counted = ", ".join(f"{v} in {verdicts.count(v)}" for v in dict.fromkeys(verdicts))
    return (
        f"{group} on {suite}, judged by function over {len(parts)} seed(s): mechanism {counted}; "
        f"the teacher's circuit {_status_counts([p.teacher for p in parts])}; the student's "
        f"{_status_counts([p.student for p in parts])}."
    )


def _circuit_row(role: str, a: ModelAnalysis) -> dict:
    spec = a.specificity
    return {
        "model": a.model,
        "role": role,
        "clean logit diff": a.clean_metric,
        "corrupt logit diff": a.corrupt_metric,
        "ranked by": a.attribution_method
        if a.ranking != "exact"
        else "exact (unreliable attribution)",
        "Spearman with exact patching": a.spearman,
        "circuit size": f"{len(a.circuit.nodes)} {a.units} units",
        "circuit faithfulness": a.circuit.meta.faithfulness,
        "chance p-value": a.chance.p_value if a.chance else None,
        "status": circuit_status(a),
        "control / target damage": spec.ratio if spec else None,
        "specific": spec.specific if spec else None,
        "CPR": a.curve.mib.cpr,
        "CMD": a.curve.mib.cmd,
    }


def _comparison_section(comparison: ComparisonResult, figures: Figures) -> str:
    parts = [
        f'<h2 id="pair-{esc(comparison.id)}">Comparison {esc(comparison.id)}: '
        f"{esc(comparison.teacher)} &rarr; {esc(comparison.student)}</h2>"
    ]
    for suite, why in comparison.skipped.items():
        parts.append(f'<p class="muted">{esc(suite)}: not analysed ({esc(why)}).</p>')
    for suite, part in comparison.suites.items():
        parts += _suite_section(suite, part, figures)
    return "\n".join(parts)


def _suite_section(suite: str, part: SuiteResult, figures: Figures) -> list[str]:
    """A comparison on one suite: its circuits, their diff, curves, heads and an example."""
    teacher, student, selection = part.teacher, part.student, part.selection
    parts = [
        f"<h3>{esc(suite)} ({teacher.n_pairs} minimal pairs: {esc(selection.rule)};"
        f" the teacher separates {esc(selection.separated_by_teacher)} of the suite's"
        f" pairs by at least {esc(selection.min_separation)} logits)</h3>",
        table([_circuit_row(role, a) for role, a in (("teacher", teacher), ("student", student))]),
        f"<p><b>{esc(mechanism_sentence(part.diff))}</b></p>",
    ]
    for role, a in (("teacher", teacher), ("student", student)):
        sentences = "; ".join(circuit_sentences(a))
        parts.append(f'<p class="muted">{esc(role)} {esc(a.model)}: {esc(sentences)}.</p>')
    parts += _circuit_figures(part, figures)
    parts += ["<h4>Circuit diff</h4>", _layer_map_line(part.diff.extra.correspondence)]
    parts.append(table([_diff_row(part)]))
    if part.guidance:
        parts.append(
            f"<h4>Circuit guidance ({esc(part.guidance.kind)}, the teacher circuit found on "
            f"{esc(part.guidance.suite)}): did the assigned components take the role?</h4>"
        )
        parts.append(table([row.model_dump(by_alias=True) for row in part.guidance.assigned]))
    extra = part.diff.extra
    names = {"teacher": teacher.model, "student": student.model}
    curves = {"teacher": extra.curves.teacher, "student": extra.curves.student}
    parts += [
        "<h4>Faithfulness curves</h4>",
        figures.html(fg.faithfulness_figure(curves, names)),
        "<h4>Diverging heads (matched pairs, most different attention first)</h4>",
        table([row.model_dump() for row in extra.diverging_heads[:10]]),
    ]
    return parts + _attention_example(part, figures)


def _circuit_figures(part: SuiteResult, figures: Figures) -> list[str]:
    """Both models' head attribution side by side, then each circuit (or why none is drawn)."""
    teacher, student = part.teacher, part.student
    node_map = part.diff.extra.correspondence.node_map
    parts = [
        f"<h4>Head attribution ({esc(teacher.attribution_method)}), side by side and "
        "difference</h4>",
        figures.html(fg.attribution_heatmaps(teacher, student, node_map)),
        "<h4>Circuits</h4>",
    ]
    for analysis in (teacher, student):
        status = circuit_status(analysis)
        if status in ("finding", "unchecked"):
            parts.append(figures.html(fg.circuit_figure(analysis)))
        else:
            parts.append(
                f'<p class="muted">{esc(analysis.model)}: no circuit drawn; '
                f"{esc(STATUS_WHY[status])}.</p>"
            )
    return parts


def _diff_row(part: SuiteResult) -> dict:
    """The circuit diff in one table row: structure in teacher names, then function."""
    diff, extra = part.diff, part.diff.extra
    to_teacher = diff.student_in_teacher_names
    student_circuit = part.student.circuit.nodes
    student_only = [n for n in student_circuit if to_teacher.get(n) in diff.student_only]
    return {
        "shared (teacher)": diff.shared,
        "teacher only": diff.teacher_only,
        "student circuit (~teacher match)": student_names(student_circuit, to_teacher),
        "student only (~teacher match)": student_names(student_only, to_teacher),
        "weighted overlap": diff.weighted_overlap,
        "teacher circuit on student": cross_faithfulness_text(extra, "teacher_circuit_on_student"),
        "student circuit on teacher": cross_faithfulness_text(extra, "student_circuit_on_teacher"),
    }


def _attention_example(part: SuiteResult, figures: Figures) -> list[str]:
    example = part.attention_example
    if example is None:
        return []
    if example.kind == "image":
        return [
            "<h4>Attention of a circuit head and its student match over the image</h4>",
            figures.html(fg.image_attention_figure(example)),
        ]
    return [
        "<h4>Attention of a circuit head and its student match</h4>",
        figures.html(fg.attention_figure(example)),
    ]


STATUS_WHY = {
    "no behaviour": "the model does not tell clean from corrupt inputs apart, so faithfulness "
    "is undefined",
    "chance": "its circuit does not beat random circuits of the same shape",
    "distributed": "its smallest faithful circuit takes more than a quarter of the units: the "
    "behaviour is distributed",
}


LAYER_MAP_RULES = {
    "init": "the teacher layers the student was copied from",
    "guided": "the teacher layers the student's circuit guidance assigned it",
    "behaviour": "the order-preserving map under which heads match best",
    "depth": "relative depth",
}


def _arrows(mapping: dict) -> str:
    return ", ".join(f"{k} → {v}" for k, v in sorted(mapping.items(), key=lambda kv: int(kv[0])))


def _layer_map_line(correspondence: Correspondence) -> str:
    maps = correspondence.extra
    rule = maps.layer_map_rule if maps else "behaviour"
    chosen = _arrows(correspondence.layer_map)
    others = [
        f"by {other} {_arrows(getattr(maps, f'{other}_layer_map'))}"
        for other in ("behaviour", "depth")
        if maps and other != rule and getattr(maps, f"{other}_layer_map")
    ]
    note = f" (other maps: {'; '.join(others)})" if others else ""
    return (
        f"<p>Student layer → teacher layer: {esc(chosen)}, by "
        f"{esc(LAYER_MAP_RULES.get(rule, rule))}{esc(note)}.</p>"
    )


def definitions_html() -> str:
    items = "".join(f"<dt>{esc(term)}</dt><dd>{esc(text)}</dd>" for term, text in DEFINITIONS)
    return f'<dl class="definitions">{items}</dl>'


def _seed_rows(consistency: SeedConsistency, role: str) -> list[dict]:
    """Per component: in how many of the counted seeds it is in the role's circuit."""
    counts = getattr(consistency, role).counts
    only = consistency.teacher_only.counts if role == "teacher" else {}
    match = consistency.student.teacher_match if role == "student" else {}
    n = consistency.n_seeds
    rows = []
    for node, k in counts.items():
        row = {"component": node, "seeds in circuit": f"{k} of {n}"}
        if role == "teacher":
            row["seeds teacher-only"] = f"{only.get(node, 0)} of {n}"
        else:
            row["teacher match (most seeds)"] = match.get(node)
        row["finding"] = "yes" if k >= consistency.threshold else ""
        rows.append(row)
    return rows


def _consistency_section(consistency: SeedConsistency, figures: Figures) -> str:
    group, suite = consistency.group, consistency.suite
    parts = [
        f"<h3>{esc(group)} on {esc(suite)}: {esc(_seed_note(consistency))}</h3>",
        table(
            [
                {
                    "seed": r.seed,
                    "teacher circuit": r.teacher_circuit,
                    "teacher faithfulness": r.teacher_faithfulness,
                    "student circuit": r.student_circuit,
                    "student faithfulness": r.student_faithfulness,
                }
                for r in consistency.per_seed
            ]
        ),
    ]
    if consistency.n_seeds:
        parts.append(
            f"<p>Stability (mean Jaccard over pairs of seeds): teacher "
            f"{esc(number(consistency.teacher.stability))}, student "
            f"{esc(number(consistency.student.stability))}.</p>"
        )
        parts.append(figures.html(fg.seed_consistency_figure(consistency)))
        for role in ("teacher", "student"):
            parts.append(f"<h4>{role} circuit components across seeds</h4>")
            parts.append(table(_seed_rows(consistency, role)))
    return "\n".join(parts)


def _first_seed_comparisons(results: StudyResults) -> list[ComparisonResult]:
    """Each comparison in its first analysed seed: the detailed sections."""
    seen, first = set(), []
    for comparison in results.comparisons:
        if comparison.group not in seen:
            seen.add(comparison.group)
            first.append(comparison)
    return first


def render(results: StudyResults) -> str:
    figures = Figures()
    seeds = ", ".join(str(s) for s in results.seeds)
    body = [
        f"<h1>Do students debias like teachers? Study {esc(results.run)}</h1>",
        f'<details class="muted"><summary>seeds {esc(seeds)}, device {esc(results.device)}, '
        f"{len(results.models)} models</summary>{esc(', '.join(results.models))}</details>",
        '<h2 id="answer">Does the student keep the teacher\'s robustness?</h2>',
        _answer_section(results, figures),
        '<h2 id="where">Where is the robustness lost?</h2>',
        where_section(results.comparisons, _first_seed_comparisons(results), figures),
        '<h2 id="mechanism">Is the circuit shared? (supporting evidence; first seed of each '
        "comparison)</h2>",
        _mechanism_section(results, figures),
        '<h2 id="summary">Summary</h2>',
        '<ul class="summary">'
        + "".join(f"<li>{esc(line)}</li>" for line in summary_lines(results))
        + "</ul>",
        '<h2 id="distillability">Distillability</h2>',
        "<p>Accuracy M on bias-conflicting examples; D = M(KD student) - M(teacher), C = "
        "M(KD student) - M(non-KD student); 95% intervals resample seeds and examples (terms "
        'defined <a href="#definitions">below</a>).</p>',
        table(distillability_rows(results.distillability)),
        '<h2 id="accuracy">Accuracy by heuristic and subcase</h2>',
        figures.html(fg.accuracy_figure(results.accuracy.subcases, results.roles)),
        table(_suite_rows(results)),
        '<h2 id="seeds">Circuits across seeds</h2>',
    ]
    body += [_consistency_section(c, figures) for c in results.seed_consistency]
    body.append('<p class="muted">The sections below show each comparison in its first seed.</p>')
    body += [
        _comparison_section(comparison, figures) for comparison in _first_seed_comparisons(results)
    ]
    return html_page(results.run, body)


def html_page(title: str, body: list[str]) -> str:
    """A self-contained page: the style, the body, and the definitions of its terms."""
    body = [*body, '<h2 id="definitions">Definitions</h2>', definitions_html()]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def write_report(results, out_dir: str | Path, render_page=None) -> Path:
    """Write index.html (`render_page(results)`, the study page by default) into `out_dir`
    atomically and return its path."""
    path = Path(out_dir) / "index.html"
    atomic_write_text(path, (render_page or render)(results))
    return path
