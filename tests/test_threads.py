"""Analyses running at once share the cores, and a study's numbers do not depend on its
thread count."""

import json
import subprocess
import sys

import torch

from interp import threads
from interp.study import StudyConfig, run_study
from tests.test_study import study  # noqa: F401 (the tiny study fixture)


def test_a_second_analysis_takes_its_share_of_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "REGISTRY", tmp_path)
    monkeypatch.setattr(threads, "_held", [])
    before = torch.get_num_threads()
    try:
        # another live analysis: a child process holding its registration
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import fcntl, sys, time; h = open(sys.argv[1], 'w'); "
                "fcntl.flock(h, fcntl.LOCK_EX); print('ready', flush=True); time.sleep(60)",
                str(tmp_path / "999999.lock"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout.readline().strip() == "ready"
        (tmp_path / "999998.lock").write_text("")  # a stale registration: removed
        assert threads.running_analyses() == 1
        assert not (tmp_path / "999998.lock").exists()
        assert threads.share_cores(cores=4) == 2
        child.kill()
        child.wait()
        assert threads.running_analyses() == 0
    finally:
        torch.set_num_threads(before)
        for handle in threads._held:
            handle.close()


def test_interp_threads_sets_the_count_by_hand(monkeypatch, tmp_path):
    monkeypatch.setattr(threads, "REGISTRY", tmp_path)
    monkeypatch.setattr(threads, "_held", [])
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("INTERP_THREADS", "1")
        assert threads.share_cores(cores=8) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("INTERP_THREADS", "two")
        try:
            threads.share_cores()
        except ValueError as err:
            assert "INTERP_THREADS must be a positive integer" in str(err)
        else:
            raise AssertionError("a bad INTERP_THREADS was accepted")
    finally:
        torch.set_num_threads(before)
        for handle in threads._held:
            handle.close()


def test_the_study_gives_the_same_numbers_with_one_thread_or_two(study):  # noqa: F811
    cfg, path = study
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if before > 1 else 2)
        again = run_study(
            StudyConfig(**{**cfg.__dict__, "run": "threads", "build": False}), progress=False
        )
    finally:
        torch.set_num_threads(before)
    first = json.loads((path.parent / "results.json").read_text())
    second = json.loads((again.parent / "results.json").read_text())
    assert {**first, "run": None} == {**second, "run": None}
