"""The `interp` command line: manifest listing, errors, demo."""

import subprocess
import sys
from pathlib import Path

from interp.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_models_list_shows_entries_and_whether_they_exist(capsys):
    assert main(["models", "list", "--manifest", str(REPO / "checkpoints_manifest.yaml")]) == 0
    out = capsys.readouterr().out
    assert "minilm-l6" in out and "present" in out


def test_models_show_prints_the_architecture(capsys):
    manifest = str(REPO / "checkpoints_manifest.yaml")
    assert main(["models", "show", "minilm-l6", "--manifest", manifest]) == 0
    out = capsys.readouterr().out
    assert '"n_layers": 6' in out and '"present": true' in out


def test_a_bad_manifest_is_one_clear_line_and_exit_code_2(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text("models:\n  - id: x\n    role: teacher\n    task: nli\n    colour: red\n")
    assert main(["models", "list", "--manifest", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "manifest entry 'x': field 'colour': unknown field" in err
    assert "Traceback" not in err


def test_unknown_model_id_is_a_clear_error(capsys):
    manifest = str(REPO / "checkpoints_manifest.yaml")
    assert main(["models", "show", "nope", "--manifest", manifest]) == 2
    assert "no manifest entry 'nope'" in capsys.readouterr().err


def test_the_console_script_help_explains_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "interp.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("models", "probes", "demo"):
        assert command in result.stdout


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    result = subprocess.run(
        [sys.executable, "-m", "interp.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == f"interp {version('interp-distill')}"


def test_demo_checks_minilm_parity_and_finds_overlap_heads(capsys):
    from interp.demo import run_demo

    results = run_demo(n_examples=8)
    assert results["parity"]["hidden_states"] < 1e-4
    assert results["parity"]["attention_patterns"] < 1e-4
    for heads in results["overlap_heads"].values():
        assert len(heads) == 3 and heads[0][1] >= heads[-1][1]


def test_the_study_command_and_its_config_share_their_defaults():
    """interp.defaults is the one place: the parser's defaults are StudyConfig's."""
    from interp.analysis import AnalysisSettings
    from interp.cli import build_parser
    from interp.study import StudyConfig
    from interp.sweep import SweepConfig

    args = build_parser().parse_args(["study"])
    config = StudyConfig()
    pairs = {
        "manifest": "manifest",
        "out": "out",
        "device": "device",
        "pairs": "n_pairs",
        "target": "target",
        "min_separation": "min_separation",
        "ig_steps": "ig_steps",
        "attribution": "attribution",
        "bootstrap": "bootstrap",
        "units": "units",
        "time_budget_s": "time_budget_s",
        "chance_samples": "chance_samples",
        "jobs": "jobs",
    }
    for arg, field in pairs.items():
        assert getattr(args, arg) == getattr(config, field), arg
    # one settings object, built the same way from the options and from the configuration
    assert AnalysisSettings.of(args) == config.analysis == AnalysisSettings()
    sweep = build_parser().parse_args(["sweep", "scale-demo"])
    assert (sweep.bootstrap, sweep.jobs, sweep.out) == (
        SweepConfig.bootstrap,
        SweepConfig.jobs,
        SweepConfig.out,
    )
