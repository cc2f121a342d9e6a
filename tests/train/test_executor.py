"""The executor: one scheduler for inline, local-process and Ray builds; retries and failure
reports; weights that depend on the recipe and seed only; Ctrl-C that stops every worker."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from interp.manifest import Manifest
from interp.models.weights import read_safetensors_metadata
from interp.train.trainer import STATE_KEY
from interp.train.zoo import BuildFailed, build_zoo

TINY = "{n_layers: 2, d_model: 16, n_heads: 2, d_mlp: 32}"
HEADER = """
version: 1
checkpoint_dir: ckpt
data:
  nli: {n_train: 600, n_in_distribution: 100, n_per_subcase: 6, n_negation: 30, n_augment: 50}
"""
MANIFEST = (
    HEADER
    + f"""
models:
  - {{id: bias, role: bias_model, task: nli, recipe: {{arch: features, loss: erm}}}}
  - {{id: teacher, role: teacher, task: nli, seeds: [0, 1],
     recipe: {{arch: {TINY}, loss: poe, bias_model: bias, steps: 12, params: {{batch_size: 8}}}}}}
  - {{id: student, role: student, task: nli, seeds: [0, 1],
     recipe: {{arch: {TINY}, loss: kd, teacher: teacher, steps: 12, params: {{batch_size: 8}}}}}}
"""
)


def write_manifest(folder: Path, text: str = MANIFEST) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "checkpoints_manifest.yaml"
    path.write_text(text)
    return path


def hashes(folder: Path) -> dict[str, str]:
    return {
        model.name: hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()
        for model in sorted((folder / "ckpt").iterdir())
        if (model / "config.json").exists()
    }


@pytest.fixture(scope="module")
def inline_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("inline")
    build_zoo(write_manifest(root), jobs=1, log=lambda line: None)
    return root


def test_weights_do_not_depend_on_the_number_of_jobs(inline_build, tmp_path):
    build_zoo(write_manifest(tmp_path), jobs=2, log=lambda line: None)
    assert hashes(tmp_path) == hashes(inline_build)
    assert len(hashes(tmp_path)) == 5
    info = json.loads((tmp_path / "ckpt" / "teacher-s1" / "train.json").read_text())
    assert info["environment"]["threads"] == 1 and info["environment"]["torch"]
    assert info["environment"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_ray_builds_the_same_weights_and_leaves_no_process_behind(inline_build, tmp_path):
    import ray

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    report = build_zoo(
        write_manifest(tmp_path), jobs=2, executor="ray", storage="ship", log=lambda line: None
    )
    assert not ray.is_initialized()
    assert len(report.built) == 5
    assert hashes(tmp_path) == hashes(inline_build)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        if not left:
            break
        time.sleep(0.5)
    assert left == []


def test_a_failing_recipe_is_retried_once_then_reported_and_the_rest_is_built(tmp_path):
    text = (
        HEADER
        + f"""
models:
  - {{id: bias, role: bias_model, task: nli, recipe: {{arch: features, loss: erm}}}}
  - {{id: broken, role: teacher, task: nli,
     recipe: {{arch: {TINY}, loss: erm, steps: 5, params: {{lr: -1.0}}}}}}
  - {{id: needs-broken, role: student, task: nli,
     recipe: {{arch: {TINY}, loss: kd, teacher: broken, steps: 5, params: {{batch_size: 8}}}}}}
  - {{id: fine, role: teacher, task: nli,
     recipe: {{arch: {TINY}, loss: poe, bias_model: bias, steps: 5, params: {{batch_size: 8}}}}}}
"""
    )
    path = write_manifest(tmp_path, text)
    logs = []
    with pytest.raises(BuildFailed) as failure:
        build_zoo(path, jobs=1, log=logs.append)
    report = failure.value.report
    assert sorted(report.built) == ["bias", "fine"]
    assert list(report.failed) == ["broken"] and "lr must be positive" in report.failed["broken"]
    assert report.blocked == {"needs-broken": ["broken"]}
    assert sum("broken: training" in line for line in logs) == 2  # tried, then retried once
    assert "1 model(s) failed: broken (lr must be positive" in str(failure.value)
    assert "1 not built for want of them: needs-broken" in str(failure.value)
    assert not (tmp_path / "ckpt" / "broken").exists()


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(process.cmdline()))
        except psutil.NoSuchProcess:
            pass
    return alive


def test_ctrl_c_stops_every_worker_leaves_no_partial_checkpoint_and_the_run_resumes(tmp_path):
    slow = "{n_layers: 2, d_model: 32, n_heads: 2, d_mlp: 64}"
    text = (
        HEADER
        + f"""
models:
  - {{id: bias, role: bias_model, task: nli, recipe: {{arch: features, loss: erm}}}}
  - {{id: teacher, role: teacher, task: nli, seeds: [0, 1],
     recipe: {{arch: {slow}, loss: poe, bias_model: bias, steps: 1500,
              params: {{batch_size: 16, checkpoint_every: 20}}}}}}
"""
    )
    path = write_manifest(tmp_path, text)
    command = [sys.executable, "-m", "interp.cli", "train", "--manifest", str(path), "--jobs", "2"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    partial = tmp_path / "ckpt" / ".partial"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(partial.glob("teacher-s*.safetensors"))) < 2:
        time.sleep(0.2)
    assert len(list(partial.glob("teacher-s*.safetensors"))) == 2, "training did not start"
    workers = psutil.Process(process.pid).children(recursive=True)
    assert len(workers) >= 2
    pressed = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    output, _ = process.communicate(timeout=30)
    assert time.monotonic() - pressed < 10
    assert process.returncode == 130, output.decode()
    assert b"interrupted" in output
    settle = time.monotonic() + 5  # the multiprocessing resource tracker follows its parent
    while _alive(workers) and time.monotonic() < settle:
        time.sleep(0.2)
    assert _alive(workers) == []
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == [".partial", "bias"]  # no teacher folder, complete or not, no staging folder

    saved = json.loads(read_safetensors_metadata(partial / "teacher-s0.safetensors")[STATE_KEY])
    report = build_zoo(Manifest.load(path), only=["teacher-s0"], jobs=1, log=lambda line: None)
    assert report.built == ["teacher-s0"]
    info = json.loads((tmp_path / "ckpt" / "teacher-s0" / "train.json").read_text())
    assert info["resumed_from"] == saved["step"] > 0
    assert not (partial / "teacher-s0.safetensors").exists()


def test_two_builds_into_one_folder_train_each_model_once(tmp_path):
    """Two `interp train` processes on one checkpoint folder: each model is trained by one of
    them; the other waits for its lock and finds it built."""
    path = write_manifest(tmp_path)
    command = [sys.executable, "-m", "interp.cli", "train", "--manifest", str(path)]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    models = ["bias", "teacher-s0", "teacher-s1", "student-s0", "student-s1"]
    for model_id in models:
        trained = sum(f"  {model_id}: built in " in out for out in outputs)
        assert trained == 1, (model_id, outputs)
    assert sorted(hashes(tmp_path)) == sorted(models)


def test_a_lock_left_by_a_killed_build_does_not_block_the_next(tmp_path):
    path = write_manifest(tmp_path)
    manifest = Manifest.load(path)
    lock = manifest.location("bias").parent / ".partial" / "bias.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("process 999999 on a machine that is gone")
    report = build_zoo(manifest, only=["bias"], jobs=1, log=lambda line: None)
    assert report.built == ["bias"] and report.seconds["bias"] is not None
