"""The sweep report: distillability against the teacher/student size ratio and against the
training-set size, with the tables behind the figures; one self-contained HTML page."""

from __future__ import annotations

from plotly.colors import qualitative
from plotly.subplots import make_subplots

from interp.report.figures import esc, interval_whiskers
from interp.report.page import DISTILLABILITY_FIGURES, Figures, html_page, table
from interp.results import Claim, SweepDistillability, SweepResults

COLUMNS = [
    "method",
    "bias_type",
    "teacher",
    "student",
    "train_size",
    "teacher_params",
    "student_params",
    "parameter_ratio",
    *DISTILLABILITY_FIGURES,
]


def d_figure(
    rows: list[SweepDistillability], x: str, lines: tuple[str, ...], title: str, x_title: str
):
    """D against `x`, one line per value of the `lines` fields, one panel per bias type;
    bars: 95% intervals over seeds and examples."""
    bias_types = sorted({r.bias_type for r in rows})
    keys = sorted({tuple(getattr(r, f) for f in lines) for r in rows})
    palette = qualitative.Plotly
    fig = make_subplots(rows=1, cols=len(bias_types), subplot_titles=[esc(b) for b in bias_types])
    for col, bias_type in enumerate(bias_types, start=1):
        part = [r for r in rows if r.bias_type == bias_type]
        for index, key in enumerate(keys):
            points = sorted(
                (r for r in part if tuple(getattr(r, f) for f in lines) == key),
                key=lambda r: getattr(r, x),
            )
            if not points:
                continue
            name = ", ".join(f"{f} {v}" for f, v in zip(lines, key))
            fig.add_scatter(
                x=[getattr(r, x) for r in points],
                y=[r.D_mean for r in points],
                error_y=interval_whiskers(
                    [r.D_mean for r in points],
                    [r.D_ci_low for r in points],
                    [r.D_ci_high for r in points],
                ),
                mode="markers+lines",
                name=esc(name),
                legendgroup=esc(name),
                line=dict(color=palette[index % len(palette)]),
                text=[esc(f"{r.teacher} / {r.student}") for r in points],
                showlegend=col == 1,
                row=1,
                col=col,
            )
        fig.add_hline(y=0, line_dash="dot", line_color="#999", row=1, col=col)
        fig.update_xaxes(type="log", title_text=x_title, row=1, col=col)
    fig.update_yaxes(title_text="D = M(KD student) - M(teacher)", row=1, col=1)
    fig.update_layout(height=420, title=title)
    return fig


def c_figure(claims: list[Claim]):
    """C per teacher size (mean over comparisons and seeds, 95% interval over seeds), one
    panel per bias type: the amplification claim expects every bar below 0."""
    amplification = [  # over every training-set size; the per-size verdicts are sentences
        c.tests
        for c in claims
        if c.tests[0].claim == "amplification" and c.tests[0].train_size is None
    ]
    fig = make_subplots(
        rows=1,
        cols=max(1, len(amplification)),
        subplot_titles=[esc(t[0].bias_type) for t in amplification],
    )
    for col, tests in enumerate(amplification, start=1):
        shown = [t for t in tests if t.statistic is not None]
        fig.add_bar(
            x=[esc(t.teacher) for t in shown],
            y=[t.statistic for t in shown],
            error_y=interval_whiskers(
                [t.statistic for t in shown],
                [t.low for t in shown],
                [t.high for t in shown],
            ),
            marker_color="#d62728",
            showlegend=False,
            row=1,
            col=col,
        )
        fig.add_hline(y=0, line_dash="dot", line_color="#999", row=1, col=col)
    fig.update_yaxes(title_text="C = M(KD student) - M(non-KD student)", row=1, col=1)
    fig.update_layout(
        height=380,
        title="Contribution of KD across teacher sizes (training-set sizes pooled; the "
        "sentences above give each size)",
    )
    return fig


def render_sweep(results: SweepResults) -> str:
    figures = Figures()
    sweep = results.sweep  # the manifest entry, as validated there
    rows = results.distillability
    body = [
        f"<h1>Sweep {esc(sweep['id'])}</h1>",
        f'<p class="muted">{len(results.models)} models; methods '
        f"{esc(', '.join(sweep['methods']))}; teachers {esc(', '.join(sweep['teachers']))}; "
        f"students {esc(', '.join(sweep['students']))}; training sizes "
        f"{esc(', '.join(str(s) for s in sweep['train_sizes']))}; seeds "
        f"{esc(', '.join(str(s) for s in sweep['seeds']))}.</p>",
        "<h2>The two scale claims</h2>",
        '<ul class="summary">'
        + "".join(f"<li>{esc(c.sentence)}</li>" for c in results.claims)
        + "</ul>",
        figures.html(c_figure(results.claims)) if results.claims else "",
        figures.html(
            d_figure(
                rows,
                "parameter_ratio",
                ("method", "train_size"),
                "Distillability against relative size",
                "teacher / student parameters",
            )
        )
        if rows
        else "",
        figures.html(
            d_figure(
                rows,
                "train_size",
                ("method", "teacher", "student"),
                "Distillability against training-set size",
                "training examples",
            )
        )
        if rows
        else "",
        "<h2>Distillability per comparison and bias type</h2>",
        table([{c: getattr(r, c) for c in COLUMNS} for r in rows]),
        "<h2>Validity: in-distribution accuracy and gaps per model</h2>",
        table([row.model_dump() for row in results.validity]),
    ]
    return html_page(f"sweep {sweep['id']}", body)
