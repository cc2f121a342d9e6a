"""The report's lead figure and its subcase panels, from hand-made rows."""

from interp.report.figures import accuracy_figure, answer_figure, mechanism_figure
from interp.results.study import Distillability, SubcaseAccuracy


def row(group, bias, teacher, student, baseline) -> Distillability:
    undefined = dict.fromkeys(
        ["D_mean", "D_std", "D_ci_low", "D_ci_high", "C_mean", "C_std", "C_ci_low", "C_ci_high"]
    )
    return Distillability(
        group=group,
        bias_type=bias,
        n=100,
        seeds=3,
        teacher_mean=teacher,
        teacher_std=0.01,
        student_mean=student,
        student_std=0.02,
        baseline_mean=baseline,
        baseline_std=0.03,
        **undefined,
    )


def test_the_answer_figure_has_one_panel_per_bias_type_and_the_erm_reference():
    rows = [
        row("erm", "overlap", 0.5, 0.51, 0.5),
        row("augment", "overlap", 0.97, 0.49, 0.63),
        row("augment", "negation", 0.84, 0.43, 0.66),
    ]
    figure = answer_figure(rows, {"overlap": 0.5})
    assert [a.text for a in figure.layout.annotations if a.text in ("overlap", "negation")] == [
        "overlap",
        "negation",
    ]
    bars = [t for t in figure.data if t.type == "bar"]
    assert len(bars) == 6  # teacher, KD student, non-KD student in each panel
    teacher_overlap = bars[0]
    assert list(teacher_overlap.x) == ["erm", "augment"] and list(teacher_overlap.y) == [0.5, 0.97]
    assert sum(1 for shape in figure.layout.shapes if shape.line.dash == "dash") == 1


def test_the_subcase_panels_sort_subcases_and_stay_within_a_screen():
    subcases = [
        SubcaseAccuracy(
            suite=s, subcase=f"c{i}", heuristic="h", label="x", model=m, accuracy=a, n=10
        )
        for s in ("lexical_overlap", "negation")
        for i, a in enumerate((0.9, 0.1, 0.5))
        for m in ("t", "s")
    ]
    figure = accuracy_figure(subcases, [("t", "teacher"), ("s", "student")])
    panels = [t for t in figure.data if t.type == "heatmap"]
    assert len(panels) == 2
    assert list(panels[0].y) == ["c1 (x)", "c2 (x)", "c0 (x)"]  # by mean accuracy
    assert figure.layout.height <= 900


def test_the_mechanism_figure_draws_both_directions_with_their_intervals():
    rows = [
        {
            "group": "teacher-init",
            "suite": "lexical_overlap",
            "verdict": "shared",
            "teacher_circuit_on_student": 0.9,
            "teacher_circuit_on_student_interval": [0.8, 0.95],
            "student_circuit_on_teacher": 0.6,
            "student_circuit_on_teacher_interval": [None, None],
        }
    ]
    figure = mechanism_figure(rows, 0.5)
    first, second = figure.data
    assert list(first.y) == [0.9] and list(first.error_y.array) == [0.95 - 0.9]
    assert list(first.error_y.arrayminus) == [0.9 - 0.8]
    assert list(second.error_y.array) == [0.0]  # undefined interval: no whisker
    assert any(shape.y0 == 0.5 for shape in figure.layout.shapes)
