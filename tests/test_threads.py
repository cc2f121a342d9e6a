"""The analysis commands' threads: a count fixed by the machine or INTERP_THREADS, and a short
OpenMP spin set before torch loads."""

import subprocess
import sys

import pytest
import torch

from interp import threads


def test_interp_threads_sets_the_count_by_hand(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("INTERP_THREADS", "1")
        threads.apply_thread_setting()
        assert torch.get_num_threads() == 1
        monkeypatch.delenv("INTERP_THREADS")
        assert threads.thread_setting() is None  # torch's default: every core
        for bad in ("two", "0", "-1"):
            monkeypatch.setenv("INTERP_THREADS", bad)
            with pytest.raises(
                ValueError, match="INTERP_THREADS must be a whole number from 1 to 1024"
            ):
                threads.apply_thread_setting()
    finally:
        torch.set_num_threads(before)


def test_the_command_line_shortens_the_spin_before_torch_loads_and_keeps_a_users_value():
    probe = (
        "import os, sys; from interp.cli import main; main(['--version']); "
        "print(os.environ['GOMP_SPINCOUNT'], 'torch' in sys.modules)"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.split()[-2:] == [threads.SPIN_COUNT, "False"]
    env["GOMP_SPINCOUNT"] = "5"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["5", "False"]
