"""The study end to end on a tiny manifest: results, report, determinism, escaping, CLI."""

import json
from pathlib import Path

import pytest

from interp.cli import main
from interp.report import render
from interp.results import SCHEMA_VERSION, EvaluationResults, ModelAnalysis, StudyResults
from interp.study import StudyConfig, run_study

TINY = "{n_layers: 2, d_model: 16, n_heads: 2, d_mlp: 32}"
SMALLER = "{n_layers: 1, d_model: 16, n_heads: 2, d_mlp: 32}"
MANIFEST = f"""
version: 1
checkpoint_dir: ckpt
data:
  nli: {{n_train: 600, n_in_distribution: 100, n_per_subcase: 6, n_negation: 30, n_augment: 50}}
models:
  - {{id: bias, role: bias_model, task: nli, recipe: {{arch: features, loss: erm}}}}
  - {{id: teacher, role: teacher, task: nli, seeds: [0], tags: [demo],
     recipe: {{arch: {TINY}, loss: poe, bias_model: bias, steps: 40,
              params: {{batch_size: 16, lr: 3.0e-3}}}}}}
  - {{id: student, role: student, task: nli, seeds: [0], tags: [demo],
     recipe: {{arch: {SMALLER}, loss: kd, teacher: teacher, steps: 40,
              params: {{batch_size: 16, lr: 3.0e-3}}}}}}
  - {{id: alone, role: student, task: nli, seeds: [0], tags: [demo],
     recipe: {{arch: {SMALLER}, loss: nokd+poe, bias_model: bias, steps: 40,
              params: {{batch_size: 16, lr: 3.0e-3}}}}}}
pairs:
  - {{id: poe, teacher: teacher, student: student, baseline: alone,
     suites: [lexical_overlap, negation], seeds: [0], tags: [demo]}}
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    manifest = root / "checkpoints_manifest.yaml"
    manifest.write_text(MANIFEST)
    cfg = StudyConfig(
        manifest=str(manifest), out=str(root / "reports"), n_pairs=12, bootstrap=50, jobs=1
    )
    path = run_study(cfg, progress=False)
    return cfg, path


def test_the_study_writes_a_populated_report_and_tables(study):
    cfg, path = study
    out = path.parent
    assert path.name == "index.html" and out.name == "study-demo-s0"
    for name in ("results.json", "suites.csv", "subcases.csv", "distillability.csv", "nodes.csv"):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    assert results["models"] == ["teacher-s0", "student-s0", "alone-s0"]
    assert {r["bias_type"] for r in results["distillability"]} == {"overlap", "negation"}
    (pair,) = results["pairs"]
    assert set(pair["suites"]) == {"lexical_overlap", "negation"}
    part = pair["suites"]["lexical_overlap"]
    teacher = part["teacher"]
    # units="auto" picks position units for a model this small: each head and MLP twice
    assert teacher["units"] == "position" and teacher["units_choice"]["chosen"] == "position"
    assert len(teacher["attribution"]) == 2 * (2 * 2 + 2) and teacher["n_pairs"] == 12
    assert part["student"]["units"] == "position"
    assert "mechanism" in part["diff"]["extra"] and "mib" in teacher["curve"]
    node_map = part["diff"]["extra"]["correspondence"]["node_map"]
    assert set(node_map) == {"a0.h0", "a0.h1", "m0"}
    diff = part["diff"]
    mapped = set(diff["student_in_teacher_names"].values())
    assert set(diff["shared"]) == set(teacher["circuit"]["nodes"]) & mapped
    assert part["attention_example"]["tokens"][0] == "[CLS]"
    page = path.read_text(encoding="utf-8")
    assert page.index("Does the student keep the teacher") < page.index('id="mechanism"')
    assert page.index('id="mechanism"') < page.index('id="summary"')
    for heading in (
        "Distillability",
        "Accuracy by heuristic",
        "Head attribution",
        "Circuits",
        "Faithfulness curves",
        "Diverging heads",
        "Attention of a circuit head",
    ):
        assert heading in page
    rule = part["diff"]["extra"]["correspondence"]["extra"]["layer_map_rule"]
    assert rule == "behaviour"  # the tiny student was not started from the teacher's layers
    assert "Student layer → teacher layer: 0 → " in page
    assert page.count("<script") >= 6  # plotly.js once, then one script per figure
    assert "<script src=" not in page  # self-contained: plotly.js is inline


def test_results_json_is_the_typed_results_written_with_its_schema_version(study):
    _, path = study
    data = json.loads((path.parent / "results.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    results = StudyResults.read(path.parent / "results.json")
    assert results.to_data() == data  # one serialisation: reading and writing lose nothing
    part = results.comparisons[0].suites["lexical_overlap"]
    assert list(part.diff.extra.correspondence.layer_map) == [0]  # string keys read as layers


def test_the_same_study_twice_gives_identical_results(study):
    cfg, path = study
    first = (path.parent / "results.json").read_bytes()
    again = run_study(StudyConfig(**{**cfg.__dict__, "run": "again"}), progress=False)
    assert (again.parent / "results.json").read_bytes() == first.replace(
        b'"run": "study-demo-s0"', b'"run": "again"'
    )


def test_probe_text_with_markup_is_escaped_in_the_report(study):
    _, path = study
    results = StudyResults.read(path.parent / "results.json")
    attack = "<script>alert('probe')</script>"
    example = results.comparisons[0].suites["lexical_overlap"].attention_example
    example.text = f"the doctor said {attack} / the doctor said"
    example.tokens[1] = attack
    results.models[0] = attack
    page = render(results)
    assert attack not in page
    assert "&lt;script&gt;alert(&#x27;probe&#x27;)&lt;/script&gt;" in page


def test_the_cli_runs_the_study_and_the_single_model_commands(study, capsys):
    cfg, _ = study
    common = ["--manifest", cfg.manifest, "--out", cfg.out]
    assert (
        main(["study", "--no-build", "--pairs", "8", "--bootstrap", "20", "--run", "cli", *common])
        == 0
    )
    assert "report:" in capsys.readouterr().out
    assert main(["circuit", "--model", "teacher-s0", "--pairs", "8", *common]) == 0
    out = capsys.readouterr().out
    assert "circuit of " in out or "no circuit: the model does not tell" in out
    command = ["circuit", "--model", "teacher-s0", "--pairs", "8", "--attribution", "eap"]
    assert main([*command, *common]) == 0
    assert "Spearman of eap with exact" in capsys.readouterr().out
    written = json.loads((Path(cfg.out) / "circuit-teacher-s0-lexical_overlap.json").read_text())
    assert ModelAnalysis.model_validate(written).attribution_method == "eap"
    evaluated = Path(cfg.out) / "eval"
    assert main(["eval", "--bootstrap", "20", *common[:2], "--out", str(evaluated)]) == 0
    assert "tables written to" in capsys.readouterr().out
    text = (evaluated / "results.json").read_text()
    assert "NaN" not in text  # strict JSON: undefined numbers are null
    tables = EvaluationResults.read(evaluated / "results.json")
    assert {r.model for r in tables.suites} == {"teacher-s0", "student-s0", "alone-s0"}
    assert tables.to_data() == json.loads(text)
    assert main(["attention", "--model", "teacher-s0", "--suite", "negation", *common]) == 0
    assert "negation" in capsys.readouterr().out
    # lexical_overlap holds no negation word: that column is undefined, printed n/a, never nan
    assert main(["attention", "--model", "teacher-s0", "--suite", "lexical_overlap", *common]) == 0
    printed = capsys.readouterr().out
    assert "n/a" in printed and "nan" not in printed
    assert (
        main(
            ["diff", "--teacher", "teacher-s0", "--student", "student-s0", "--pairs", "8", *common]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "teacher only" in out and "mechanism: " in out
    localised = ["diff", "--teacher", "teacher-s0", "--student", "student-s0", "--localise"]
    assert main([*localised, "--pairs", "8", "--suite", "negation", *common]) == 0
    assert "  where: negation: the student answers" in capsys.readouterr().out
    written = json.loads((Path(cfg.out) / "diff-teacher-s0-student-s0-negation.json").read_text())
    assert set(written["localisation"]["bias"]) == {"negation"}
    assert main(["circuit", "--model", "teacher-s0", "--suite", "nope", *common]) == 2
    assert "unknown suite 'nope'" in capsys.readouterr().err


def test_results_are_byte_identical_across_processes_with_different_hash_seeds(study, tmp_path):
    """Sums over sets of component names must not depend on the process's string hashing."""
    import os
    import subprocess
    import sys

    cfg, _ = study
    outputs = []
    for hash_seed in ("1", "2"):
        run = f"hash-{hash_seed}"
        command = [sys.executable, "-m", "interp.cli", "study", "--no-build", "--manifest"]
        command += [cfg.manifest, "--out", str(tmp_path), "--run", run]
        command += ["--pairs", "12", "--bootstrap", "50"]
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run(command, check=True, env=env, capture_output=True, timeout=300)
        text = (tmp_path / run / "results.json").read_bytes()
        outputs.append(text.replace(run.encode(), b"RUN"))
    first, second = (o.decode().splitlines() for o in outputs)
    differing = [(a, b) for a, b in zip(first, second) if a != b]
    assert outputs[0] == outputs[1], differing[:5]


def test_the_report_defines_its_terms_as_the_docs_page_does(study):
    """The report links to nothing outside its folder; its definitions are the docs page's."""
    import re

    from interp.report.definitions import DEFINITIONS

    _, path = study
    page = path.read_text(encoding="utf-8")
    docs = (Path(__file__).parents[1] / "docs" / "definitions.md").read_text()
    for term, text in DEFINITIONS:
        assert f"**{term}**\n\n{text}\n" in docs
    assert "BENCHMARK.md" not in page
    markup = re.sub(r"<script.*?</script>", "", page, flags=re.DOTALL)  # plotly.js carries its own
    links = re.findall(r'href="([^"]+)"', markup)
    assert links and all(link.startswith("#") for link in links)
    assert "distillability D" in page and "faithfulness" in page


def test_the_findings_page_is_written_from_the_results(study, tmp_path, capsys):
    cfg, path = study
    results_path = path.parent / "results.json"
    out = tmp_path / "findings.md"
    assert main(["findings", f"Tiny study={results_path}", "--out", str(out)]) == 0
    page = out.read_text()
    results = json.loads(results_path.read_text())
    assert "## Tiny study" in page and "### Circuits across seeds" in page
    row = results["distillability"][0]
    assert f"{row['D_mean']:+.3f} [{row['D_ci_low']:+.3f}, {row['D_ci_high']:+.3f}]" in page
    validity = results["validity"][0]
    assert f"| teacher | 0 | {validity['in_distribution']:.3f} |" in page
    assert "**poe on lexical_overlap**" in page
    assert "### Circuits after their controls" in page
    for suite in ("lexical_overlap", "negation"):
        verdict = results["pairs"][0]["suites"][suite]["diff"]["extra"]["mechanism"]["verdict"]
        assert f"| poe | {suite} | 1 |" in page and f"| {verdict} |" in page


def test_a_study_at_edge_units_diffs_edge_circuits(study):
    cfg, _ = study
    path = run_study(
        StudyConfig(**{**cfg.__dict__, "run": "edges", "units": "edge", "build": False}),
        progress=False,
    )
    results = json.loads((path.parent / "results.json").read_text())
    part = results["pairs"][0]["suites"]["lexical_overlap"]
    for role in ("teacher", "student"):
        analysis = part[role]
        assert analysis["units"] == "edge"
        assert all("->" in unit for unit in analysis["attribution"])
        assert all("->" in unit for unit in analysis["circuit"]["nodes"])
    diff = part["diff"]
    assert all("->" in unit for unit in diff["extra"]["teacher_circuit_in_student_names"])
    assert diff["extra"]["mechanism"]["verdict"] in (
        "shared",
        "partly shared",
        "not shared",
        "undefined",
    )
    page = path.read_text(encoding="utf-8")
    assert "edge" in page and "Circuits" in page


def test_a_run_folder_holding_another_study_is_refused_unless_forced(study, tmp_path):
    cfg, path = study
    held = json.loads((path.parent / "results.json").read_text())
    assert [p["id"] for p in held["pairs"]] == ["poe-s0"]
    other = Path(cfg.out) / "other"
    other.mkdir()
    (other / "results.json").write_text(json.dumps({**held, "pairs": [{"id": "vit-s0"}]}))
    again = StudyConfig(**{**cfg.__dict__, "run": "other", "build": False})
    with pytest.raises(ValueError, match="holds another study .*--run NAME.*--force"):
        run_study(again, progress=False)
    assert json.loads((other / "results.json").read_text())["pairs"] == [{"id": "vit-s0"}]
    forced = run_study(StudyConfig(**{**again.__dict__, "force": True}), progress=False)
    assert json.loads((forced.parent / "results.json").read_text())["pairs"][0]["id"] == "poe-s0"
    assert StudyConfig(tags=["zoo"], seeds=[0, 1, 2]).run_name == "study-zoo-s0-1-2"


def test_a_users_folder_under_out_survives_every_command(study, capsys):
    """A run folder or an evaluation's --out that holds anything the command did not write is
    refused with one line, --force or not, and keeps its files; so is a study's folder named
    as an evaluation's --out."""
    cfg, path = study
    important = Path(cfg.out) / "important"
    important.mkdir()
    (important / "thesis.txt").write_text("x")
    common = ["--manifest", cfg.manifest, "--out", cfg.out, "--no-build", "--pairs", "8"]
    for force in ([], ["--force"]):
        assert main(["study", *common, "--run", "important", *force]) == 2
        err = capsys.readouterr().err
        assert "important: holds thesis.txt, which a study did not write" in err
        assert err.count("\n") == 1
    assert (important / "thesis.txt").read_text() == "x"
    study_files = sorted(p.name for p in path.parent.iterdir())
    for out in (important, path.parent):
        assert (
            main(["eval", "--manifest", cfg.manifest, "--bootstrap", "5", "--out", str(out)]) == 2
        )
        assert "which interp eval did not write" in capsys.readouterr().err
    assert sorted(p.name for p in path.parent.iterdir()) == study_files
    # a file whose name is a built-in suite's is refused, not merged into that suite
    named_like = Path(cfg.out).parent / "lexical_overlap.jsonl"
    named_like.write_text('{"sentence1": "a b", "sentence2": "a", "gold_label": "neutral"}\n')
    evaluation = ["eval", "--manifest", cfg.manifest, "--out", str(Path(cfg.out) / "mnli")]
    assert main([*evaluation, "--mnli", str(named_like)]) == 2
    assert "suite name lexical_overlap given twice" in capsys.readouterr().err
    assert (important / "thesis.txt").read_text() == "x"


def test_a_tag_cannot_lead_the_run_folder_outside_out(study, tmp_path):
    cfg, _ = study
    escaping = StudyConfig(**{**cfg.__dict__, "tags": ["../../../x"], "build": False})
    with pytest.raises(ValueError, match="run name made from the tags.*pass --run NAME"):
        run_study(escaping, progress=False)
    with pytest.raises(ValueError, match="--run"):
        run_study(StudyConfig(**{**cfg.__dict__, "run": "a\u202eb", "build": False}))


def test_only_known_input_problems_skip_a_suite(study, monkeypatch):
    """A suite with nothing to analyse (NotAnalysable) is recorded as skipped with its reason;
    any other error inside an analysis stops the study instead of hiding as a skipped suite."""
    import interp.study as study_module
    from interp.errors import NotAnalysable

    cfg, _ = study
    quick = {**cfg.__dict__, "build": False, "suites": ["negation"]}

    def nothing_to_analyse(*args, **kwargs):
        raise NotAnalysable("no minimal pair to analyse: (test)")

    monkeypatch.setattr(study_module, "_analyse_suite", nothing_to_analyse)
    path = run_study(StudyConfig(**{**quick, "run": "skipped"}), progress=False)
    (pair,) = json.loads((path.parent / "results.json").read_text())["pairs"]
    assert pair["skipped"] == {"negation": "no minimal pair to analyse: (test)"}

    def bug(*args, **kwargs):
        raise ValueError("a bug inside the analysis")

    monkeypatch.setattr(study_module, "_analyse_suite", bug)
    with pytest.raises(ValueError, match="a bug inside the analysis"):
        run_study(StudyConfig(**{**quick, "run": "bug"}), progress=False)


def test_every_comparison_is_localised_with_a_verdict_per_bias_type(study):
    """The localisation is defined whether or not the student has a circuit: one verdict per
    bias type, in the results, the summary and the report's second panel."""
    cfg, path = study
    results = StudyResults.read(path.parent / "results.json")
    assert results.settings.localise
    (comparison,) = results.comparisons
    loc = comparison.localisation
    assert loc is not None and comparison.not_localised is None
    assert set(loc.bias) == {"overlap", "negation"}
    assert loc.positions == "all" and loc.nokd_student == "alone-s0" and loc.seed_teacher is None
    assert len(loc.cka_readout) == 3 and len(loc.cka_readout[0]) == 2  # 2 + 1 by 1 + 1 streams
    for bias, part in loc.bias.items():
        assert part.verdict.startswith(f"{bias}: the student answers")
        assert ("no layer is located" in part.verdict) == (part.located is None)
        assert len(part.probes.accuracy["teacher"]) == 3
        assert set(part.readout_dissimilarity) == {"teacher_student", "student_nokd"}
    page = path.read_text(encoding="utf-8")
    assert '<h2 id="where">Where is the robustness lost?</h2>' in page
    assert page.index('id="where"') < page.index('id="mechanism"')
    from interp.report.page import summary_lines

    assert any(line.startswith("poe-s0: overlap: ") for line in summary_lines(results))


def test_weights_that_change_during_a_study_stop_it_and_the_digests_are_recorded(
    study, monkeypatch
):
    """A model rebuilt by another process between evaluation and analysis would mix two models
    in one report: the study stops instead; results.json records each model's weight digest."""
    from interp.errors import InterpError
    from interp.manifest import Manifest

    cfg, path = study
    results = StudyResults.read(path.parent / "results.json")
    assert set(results.weights_sha256) == set(results.models)
    assert all(len(d) == 64 for d in results.weights_sha256.values())
    reads = []
    real = Manifest.weights_digest

    def rebuilt_meanwhile(self, model_id):
        reads.append(model_id)
        digest = real(self, model_id)
        return digest if len(reads) <= len(results.models) else "0" * 64

    monkeypatch.setattr(Manifest, "weights_digest", rebuilt_meanwhile)
    again = StudyConfig(**{**cfg.__dict__, "run": "rebuilt", "build": False, "localise": False})
    with pytest.raises(InterpError, match="changed during the study .*run the study again"):
        run_study(again, progress=False)
    assert not (Path(cfg.out) / "rebuilt").exists()
