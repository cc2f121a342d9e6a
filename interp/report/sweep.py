"""The sweep report: distillability against the teacher/student size ratio and against the
training-set size, with the tables behind the figures; one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.io import atomic_write_text
from interp.report.definitions import DEFINITIONS
from interp.report.figures import esc
from interp.report.page import STYLE, Figures, table

COLUMNS = [
    "method",
    "bias_type",
    "teacher",
    "student",
    "train_size",
    "teacher_params",
    "student_params",
    "parameter_ratio",
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


def _error_bars(rows: list[dict]) -> dict:
    return dict(
        type="data",
        symmetric=False,
        array=[r["D_ci_high"] - r["D_mean"] for r in rows],
        arrayminus=[r["D_mean"] - r["D_ci_low"] for r in rows],
    )


def ratio_figure(rows: list[dict]) -> go.Figure:
    """D against the teacher/student parameter ratio; one line per method and data size, one
    panel per bias type; bars: 95% intervals over seeds and examples."""
    bias_types = sorted({r["bias_type"] for r in rows})
    fig = make_subplots(rows=1, cols=len(bias_types), subplot_titles=[esc(b) for b in bias_types])
    for col, bias_type in enumerate(bias_types, start=1):
        keys = sorted({(r["method"], r["train_size"]) for r in rows if r["bias_type"] == bias_type})
        for method, size in keys:
            points = sorted(
                (
                    r
                    for r in rows
                    if r["bias_type"] == bias_type
                    and r["method"] == method
                    and r["train_size"] == size
                ),
                key=lambda r: r["parameter_ratio"],
            )
            fig.add_scatter(
                x=[r["parameter_ratio"] for r in points],
                y=[r["D_mean"] for r in points],
                error_y=_error_bars(points),
                mode="markers+lines",
                name=esc(f"{method}, {size:,} training examples"),
                text=[esc(f"{r['teacher']} / {r['student']}") for r in points],
                showlegend=col == 1,
                row=1,
                col=col,
            )
        fig.add_hline(y=0, line_dash="dot", line_color="#999", row=1, col=col)
        fig.update_xaxes(type="log", title_text="teacher / student parameters", row=1, col=col)
    fig.update_yaxes(title_text="D = M(KD student) - M(teacher)", row=1, col=1)
    fig.update_layout(height=420, title="Distillability against relative size")
    return fig


def size_figure(rows: list[dict]) -> go.Figure:
    """D against the training-set size; one line per method, teacher and student."""
    bias_types = sorted({r["bias_type"] for r in rows})
    fig = make_subplots(rows=1, cols=len(bias_types), subplot_titles=[esc(b) for b in bias_types])
    for col, bias_type in enumerate(bias_types, start=1):
        keys = sorted(
            {(r["method"], r["teacher"], r["student"]) for r in rows if r["bias_type"] == bias_type}
        )
        for method, teacher, student in keys:
            points = sorted(
                (
                    r
                    for r in rows
                    if r["bias_type"] == bias_type
                    and r["method"] == method
                    and r["teacher"] == teacher
                    and r["student"] == student
                ),
                key=lambda r: r["train_size"],
            )
            fig.add_scatter(
                x=[r["train_size"] for r in points],
                y=[r["D_mean"] for r in points],
                error_y=_error_bars(points),
                mode="markers+lines",
                name=esc(f"{method}: {teacher} -> {student}"),
                showlegend=col == 1,
                row=1,
                col=col,
            )
        fig.add_hline(y=0, line_dash="dot", line_color="#999", row=1, col=col)
        fig.update_xaxes(type="log", title_text="training examples", row=1, col=col)
    fig.update_yaxes(title_text="D", row=1, col=1)
    fig.update_layout(height=420, title="Distillability against training-set size")
    return fig


def render_sweep(results: dict) -> str:
    figures = Figures()
    sweep = results["sweep"]
    rows = results["distillability"]
    definitions = "".join(
        f"<dt>{esc(term)}</dt><dd>{esc(text)}</dd>" for term, text in DEFINITIONS[:5]
    )
    body = [
        f"<h1>Sweep {esc(sweep['id'])}</h1>",
        f'<p class="muted">{len(results["models"])} models; methods '
        f"{esc(', '.join(sweep['methods']))}; teachers {esc(', '.join(sweep['teachers']))}; "
        f"students {esc(', '.join(sweep['students']))}; training sizes "
        f"{esc(', '.join(str(s) for s in sweep['train_sizes']))}; seeds "
        f"{esc(', '.join(str(s) for s in sweep['seeds']))}.</p>",
        figures.html(ratio_figure(rows)) if rows else "",
        figures.html(size_figure(rows)) if rows else "",
        "<h2>Distillability per comparison and bias type</h2>",
        table([{c: r.get(c) for c in COLUMNS} for r in rows]),
        "<h2>Validity: in-distribution accuracy and gaps per model</h2>",
        table(results["validity"]),
        '<h2 id="definitions">Definitions</h2>',
        f'<dl class="definitions">{definitions}</dl>',
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>sweep {esc(sweep['id'])}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def write_sweep_report(results: dict, out_dir: str | Path) -> Path:
    path = Path(out_dir) / "index.html"
    atomic_write_text(path, render_sweep(results))
    return path
