"""Accuracy tables and distillability on constructed per-example results."""

import numpy as np
import pandas as pd
import pytest

from interp.evaluate import accuracy_tables, distillability_table


def frame(model, correct, aligned):
    n = len(correct)
    return pd.DataFrame(
        {
            "model": model,
            "id": [f"e{i}" for i in range(n)],
            "suite": "lexical_overlap",
            "heuristic": "lexical_overlap",
            "subcase": "swap",
            "label": ["non-entailment" if not a else "entailment" for a in aligned],
            "bias_type": "overlap",
            "bias_aligned": aligned,
            "prediction": "x",
            "correct": np.array(correct, dtype=float),
        }
    )


ALIGNED = [True] * 4 + [False] * 4


def test_accuracy_tables_split_bias_aligned_and_conflicting():
    examples = frame("t", [1, 1, 1, 1, 1, 0, 0, 0], ALIGNED)
    tables = accuracy_tables(examples)
    gap = tables["bias_gap"].iloc[0]
    assert (gap["bias_aligned"], gap["bias_conflicting"], gap["gap"]) == (1.0, 0.25, 0.75)
    assert tables["suites"].iloc[0]["accuracy"] == pytest.approx(5 / 8)


def test_distillability_and_contribution_over_seeds():
    examples = pd.concat(
        [
            frame("t0", [1] * 4 + [1, 1, 1, 1], ALIGNED),  # teacher: 1.00 on conflicting
            frame("s0", [1] * 4 + [1, 0, 0, 0], ALIGNED),  # student: 0.25
            frame("b0", [1] * 4 + [0, 0, 0, 0], ALIGNED),  # baseline: 0.00
            frame("t1", [1] * 4 + [1, 1, 1, 0], ALIGNED),  # 0.75
            frame("s1", [1] * 4 + [1, 1, 0, 0], ALIGNED),  # 0.50
            frame("b1", [1] * 4 + [1, 0, 0, 0], ALIGNED),  # 0.25
        ]
    )
    pairs = [
        {"group": "poe", "teacher": "t0", "student": "s0", "baseline": "b0"},
        {"group": "poe", "teacher": "t1", "student": "s1", "baseline": "b1"},
    ]
    row = distillability_table(examples, pairs, ["overlap"], n_bootstrap=200).iloc[0]
    assert row["teacher_mean"] == pytest.approx(0.875)
    assert row["D_mean"] == pytest.approx(((0.25 - 1.0) + (0.5 - 0.75)) / 2)
    assert row["D_std"] == pytest.approx(np.std([-0.75, -0.25], ddof=1))
    assert row["C_mean"] == pytest.approx(0.25)
    assert row["D_ci_low"] <= row["D_mean"] <= row["D_ci_high"]
    assert row["D_ci_low"] < row["D_ci_high"]  # resampling 4 examples does move D
    assert -1.0 <= row["D_ci_low"] and row["D_ci_high"] <= 0.0  # the student never wins here
    assert (row["seeds"], row["n"]) == (2, 4)


def test_models_on_different_examples_are_refused():
    examples = pd.concat([frame("t", [1] * 8, ALIGNED), frame("s", [1] * 6, ALIGNED[:6])])
    with pytest.raises(ValueError, match="not evaluated on the same overlap examples"):
        distillability_table(
            examples, [{"group": "g", "teacher": "t", "student": "s"}], ["overlap"]
        )


def test_an_interval_does_not_move_when_a_pair_is_added_before_its_group():
    examples = pd.concat(
        [
            frame("t", [1] * 4 + [1, 1, 1, 0], ALIGNED),
            frame("s", [1] * 4 + [1, 0, 1, 0], ALIGNED),
            frame("t2", [1] * 4 + [0, 1, 1, 1], ALIGNED),
            frame("s2", [1] * 4 + [0, 0, 0, 1], ALIGNED),
        ]
    )
    mine = {"group": "mine", "teacher": "t", "student": "s"}
    other = {"group": "other", "teacher": "t2", "student": "s2"}
    alone = distillability_table(examples, [mine], ["overlap"], n_bootstrap=300)
    after = distillability_table(examples, [other, mine], ["overlap"], n_bootstrap=300)
    row_alone = alone.iloc[0]
    row_after = after[after["group"] == "mine"].iloc[0]
    for column in ("D_ci_low", "D_ci_high"):
        assert row_after[column] == row_alone[column]
