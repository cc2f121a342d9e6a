"""The findings page: what studies measured, as markdown, written from their results.json.

README's figures come from this page (`docs/findings.md`), so that the text and the code that
produces the numbers cannot drift apart: `interp findings RESULTS.json ... --out
docs/findings.md` rewrites it.
"""

from __future__ import annotations

import html
import re

from interp.report.figures import number
from interp.report.page import summary_lines
from interp.report.verdicts import circuit_status, cross_faithfulness_text
from interp.results import ModelAnalysis, StudyResults, SweepResults, Validity
from interp.results.study import Distillability
from probes.tasks import all_bias_types


def table_head(head: list[str]) -> list[str]:
    """A markdown table's header row and its rule."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]


def _group_and_seed(model_id: str) -> tuple[str, str]:
    match = re.fullmatch(r"(.+)-s(\d+)", model_id)
    return (match.group(1), match.group(2)) if match else (model_id, "-")


def _measured(rows: list[Validity]) -> list[str]:
    """The bias types the validity rows measure (those of the first row's task)."""
    return [b for b in all_bias_types() if rows and rows[0].measures(b)]


def validity_markdown(results: StudyResults) -> list[str]:
    """Per model and seed: in-distribution accuracy, and per bias type aligned / conflicting
    accuracy and their gap."""
    rows = results.validity
    bias_types = _measured(rows)
    head = ["model", "seed", "in-distribution"]
    for b in bias_types:
        head += [f"{b} aligned", f"{b} conflicting", f"{b} gap"]
    lines = table_head(head)
    for row in rows:
        group, seed = _group_and_seed(row.model)
        cells = [group, seed, number(row.in_distribution, 3)]
        for b in bias_types:
            cells += [number(row.measure(b, k), 3) for k in ("aligned", "conflicting", "gap")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _interval(row: Distillability, name: str) -> str:
    mean = getattr(row, f"{name}_mean")
    if mean is None:
        return "n/a"
    low, high = getattr(row, f"{name}_ci_low"), getattr(row, f"{name}_ci_high")
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def _mean_std(row: Distillability, role: str) -> str:
    mean = getattr(row, f"{role}_mean")
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {getattr(row, f'{role}_std') or 0.0:.3f}"


def distillability_markdown(results: StudyResults) -> list[str]:
    head = [
        "comparison",
        "bias type",
        "seeds",
        "teacher M",
        "KD student M",
        "non-KD student M",
        "D [95% interval]",
        "C [95% interval]",
    ]
    lines = table_head(head)
    for r in results.distillability:
        cells = [r.group, r.bias_type, str(r.seeds)]
        cells += [_mean_std(r, role) for role in ("teacher", "student", "baseline")]
        cells += [_interval(r, "D"), _interval(r, "C")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def consistency_markdown(results: StudyResults) -> list[str]:
    lines = []
    for c in results.seed_consistency:
        n = c.n_seeds
        lines += [
            f"**{c.group} on {c.suite}**: seeds "
            f"{', '.join('unseeded' if x is None else str(x) for x in c.seeds) or 'none'}"
            + (f" (left out: {', '.join(map(str, c.skipped_seeds))})" if c.skipped_seeds else "")
            + f"; a finding needs {c.threshold} of {n} seeds; stability "
            f"teacher {number(c.teacher.stability)}, student "
            f"{number(c.student.stability)}.",
            "",
            "| component | in teacher circuit | teacher-only | | student component | in student "
            "circuit | teacher match |",
            "|---|---|---|---|---|---|---|",
        ]
        teacher = list(c.teacher.counts.items())
        student = list(c.student.counts.items())
        for i in range(max(len(teacher), len(student))):
            t = teacher[i] if i < len(teacher) else None
            s = student[i] if i < len(student) else None
            t_cells = (
                [t[0], f"{t[1]}/{n}", f"{c.teacher_only.counts.get(t[0], 0)}/{n}"]
                if t
                else ["", "", ""]
            )
            s_cells = (
                [s[0], f"{s[1]}/{n}", str(c.student.teacher_match.get(s[0]))] if s else ["", "", ""]
            )
            lines.append("| " + " | ".join([*t_cells, "", *s_cells]) + " |")
        lines.append("")
    return lines


def controls_markdown(results: StudyResults) -> list[str]:
    """Per comparison, seed and suite: each circuit after its controls (size, faithfulness,
    chance, specificity, MIB scores) and the mechanism verdict of the diff."""
    head = [
        "comparison",
        "seed",
        "suite",
        "teacher circuit",
        "teacher: chance p / status / specific",
        "student circuit",
        "student: chance p / status / specific",
        "CPR t / s",
        "CMD t / s",
        "teacher circuit on student",
        "student circuit on teacher",
        "mechanism",
    ]
    lines = table_head(head)

    def circuit(a: ModelAnalysis) -> str:
        faith = a.circuit.meta.faithfulness
        return f"{len(a.circuit.nodes)} {a.units} units, f {number(faith)}"

    def controls(a: ModelAnalysis) -> str:
        p_value = a.chance.p_value if a.chance else None
        spec = a.specificity
        specific = spec.specific if spec else None
        spec_text = "n/a" if specific is None else ("yes" if specific else "no")
        if spec is not None and spec.ratio is not None:
            spec_text += f" ({spec.ratio:.2f})"
        return f"{number(p_value, 3)} / {circuit_status(a)} / {spec_text}"

    for comparison in results.comparisons:
        for suite, part in comparison.suites.items():
            t, st, extra = part.teacher, part.student, part.diff.extra
            t_mib, s_mib = t.curve.mib, st.curve.mib
            cells = [
                comparison.group,
                "-" if comparison.seed is None else str(comparison.seed),
                suite,
                circuit(t),
                controls(t),
                circuit(st),
                controls(st),
                f"{number(t_mib.cpr)} / {number(s_mib.cpr)}",
                f"{number(t_mib.cmd)} / {number(s_mib.cmd)}",
                cross_faithfulness_text(extra, "teacher_circuit_on_student"),
                cross_faithfulness_text(extra, "student_circuit_on_teacher"),
                extra.mechanism.verdict,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _counts(analyses: list[ModelAnalysis]) -> str:
    """found / beat chance / finding / specific, out of the seeds."""
    found = [a for a in analyses if circuit_status(a) != "no behaviour"]
    beat = [a for a in found if a.chance and a.chance.beats_chance]
    finding = [a for a in found if circuit_status(a) == "finding"]
    specific = [a for a in found if a.specificity and a.specificity.specific]
    return f"{len(found)} / {len(beat)} / {len(finding)} / {len(specific)}"


def _mean(values: list) -> str:
    values = [v for v in values if v is not None and v == v]
    return number(sum(values) / len(values)) if values else "n/a"


def controls_summary_markdown(results: StudyResults) -> list[str]:
    """Per comparison and suite over its seeds: how many circuits were found, beat chance, are
    findings (beat chance within a quarter of the units) and are specific; mean CPR and CMD;
    the mechanism verdicts."""
    head = [
        "comparison",
        "suite",
        "seeds",
        "teacher circuits: found / beat chance / finding / specific",
        "student circuits: found / beat chance / finding / specific",
        "CPR teacher / student",
        "CMD teacher / student",
        "mechanism (per seed)",
    ]
    lines = table_head(head)
    groups: dict[tuple[str, str], list] = {}
    for comparison in results.comparisons:
        for suite, part in comparison.suites.items():
            groups.setdefault((comparison.group, suite), []).append(part)
    for (group, suite), parts in groups.items():
        teachers, students = [p.teacher for p in parts], [p.student for p in parts]

        def mib(analyses: list[ModelAnalysis], key: str) -> str:
            return _mean([getattr(a.curve.mib, key) for a in analyses])

        verdicts = [p.diff.extra.mechanism.verdict for p in parts]
        cells = [
            group,
            suite,
            str(len(parts)),
            _counts(teachers),
            _counts(students),
            f"{mib(teachers, 'cpr')} / {mib(students, 'cpr')}",
            f"{mib(teachers, 'cmd')} / {mib(students, 'cmd')}",
            ", ".join(verdicts),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_text(text: str) -> str:
    """Text that markdown shows as written: HTML and markdown's own characters escaped."""
    text = html.escape(str(text), quote=False).replace("\n", " ")
    return "".join("\\" + c if c in "\\`*_[]#|" else c for c in text)


def _group_means(rows: list[Validity]) -> list[dict]:
    """Validity rows averaged over each model's seeds (the id without its -s<seed>)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(_group_and_seed(row.model)[0], []).append(row.model_dump())
    out = []
    for group, members in groups.items():
        mean = {"model": group, "seeds": len(members)}
        for key in members[0]:
            values = [m[key] for m in members if isinstance(m.get(key), (int, float))]
            if key != "model" and values:
                mean[key] = sum(values) / len(values)
        out.append(mean)
    return out


def sweep_markdown(title: str, results: SweepResults) -> list[str]:
    """A sweep's section: its grid, the claims' verdicts, validity per model (mean over
    seeds) and D and C per comparison with their intervals."""
    sweep = results.sweep  # the manifest entry, as validated there
    bias_types = _measured(results.validity)
    rows = _group_means(results.validity)
    head = ["model", "seeds", "in-distribution"]
    for b in bias_types:
        head += [f"{b} aligned", f"{b} conflicting", f"{b} gap"]
    validity = table_head(head)
    for row in rows:
        cells = [markdown_text(row["model"]), str(row["seeds"]), number(row.get("in_distribution"))]
        for b in bias_types:
            cells += [number(row.get(f"{b}_{k}")) for k in ("aligned", "conflicting", "gap")]
        validity.append("| " + " | ".join(cells) + " |")
    comparisons = [
        "| bias type | teacher | student | training examples | parameter ratio | teacher M | "
        "KD student M | non-KD student M | D | C |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(
        results.distillability, key=lambda r: (r.bias_type, r.train_size, r.parameter_ratio)
    ):
        comparisons.append(
            f"| {row.bias_type} | {markdown_text(row.teacher)} | "
            f"{markdown_text(row.student)} | {row.train_size:,} | "
            f"{row.parameter_ratio:.1f} | {number(row.teacher_mean)} | "
            f"{number(row.student_mean)} | {number(row.baseline_mean)} | "
            f"{_interval(row, 'D')} | {_interval(row, 'C')} |"
        )
    return [
        f"## {markdown_text(title)}",
        "",
        f"Sweep `{sweep['id']}`: methods {', '.join(sweep['methods'])}; teachers "
        f"{', '.join(sweep['teachers'])}; students {', '.join(sweep['students'])}; training "
        f"sizes {', '.join(f'{s:,}' for s in sweep['train_sizes'])}; seeds "
        f"{', '.join(map(str, sweep['seeds']))}; {len(results.models)} models.",
        "",
        "### The two scale claims",
        "",
        *[f"- {markdown_text(c.sentence)}" for c in results.claims],
        "",
        "### Validity (mean over seeds)",
        "",
        *validity,
        "",
        "### D and C per comparison (M: accuracy on bias-conflicting examples; 95% intervals "
        "over seeds and examples)",
        "",
        *comparisons,
        "",
    ]


def _estimate(e) -> str:
    return f"{e.value:+.2f} [{e.low:+.2f}, {e.high:+.2f}]"


def _localisation_row(comparison, bias: str, part) -> list[str]:
    located, carriers = part.located, part.carriers
    if located is None:
        where, r = "none", "n/a"
    else:
        student = (
            "from the student's embeddings"
            if located.student_block is None
            else f"student block {located.student_block}"
        )
        teacher = (
            "" if located.teacher_block is None else f"; teacher block {located.teacher_block}"
        )
        where = f"T{located.teacher_stream} -> S{located.student_stream} ({student}{teacher})"
        r = _estimate(located.recovery)
    if carriers is not None and carriers.units:
        carried = f"{', '.join(carriers.units)} (percentile {carriers.chance_percentile:.0f})"
    else:
        carried = "n/a"
    probe, control = part.probes.accuracy["student"][-1], part.probes.control["student"][-1]
    diss = part.readout_dissimilarity
    seed = diss.get("teacher_seed")
    return [
        comparison.id,
        bias,
        f"{part.teacher_conflicting:.2f}",
        f"{part.student_conflicting:.2f}",
        _estimate(part.difference),
        where,
        r,
        carried,
        f"{number(probe)} ({number(control)})",
        f"{diss['teacher_student'].value:.2f}"
        + (f" vs {seed.value:.2f} ({'beyond' if part.beyond_seed else 'within'})" if seed else ""),
    ]


def localisation_markdown(results: StudyResults) -> list[str]:
    """Per comparison, seed and bias type: the located stitch, its recovery, the teacher
    components that carry it, the student's last-layer probe and the seed baseline; then per
    comparison group and bias type, in how many seeds a layer is located and which."""
    head = [
        "comparison",
        "bias",
        "teacher M",
        "student M",
        "difference [95%]",
        "located (teacher -> student stream)",
        "R [95%]",
        "carried by (percentile among random sets)",
        "student probe, last layer (control)",
        "1 - CKA teacher-student vs two teacher seeds",
    ]
    lines = table_head(head)
    groups: dict[tuple[str, str], list] = {}
    for comparison in results.comparisons:
        if comparison.localisation is None:
            continue
        for bias, part in comparison.localisation.bias.items():
            lines.append(
                "| "
                + " | ".join(map(markdown_text, _localisation_row(comparison, bias, part)))
                + " |"
            )
            groups.setdefault((comparison.group, bias), []).append(part)
    if len(lines) == 2:
        return ["No comparison was localised."]
    lines.append("")
    for (group, bias), parts in groups.items():
        lost = [p for p in parts if p.recovery is not None]
        blocks = [
            "embeddings" if p.located.student_block is None else f"block {p.located.student_block}"
            for p in lost
            if p.located is not None
        ]
        beyond = [p.beyond_seed for p in parts if p.beyond_seed is not None]
        lines.append(
            f"- {markdown_text(group)} / {bias}: the student lost robustness in {len(lost)} of "
            f"{len(parts)} seed(s); a layer is located in {len(blocks)} of them"
            + (f" ({', '.join(blocks)})" if blocks else "")
            + (
                f"; teacher-student readouts differ beyond two teacher seeds in {sum(beyond)} of "
                f"{len(beyond)}"
                if beyond
                else "; no seed baseline (one seed)"
            )
            + "."
        )
    return lines


def findings_markdown(studies: list[tuple[str, StudyResults | SweepResults]]) -> str:
    """The page for a list of (title, results) studies and sweeps."""
    out = [
        "# Findings",
        "",
        "Written by `interp findings` from the studies' and sweeps' results.json; every figure "
        "below is what those runs measured. Definitions: [definitions.md](definitions.md).",
        "",
    ]
    for title, results in studies:
        if isinstance(results, SweepResults):
            out += sweep_markdown(title, results)
            continue
        settings = results.settings
        out += [
            f"## {markdown_text(title)}",
            "",
            f"Run `{results.run}`, seeds {', '.join(map(str, results.seeds))}, "
            f"attribution {settings.attribution}, circuit target "
            f"{settings.target_faithfulness}, up to {settings.n_pairs} minimal "
            "pairs per suite.",
            "",
            "### Summary",
            "",
            *[f"- {line}" for line in summary_lines(results)],
            "",
            "### Validity: in-distribution accuracy, and accuracy on bias-aligned and "
            "bias-conflicting examples",
            "",
            *validity_markdown(results),
            "",
            "### Distillability (M: accuracy on bias-conflicting examples)",
            "",
            *distillability_markdown(results),
            "",
            "### Where the robustness is lost",
            "",
            "Stitching the teacher's stream into the student's at every pair of layers "
            "(definitions.md: stitching and recovered robustness R, located layer); streams: "
            "T0 / S0 the embeddings, Tl / Sl after block l - 1.",
            "",
            *localisation_markdown(results),
            "",
            "### Circuits after their controls",
            "",
            "Status: finding (beats random circuits of its shape and takes at most a quarter of "
            "the units), distributed (beats chance but takes more), chance (does not beat "
            "chance), no behaviour (the model does not tell the pairs apart). Specific: control "
            "damage below half the target damage (their ratio in brackets). Mechanism: the "
            "verdict of cross-faithfulness (definitions.md).",
            "",
            *controls_summary_markdown(results),
            "",
            "Per seed:",
            "",
            *controls_markdown(results),
            "",
            "### Circuits across seeds",
            "",
            *consistency_markdown(results),
        ]
    return "\n".join(out).rstrip() + "\n"
