"""Plotly figures of the study report; every string placed in a figure is HTML-escaped first."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.io import defined
from interp.results import FaithfulnessCurve, ModelAnalysis, SeedConsistency
from interp.results.study import Distillability, ImageAttention, SubcaseAccuracy, TextAttention
from interp.units import edge_ends, head_name, node_totals, parse_unit

COLOURS = {"teacher": "#1f77b4", "student": "#d62728", "baseline": "#7f7f7f"}


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def number(value, digits: int = 2) -> str:
    """A float for a label; an undefined value (None in results.json, or NaN) as 'n/a'."""
    return f"{value:.{digits}f}" if defined(value) else "n/a"


def accuracy_figure(subcases: list[SubcaseAccuracy], models: list[tuple[str, str]]) -> go.Figure:
    """Accuracy per subcase (and label) for each model: one heatmap panel per suite, stacked,
    subcases as rows sorted by their mean accuracy over the models, models as columns in study
    order; `models` are (id, role)."""
    subcases = [r for r in subcases if r.suite != "in_distribution"]  # suites: a table
    suites = sorted({r.suite for r in subcases})
    if not suites:
        return go.Figure()
    names = [model_id for model_id, _ in models]
    value = {(r.suite, r.subcase, r.label, r.model): r.accuracy for r in subcases}
    keys = {
        suite: sorted({(r.subcase, r.label) for r in subcases if r.suite == suite})
        for suite in suites
    }
    total = sum(len(k) for k in keys.values())
    fig = make_subplots(
        rows=len(suites),
        cols=1,
        subplot_titles=[esc(s) for s in suites],
        row_heights=[len(keys[s]) / total for s in suites],
        vertical_spacing=0.2 / len(suites),
        shared_xaxes=True,
    )
    for row, suite in enumerate(suites, start=1):
        grid = [[value.get((suite, c, lab, m)) for m in names] for c, lab in keys[suite]]
        means = [np.nanmean([v for v in line if v is not None] or [np.nan]) for line in grid]
        order = np.argsort(means, kind="stable")
        fig.add_heatmap(
            z=[grid[i] for i in order],
            x=[esc(m) for m in names],
            y=[esc(f"{keys[suite][i][0]} ({keys[suite][i][1]})") for i in order],
            zmin=0,
            zmax=1,
            colorscale="RdBu",
            showscale=row == 1,
            colorbar=dict(title="accuracy", len=0.5, y=1, yanchor="top"),
            hovertemplate="%{y}<br>%{x}: %{z:.3f}<extra></extra>",
            row=row,
            col=1,
        )
    fig.update_yaxes(automargin=True, tickfont=dict(size=10))
    fig.update_xaxes(showticklabels=False)
    fig.update_xaxes(showticklabels=len(names) <= 12, tickangle=0, row=len(suites), col=1)
    fig.update_layout(height=min(900, 120 + 14 * total + 40 * len(suites)), margin=dict(t=40))
    return fig


def interval_whiskers(values, lows, highs) -> dict:
    """Plotly error bars from each value to its interval's ends; none where a value or an end
    is undefined (None or NaN)."""

    def span(low, high) -> float:
        return high - low if defined(low) and defined(high) else 0.0

    return dict(
        type="data",
        symmetric=False,
        array=[span(v, h) for v, h in zip(values, highs)],
        arrayminus=[span(lo, v) for lo, v in zip(lows, values)],
    )


def answer_figure(rows: list[Distillability], reference: dict[str, float]) -> go.Figure:
    """Per bias type (one panel each), accuracy on bias-conflicting examples of each
    comparison's teacher, KD student and non-KD student (bars: mean over seeds; whiskers: one
    standard deviation over seeds), with the reference teacher's (ERM) as a dashed line."""
    bias_types = list(dict.fromkeys(r.bias_type for r in rows))
    fig = make_subplots(
        rows=1, cols=max(1, len(bias_types)), subplot_titles=[esc(b) for b in bias_types]
    )
    roles = (("teacher", "teacher"), ("student", "KD student"), ("baseline", "non-KD student"))
    for col, bias in enumerate(bias_types, start=1):
        part = [r for r in rows if r.bias_type == bias]
        for role, label in roles:
            fig.add_bar(
                name=label,
                legendgroup=role,
                showlegend=col == 1,
                x=[esc(r.group) for r in part],
                y=[getattr(r, f"{role}_mean") for r in part],
                error_y=dict(type="data", array=[getattr(r, f"{role}_std") or 0 for r in part]),
                marker_color=COLOURS[role],
                hovertemplate=f"{label}: %{{y:.3f}}<extra></extra>",
                row=1,
                col=col,
            )
        if bias in reference:
            fig.add_hline(
                y=reference[bias],
                line_dash="dash",
                line_color="#333",
                row=1,
                col=col,
                annotation_text="ERM teacher",
                annotation_position="top left",
            )
    fig.update_yaxes(range=[0, 1.05])
    fig.update_yaxes(title_text="accuracy on bias-conflicting examples", col=1)
    fig.update_layout(
        barmode="group",
        height=380,
        margin=dict(t=60),
        legend=dict(orientation="h", y=1.12, yanchor="bottom"),
    )
    return fig


def _head_grid(scores: dict[str, float], n_layers: int, n_heads: int) -> np.ndarray:
    return np.array(
        [
            [scores.get(head_name(layer, head), 0.0) for head in range(n_heads)]
            for layer in range(n_layers)
        ]
    )


def _signed_shares(scores: dict[str, float]) -> dict[str, float]:
    """Each head's or MLP's signed share of the total absolute score (units at positions
    summed into their node)."""
    total = sum(abs(v) for v in scores.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in node_totals(scores).items()}


def attribution_heatmaps(
    teacher: ModelAnalysis, student: ModelAnalysis, node_map: dict[str, str]
) -> go.Figure:
    """Head attribution of teacher and student (signed share of each model's total) and their
    difference in teacher heads (teacher minus the student heads mapped onto each)."""
    t_share = _signed_shares(teacher.attribution)
    s_share = _signed_shares(student.attribution)
    mapped: dict[str, float] = {}
    for node, value in s_share.items():
        target = node_map.get(node)
        if target is not None:
            mapped[target] = mapped.get(target, 0.0) + value
    t_grid = _head_grid(t_share, teacher.n_layers, teacher.n_heads)
    s_grid = _head_grid(s_share, student.n_layers, student.n_heads)
    d_grid = t_grid - _head_grid(mapped, teacher.n_layers, teacher.n_heads)
    limit = float(max(np.abs(t_grid).max(), np.abs(s_grid).max(), np.abs(d_grid).max(), 1e-9))
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=[
            esc(f"teacher {teacher.model}"),
            esc(f"student {student.model}"),
            "teacher - student (teacher heads)",
        ],
    )
    for col, grid in enumerate((t_grid, s_grid, d_grid), start=1):
        fig.add_heatmap(
            z=grid,
            x=[f"h{h}" for h in range(grid.shape[1])],
            y=[f"layer {layer}" for layer in range(grid.shape[0])],
            zmin=-limit,
            zmax=limit,
            colorscale="RdBu",
            reversescale=True,
            showscale=col == 3,
            row=1,
            col=col,
        )
    fig.update_layout(height=320, margin=dict(t=60))
    return fig


def attention_figure(example: TextAttention) -> go.Figure:
    """Attention patterns of two matched heads on one example, tokens on both axes."""
    tokens = [esc(t) for t in example.tokens]
    positions = list(range(len(tokens)))
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[
            esc(f"teacher {example.teacher_head}"),
            esc(f"student {example.student_head}"),
        ],
        horizontal_spacing=0.12,
    )
    for col, pattern in enumerate((example.teacher_pattern, example.student_pattern), start=1):
        fig.add_heatmap(
            z=pattern,
            x=positions,
            y=positions,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            showscale=col == 2,
            row=1,
            col=col,
        )
    axis = dict(tickmode="array", tickvals=positions, ticktext=tokens)
    fig.update_xaxes(title_text="key", tickangle=-60, **axis)
    fig.update_yaxes(title_text="query", autorange="reversed", **axis)
    fig.update_layout(height=520, title=esc(example.text))
    return fig


def image_attention_figure(example: ImageAttention) -> go.Figure:
    """Each rendering of a digit beside the [CLS] attention of two matched heads over its patch
    grid (one row per rendering), the heatmaps on the image's pixel coordinates."""
    rows = example.renderings
    titles = []
    for row in rows:
        titles += [
            esc(row.name),
            esc(f"teacher {example.teacher_head}: [CLS] to patches"),
            esc(f"student {example.student_head}: [CLS] to patches"),
        ]
    fig = make_subplots(rows=len(rows), cols=3, subplot_titles=titles, horizontal_spacing=0.08)
    grids = [grid for row in rows for grid in (row.teacher_cls, row.student_cls)]
    top = max(max(max(line) for line in grid) for grid in grids)
    size = len(rows[0].image)
    patch = size / len(grids[0])
    centres = [patch * i + (patch - 1) / 2 for i in range(len(grids[0]))]
    for r, row in enumerate(rows, start=1):
        pixels = (np.asarray(row.image, dtype=float) * 255).round().clip(0, 255)
        fig.add_image(z=pixels, row=r, col=1)
        for col, grid in ((2, row.teacher_cls), (3, row.student_cls)):
            fig.add_heatmap(
                z=grid,
                x=centres,
                y=centres,
                zmin=0,
                zmax=top,
                colorscale="Blues",
                showscale=r == 1 and col == 3,
                colorbar=dict(title="attention"),
                row=r,
                col=col,
            )
    for k in range(1, 3 * len(rows) + 1):  # square cells, the image's pixel coordinates
        suffix = "" if k == 1 else str(k)
        fig.layout[f"xaxis{suffix}"].update(
            range=[-0.5, size - 0.5], showticklabels=False, showgrid=False, zeroline=False
        )
        fig.layout[f"yaxis{suffix}"].update(
            range=[size - 0.5, -0.5],
            scaleanchor=f"x{suffix}",
            showticklabels=False,
            showgrid=False,
            zeroline=False,
        )
    fig.update_layout(height=330 * len(rows), title=esc(example.text), plot_bgcolor="white")
    return fig


def _node_position(name: str, n_heads: int) -> tuple[float, float]:
    if name == "embed":
        return -1.0, n_heads / 2
    if name == "logits":
        return float("inf"), n_heads / 2
    kind, layer, head, position = parse_unit(name)
    shift = {None: 0.0, "cls": -0.15, "rest": 0.15}[position]  # a unit at [CLS] left of its node
    if kind == "mlp":
        return layer + 0.5 + shift, n_heads + 0.5
    return layer + shift, float(head)


def circuit_figure(analysis: ModelAnalysis, max_edges: int = 40) -> go.Figure:
    """Circuit nodes placed by layer (heads stacked, MLP above them), the strongest edges drawn
    with width by |score| (red positive, blue negative)."""
    n_heads, n_layers = analysis.n_heads, analysis.n_layers
    units = analysis.units
    scores = analysis.circuit.scores
    nodes = list(analysis.circuit.nodes)
    if units == "edge":  # the nodes are the ends of the circuit's edges, sized by what they send
        nodes = list(dict.fromkeys(end for e in nodes for end in edge_ends(e)))
        nodes = [n for n in nodes if n not in ("embed", "logits")]
        scores = _signed_shares(scores)
    nodes += ["embed", "logits"]
    position = {}
    for node in nodes:
        x, y = _node_position(node, n_heads)
        position[node] = (n_layers if x == float("inf") else x, y)
    edges = sorted(analysis.edges.items(), key=lambda kv: -abs(kv[1]))[:max_edges]
    largest = max((abs(v) for _, v in edges), default=1.0) or 1.0
    fig = go.Figure()
    for name, value in edges:
        upstream, downstream = name.split("->")
        target = downstream.rsplit(".", 1)[0] if downstream.count(".") == 2 else downstream
        if upstream not in position or target not in position:  # edges join whole nodes only
            continue
        (x0, y0), (x1, y1) = position[upstream], position[target]
        fig.add_scatter(
            x=[x0, x1],
            y=[y0, y1],
            mode="lines",
            line=dict(
                width=0.5 + 6 * abs(value) / largest, color="#d62728" if value > 0 else "#1f77b4"
            ),
            opacity=0.6,
            hoverinfo="text",
            text=esc(f"{name}: {value:+.3f}"),
            showlegend=False,
        )
    fig.add_scatter(
        x=[position[n][0] for n in nodes],
        y=[position[n][1] for n in nodes],
        mode="markers+text",
        text=[esc(n) for n in nodes],
        textposition="top center",
        marker=dict(
            size=[10 + 20 * min(1.0, abs(scores.get(n, 0.0))) for n in nodes], color="#333"
        ),
        hovertext=[esc(f"{n}: {scores.get(n, 0.0):+.3f}") for n in nodes],
        hoverinfo="text",
        showlegend=False,
    )
    fig.update_layout(
        title=esc(
            f"{analysis.model} circuit ({len(analysis.circuit.nodes)} {units} units"
            + (f"; the {len(edges)} strongest edges drawn)" if units == "edge" else ")")
        ),
        xaxis=dict(
            title="layer",
            tickvals=list(range(-1, n_layers + 1)),
            ticktext=["embed"] + [str(i) for i in range(n_layers)] + ["logits"],
        ),
        yaxis=dict(title="head (MLP on top)", showgrid=False),
        height=380,
    )
    return fig


def faithfulness_figure(curves: dict[str, FaithfulnessCurve], names: dict[str, str]) -> go.Figure:
    """Faithfulness against circuit size (fraction of nodes) for each model (role -> curve)."""
    fig = go.Figure()
    for role, curve in curves.items():
        n = max(curve.sizes) or 1
        fig.add_scatter(
            x=[s / n for s in curve.sizes],
            y=curve.faithfulness,
            mode="lines+markers",
            name=esc(f"{role} {names.get(role, '')} (area {number(curve.area_under)})"),
            line=dict(color=COLOURS.get(role)),
        )
    fig.add_hline(y=1.0, line_dash="dot", line_color="#999")
    fig.update_layout(
        xaxis_title="circuit size (fraction of the units, ranked)",
        yaxis_title="faithfulness",
        height=360,
    )
    return fig


def seed_consistency_figure(consistency: SeedConsistency) -> go.Figure:
    """Which components are in each model's circuit in each seed (teacher and student side by
    side; a filled cell: in the circuit that seed)."""
    per_seed = [r for r in consistency.per_seed if r.seed in consistency.seeds]
    seeds = [f"seed {r.seed}" for r in per_seed]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["teacher circuit", "student circuit"],
        horizontal_spacing=0.2,
    )
    for col, role in enumerate(("teacher", "student"), start=1):
        nodes = list(getattr(consistency, role).counts)
        if not nodes:
            continue
        z = [[int(node in getattr(r, f"{role}_circuit")) for r in per_seed] for node in nodes]
        fig.add_heatmap(
            z=z,
            x=seeds,
            y=[esc(n) for n in nodes],
            zmin=0,
            zmax=1,
            colorscale=[[0, "#f3f3f3"], [1, COLOURS[role]]],
            showscale=False,
            xgap=2,
            ygap=2,
            row=1,
            col=col,
        )
    rows = max(len(consistency.teacher.counts), len(consistency.student.counts), 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=120 + 22 * rows, margin=dict(t=50))
    return fig


def mechanism_figure(rows: list[dict], carries: float) -> go.Figure:
    """Per suite (one panel each), the two directions of cross-faithfulness of each comparison
    (bars, with their 95% intervals as whiskers) and the line a direction must clear to carry
    the other model's behaviour. `rows`: group, suite, and for each direction its value and
    interval (None where undefined)."""
    suites = list(dict.fromkeys(r["suite"] for r in rows))
    fig = make_subplots(rows=1, cols=max(1, len(suites)), subplot_titles=[esc(s) for s in suites])
    directions = (
        ("teacher_circuit_on_student", "teacher's circuit on the student", COLOURS["teacher"]),
        ("student_circuit_on_teacher", "student's circuit on the teacher", COLOURS["student"]),
    )
    for col, suite in enumerate(suites, start=1):
        part = [r for r in rows if r["suite"] == suite]
        for key, label, colour in directions:
            values = [r[key] for r in part]
            lows = [r[f"{key}_interval"][0] for r in part]
            highs = [r[f"{key}_interval"][1] for r in part]
            fig.add_bar(
                name=label,
                legendgroup=key,
                showlegend=col == 1,
                x=[esc(r["group"]) for r in part],
                y=values,
                error_y=interval_whiskers(values, lows, highs),
                marker_color=colour,
                hovertext=[esc(r["verdict"]) for r in part],
                row=1,
                col=col,
            )
        fig.add_hline(y=carries, line_dash="dash", line_color="#333", row=1, col=col)
    fig.update_yaxes(title_text="cross-faithfulness", col=1)
    fig.update_layout(
        barmode="group",
        height=360,
        margin=dict(t=60),
        legend=dict(orientation="h", y=1.14, yanchor="bottom"),
    )
    return fig
