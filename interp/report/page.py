"""The study report: one self-contained HTML page (plotly.js inlined once) from results.json data.

Every string that comes from data (model ids, probe text, component names) is escaped, in
tables here and in figures (interp.report.figures).
"""

from __future__ import annotations

import math
from pathlib import Path

from interp.io import atomic_write_text
from interp.report import figures as fg
from interp.report.figures import esc

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 2em; }
.summary li { margin: 0.3em 0; } .muted { color: #777; }
"""


def _format(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


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


class _Figures:
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


def _distillability_rows(results: dict) -> list[dict]:
    columns = [
        "group",
        "bias_type",
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
    return [{c: r.get(c) for c in columns if c in r} for r in results["distillability"]]


def _suite_rows(results: dict) -> list[dict]:
    """Accuracy per model (rows, in study order) and suite (columns)."""
    rows: dict[str, dict] = {m: {"model": m} for m in results["models"]}
    for r in results["accuracy"]["suites"]:
        rows.setdefault(r["model"], {"model": r["model"]})[r["suite"]] = r["accuracy"]
    return list(rows.values())


def summary_lines(results: dict) -> list[str]:
    """Plain sentences of the main findings, computed from the results."""
    lines = []
    for row in results["distillability"]:
        d = row.get("D_mean")
        if d is None:
            continue
        verdict = "kept" if d >= -0.02 else "lost"
        lines.append(
            f"{row['group']} / {row['bias_type']}: teacher {row['teacher_mean']:.3f}, "
            f"KD student {row['student_mean']:.3f} on bias-conflicting examples; distillability "
            f"D = {d:+.3f} (the student {verdict} the teacher's robustness)."
        )
    for pair in results["pairs"]:
        for suite, part in pair["suites"].items():
            diff = part["diff"]
            top = diff["extra"]["diverging_heads"][:3]
            heads = ", ".join(f"{r['student']}~{r['teacher']}" for r in top)
            teacher, student = part["teacher"], part["student"]
            gaps = [a["clean_metric"] - a["corrupt_metric"] for a in (teacher, student)]
            if teacher["circuit"]["meta"].get("faithfulness") is None:
                lines.append(
                    f"{pair['id']} on {suite}: the teacher barely tells clean from corrupt "
                    f"(logit-difference gap {gaps[0]:+.2f}, student {gaps[1]:+.2f}), so there is "
                    f"no circuit to compare; most divergent heads {heads}."
                )
                continue
            lines.append(
                f"{pair['id']} on {suite}: circuits share {len(diff['shared'])} components "
                f"(weighted overlap {diff['weighted_overlap']:.2f}); teacher-only "
                f"{', '.join(diff['teacher_only']) or 'none'}; student-only "
                f"{', '.join(diff['student_only']) or 'none'}; logit-difference gap teacher "
                f"{gaps[0]:+.2f}, student {gaps[1]:+.2f} on the same pairs; most divergent "
                f"heads {heads}."
            )
    return lines


def _pair_section(pair: dict, figures: _Figures) -> str:
    parts = [
        f'<h2 id="pair-{esc(pair["id"])}">Pair {esc(pair["id"])}: {esc(pair["teacher"])} '
        f"&rarr; {esc(pair['student'])}</h2>"
    ]
    for suite, part in pair["suites"].items():
        teacher, student, diff = part["teacher"], part["student"], part["diff"]
        extra = diff["extra"]
        selection = part.get("selection", {})
        parts.append(
            f"<h3>{esc(suite)} ({teacher['n_pairs']} minimal pairs: {esc(selection.get('rule'))};"
            f" the teacher separates {esc(selection.get('separated_by_teacher'))} of the suite's"
            f" pairs by at least {esc(selection.get('min_separation'))} logits)</h3>"
        )
        parts.append(
            table(
                [
                    {
                        "model": a["model"],
                        "role": role,
                        "clean logit diff": a["clean_metric"],
                        "corrupt logit diff": a["corrupt_metric"],
                        "attribution": a["attribution_method"],
                        "Spearman with exact patching": a["spearman"],
                        "circuit size": len(a["circuit"]["nodes"]),
                        "circuit faithfulness": a["circuit"]["meta"].get("faithfulness"),
                    }
                    for role, a in (("teacher", teacher), ("student", student))
                ]
            )
        )
        parts.append(
            f"<h4>Head attribution ({esc(teacher['attribution_method'])}), side by side and "
            "difference</h4>"
        )
        node_map = extra["correspondence"]["node_map"]
        parts.append(figures.html(fg.attribution_heatmaps(teacher, student, node_map)))
        parts.append("<h4>Circuits</h4>")
        parts.append(figures.html(fg.circuit_figure(teacher)))
        parts.append(figures.html(fg.circuit_figure(student)))
        parts.append("<h4>Circuit diff (student components in teacher names)</h4>")
        parts.append(_layer_map_line(extra["correspondence"]))
        cross = extra["cross_faithfulness"]
        parts.append(
            table(
                [
                    {
                        "shared": diff["shared"],
                        "teacher only": diff["teacher_only"],
                        "student only": diff["student_only"],
                        "weighted overlap": diff["weighted_overlap"],
                        "teacher circuit on student": cross["teacher_circuit_on_student"],
                        "student circuit on teacher": cross["student_circuit_on_teacher"],
                    }
                ]
            )
        )
        parts.append("<h4>Faithfulness curves</h4>")
        names = {"teacher": teacher["model"], "student": student["model"]}
        parts.append(figures.html(fg.faithfulness_figure(extra["curves"], names)))
        parts.append("<h4>Diverging heads (matched pairs, most different attention first)</h4>")
        parts.append(table(extra["diverging_heads"][:10]))
        example = part.get("attention_example")
        if example:
            parts.append("<h4>Attention of a circuit head and its student match</h4>")
            parts.append(figures.html(fg.attention_figure(example)))
    return "\n".join(parts)


LAYER_MAP_RULES = {
    "init": "the teacher layers the student was copied from",
    "behaviour": "the order-preserving map under which heads match best",
    "depth": "relative depth",
}


def _arrows(mapping: dict) -> str:
    return ", ".join(f"{k} → {v}" for k, v in sorted(mapping.items(), key=lambda kv: int(kv[0])))


def _layer_map_line(correspondence: dict) -> str:
    extra = correspondence.get("extra", {})
    rule = extra.get("layer_map_rule", "behaviour")
    chosen = _arrows(correspondence["layer_map"])
    others = [
        f"by {other} {_arrows(extra[f'{other}_layer_map'])}"
        for other in ("behaviour", "depth")
        if other != rule and extra.get(f"{other}_layer_map")
    ]
    note = f" (other maps: {'; '.join(others)})" if others else ""
    return (
        f"<p>Student layer → teacher layer: {esc(chosen)}, by "
        f"{esc(LAYER_MAP_RULES.get(rule, rule))}{esc(note)}.</p>"
    )


def render(results: dict) -> str:
    figures = _Figures()
    body = [
        f"<h1>Do students debias like teachers? Study {esc(results['run'])}</h1>",
        f'<p class="muted">seed {esc(results["seed"])}, device {esc(results["device"])}, '
        f"models: {esc(', '.join(results['models']))}</p>",
        "<h2>Summary</h2>",
        '<ul class="summary">'
        + "".join(f"<li>{esc(line)}</li>" for line in summary_lines(results))
        + "</ul>",
        "<h2>Distillability</h2>",
        "<p>Accuracy on bias-conflicting examples; D = student - teacher, C = student - "
        "non-KD student (BENCHMARK.md section 5).</p>",
        table(_distillability_rows(results)),
        "<h2>Accuracy by heuristic and subcase</h2>",
        figures.html(fg.accuracy_figure(results["accuracy"]["subcases"], results["roles"])),
        table(_suite_rows(results)),
    ]
    body += [_pair_section(pair, figures) for pair in results["pairs"]]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{esc(results['run'])}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def write_report(results: dict, out_dir: str | Path) -> Path:
    """Write index.html into `out_dir` (atomically) and return its path."""
    path = Path(out_dir) / "index.html"
    atomic_write_text(path, render(results))
    return path
