"""The report's "Where is the robustness lost?" panel: each comparison's verdict per bias type
(every seed), and for the first seed of each comparison the stitching recovery over layer
pairs and the probe curves. Every string placed in the page or a figure is HTML-escaped."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.report.figures import COLOURS, esc
from interp.results import ComparisonResult
from interp.results.localise import BiasLocalisation, Localisation

PROBE_COLOURS = {**COLOURS, "seed_teacher": "#17becf", "nokd_student": "#7f7f7f"}
PROBE_NAMES = {
    "teacher": "teacher",
    "student": "KD student",
    "seed_teacher": "teacher, another seed",
    "nokd_student": "student without KD",
}


def _streams(n: int, who: str) -> list[str]:
    """Stream labels as the verdicts count them: stream 0 the embeddings, stream s after
    block s - 1."""
    return [f"{who} {s} ({'emb' if s == 0 else f'after L{s - 1}'})" for s in range(n)]


def where_figure(loc: Localisation, bias: str, part: BiasLocalisation) -> go.Figure:
    """Left: R (or, where the difference is not significant, the stitched bias-conflicting
    accuracy) per teacher stream and student stream, the located stitch marked. Right: probe
    accuracy per stream (relative depth) for each model, shuffled-label controls dotted."""
    defined_r = part.recovery is not None
    grid = part.recovery if defined_r else part.stitched_conflicting
    title = "recovered robustness R" if defined_r else "stitched bias-conflicting accuracy"
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.45, 0.55],
        horizontal_spacing=0.18,
        subplot_titles=[esc(title), "probe accuracy (held-out templates)"],
    )
    n_t, n_s = len(grid), len(grid[0]) if grid else 0
    fig.add_heatmap(
        z=grid,
        x=_streams(n_s, "student"),
        y=_streams(n_t, "teacher"),
        zmin=0 if not defined_r else -0.5,
        zmax=1 if not defined_r else 1.5,
        colorscale="RdBu" if defined_r else "Viridis",
        zmid=0.5 if defined_r else None,
        colorbar={"x": 0.38, "len": 0.9, "thickness": 12},
        text=[[("" if v is None else f"{v:.2f}") for v in row] for row in grid],
        texttemplate="%{text}",
        row=1,
        col=1,
    )
    if part.located is not None:
        fig.add_scatter(
            x=[_streams(n_s, "student")[part.located.student_stream]],
            y=[_streams(n_t, "teacher")[part.located.teacher_stream]],
            mode="markers",
            marker={"symbol": "square-open", "size": 34, "color": "black", "line": {"width": 3}},
            name="located",
            showlegend=False,
            row=1,
            col=1,
        )
    for role, curve in part.probes.accuracy.items():
        n = len(curve)
        depth = [s / max(n - 1, 1) for s in range(n)]
        colour = PROBE_COLOURS[role]
        label = esc(f"{PROBE_NAMES[role]} ({part.probes.models[role]})")
        fig.add_scatter(
            x=depth,
            y=curve,
            mode="lines+markers",
            name=label,
            line={"color": colour},
            row=1,
            col=2,
        )
        fig.add_scatter(
            x=depth,
            y=part.probes.control[role],
            mode="lines",
            name=esc(f"{PROBE_NAMES[role]}, shuffled labels"),
            line={"color": colour, "dash": "dot"},
            showlegend=role == "teacher",
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="relative depth (0: embeddings, 1: last layer)", row=1, col=2)
    fig.update_yaxes(range=[0, 1.02], title_text="balanced accuracy", row=1, col=2)
    fig.update_layout(
        title=esc(f"{loc.teacher} -> {loc.student}: {bias}"),
        height=380,
        margin={"t": 70, "b": 50},
        legend={"font": {"size": 10}},
    )
    return fig


def verdict_lines(comparisons: list[ComparisonResult]) -> list[str]:
    """Every comparison's localisation verdicts (or why it has none), in study order."""
    lines = []
    for comparison in comparisons:
        if comparison.localisation is not None:
            lines += [
                f"{comparison.id}: {part.verdict}" for part in comparison.localisation.bias.values()
            ]
        elif comparison.not_localised:
            lines.append(f"{comparison.id}: not localised ({comparison.not_localised}).")
    return lines


def _bullets(lines: list[str]) -> str:
    return '<ul class="summary">' + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>"


def where_section(comparisons: list[ComparisonResult], first: list[ComparisonResult], figures):
    """The panel: per comparison, its first seed's verdicts and figures, the other seeds'
    verdicts folded below them."""
    if not verdict_lines(comparisons):
        return (
            '<p class="muted">No comparison was localised (the study ran with --no-localise).</p>'
        )
    body = [
        "<p>The teacher's stream at each layer, put in place of the student's stream at each "
        "layer through an affine map (fitted by ridge regression, then fine-tuned with the task's "
        "loss on in-distribution examples), and the student run on from there: R is the share of "
        "the teacher-student gap on bias-conflicting examples that the stitch recovers "
        '(definitions <a href="#definitions">below</a>; the located stitch is framed). Probes '
        "decode the label from each layer on templates they were not trained on.</p>"
    ]
    for head in first:
        group = [c for c in comparisons if c.group == head.group]
        body.append(f"<h3>{esc(head.group)}</h3>")
        body.append(_bullets(verdict_lines([head])))
        loc = head.localisation
        if loc is not None:
            body += [figures.html(where_figure(loc, bias, part)) for bias, part in loc.bias.items()]
        others = [c for c in group if c is not head]
        if others:
            body.append(
                f"<details><summary>the other {len(others)} seed(s)</summary>"
                + _bullets(verdict_lines(others))
                + "</details>"
            )
    return "".join(body)
