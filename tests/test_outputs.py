"""Output folders: a user's folder is never replaced, one writer at a time, leftovers cleared."""

import multiprocessing
import os

import pytest

from interp.checks import is_folder_name, printable
from interp.errors import InterpError
from interp.io import write_folder
from interp.outputs import EVALUATION_FILES, STUDY_FILES, check_replaceable, output_lock


def test_a_folder_holding_anything_else_is_refused_and_kept(tmp_path):
    run = tmp_path / "important"
    run.mkdir()
    (run / "thesis.txt").write_text("x")
    (run / "results.json").write_text("{}")
    with pytest.raises(InterpError, match=r"important: holds thesis.txt, which a study did not"):
        check_replaceable(run, STUDY_FILES, "a study", "pass --run NAME")
    assert (run / "thesis.txt").read_text() == "x"


def test_subfolders_links_and_another_commands_files_are_foreign(tmp_path):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "index.html").symlink_to(tmp_path)
    with pytest.raises(InterpError, match="holds index.html, model"):
        check_replaceable(run, STUDY_FILES, "a study", "x")
    study = tmp_path / "study"
    study.mkdir()
    for name in STUDY_FILES:
        (study / name).write_text("")
    check_replaceable(study, STUDY_FILES, "a study", "x")  # a study's own files: replaceable
    with pytest.raises(InterpError, match="index.html, nodes.csv, timings.json, which interp"):
        check_replaceable(study, EVALUATION_FILES, "interp eval", "x")
    check_replaceable(tmp_path / "absent", STUDY_FILES, "a study", "x")
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(InterpError, match="not a folder"):
        check_replaceable(file, STUDY_FILES, "a study", "x")


def _hold_lock(folder, ready, release):
    with output_lock(folder, "x"):
        ready.set()
        release.wait(30)


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path):
    folder = tmp_path / "run"
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(folder, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(InterpError, match=rf"run: process {holder.pid} on .* is writing it"):
            with output_lock(folder, "pass --run NAME"):
                pass
    finally:
        release.set()
        holder.join(30)
    with output_lock(folder, "x"):  # free again once its holder is done
        pass


def test_the_lock_holder_removes_an_interrupted_writers_staging_folders(tmp_path):
    folder = tmp_path / "run"
    stale = [tmp_path / ".run.tmp.abc", tmp_path / ".run.old.def"]
    for path in stale:
        (path / "inner").mkdir(parents=True)
    other = tmp_path / ".other.tmp.abc"
    other.mkdir()
    with output_lock(folder, "x"):
        write_folder(folder, lambda f: (f / "results.json").write_text("{}"))
    assert not any(path.exists() for path in stale)
    assert other.exists() and (folder / "results.json").exists()
    assert sorted(os.listdir(tmp_path)) == [".other.tmp.abc", ".run.lock", "run"]


def test_folder_names_refuse_overrides_and_printing_shows_escapes():
    assert not is_folder_name("run\u202etxt.exe")
    assert not is_folder_name("a\x1b[2Jb")
    assert is_folder_name("study-demo-s0") and is_folder_name("étude")
    assert printable("entail\x1b[2J\u202e") == "entail\\x1b[2J\\u202e"
    assert printable("négation") == "négation"
