"""record-save and record-restore on a small git checkout (no Snakemake): what SAVED.json says about the code,
what is copied, what is refused. The whole resume procedure runs on the tiny config in tests/test_rerun.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from goldenlayers.errors import InputError
from goldenlayers.record import restore, save


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture()
def checkout(tmp_path) -> Path:
    """A committed checkout with code, a record folder holding an earlier sitting's benchmark file, a finished
    result and this sitting's benchmark files (one of them a rerun of the committed one)."""
    root = tmp_path / "run"
    (root / "src").mkdir(parents=True)
    (root / "src" / "code.py").write_text("x = 1\n")
    old = root / "record" / "m" / "benchmarks" / "edit" / "a.tsv"
    old.parent.mkdir(parents=True)
    old.write_text("s\n1.0\n")
    (root / "record" / "m" / "SAVED.json").write_text(json.dumps({"files": {}, "benchmarks": {
        "benchmarks/edit/a.tsv": "old"}}))
    _git(root, "init", "-q")
    _git(root, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "code and an earlier sitting")
    (root / "results" / "tables").mkdir(parents=True)
    (root / "results" / "tables" / "t.csv").write_text("a\n1\n")
    (root / "results" / "stats").mkdir()
    (root / "results" / "stats" / "layer0.safetensors").write_bytes(b"big")
    bench = root / "logs" / "benchmarks" / "edit"
    bench.mkdir(parents=True)
    (bench / "a.tsv").write_text("s\n2.0\n")      # the same job rerun in this sitting: a tracked file changes
    (bench / "b.tsv").write_text("s\n3.0\n")
    return root


def test_save_lists_results_and_benchmarks_and_calls_clean_code_clean(checkout):
    record = checkout / "record" / "m"
    counts = save(checkout, record)
    saved = json.loads((record / "SAVED.json").read_text())
    assert counts == {"copied": 1, "unchanged": 0}
    assert set(saved["files"]) == {"results/tables/t.csv"}          # statistics are rebuilt, never saved
    assert (record / "results" / "tables" / "t.csv").read_text() == "a\n1\n"
    assert set(saved["benchmarks"]) == {"benchmarks/edit/a.tsv", "benchmarks/edit/b.tsv"}
    assert (record / "benchmarks" / "edit" / "a.tsv").read_text() == "s\n2.0\n"
    # the save rewrote a tracked file of the record folder itself: that says nothing about the code
    assert saved["dirty"] is False and len(saved["commit"]) == 40


def test_an_unsaved_record_folder_is_not_changed_code(checkout):
    """An earlier sitting's save, not yet committed, changed tracked files of the record folder: still clean code."""
    (checkout / "record" / "m" / "benchmarks" / "edit" / "a.tsv").write_text("s\n9.0\n")
    save(checkout, checkout / "record" / "m")
    assert json.loads((checkout / "record" / "m" / "SAVED.json").read_text())["dirty"] is False


def test_save_calls_changed_code_dirty(checkout):
    (checkout / "src" / "code.py").write_text("x = 2\n")
    save(checkout, checkout / "record" / "m")
    assert json.loads((checkout / "record" / "m" / "SAVED.json").read_text())["dirty"] is True


def test_save_refuses_the_working_folder_as_its_record(checkout):
    with pytest.raises(InputError, match="folder of its own"):
        save(checkout, checkout)


def test_save_refuses_while_snakemake_holds_a_lock(checkout):
    locks = checkout / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("")
    with pytest.raises(InputError, match="Snakemake is running") as err:
        save(checkout, checkout / "record" / "m")
    assert "locks" in str(err.value)
    assert not (checkout / "record" / "m" / "results").exists()


def test_restore_fills_only_missing_files_and_checks_each_sha256(checkout, tmp_path):
    record = checkout / "record" / "m"
    save(checkout, record)
    fresh = tmp_path / "fresh"
    (fresh / "results" / "tables").mkdir(parents=True)
    listed = restore(record, fresh, fresh / "restored.txt")
    assert listed == ["results/tables/t.csv"]
    assert (fresh / "results" / "tables" / "t.csv").read_text() == "a\n1\n"
    assert (fresh / "restored.txt").read_text() == "results/tables/t.csv\n"
    (fresh / "results" / "tables" / "t.csv").write_text("newer local result\n")
    restore(record, fresh, fresh / "restored.txt")
    assert (fresh / "results" / "tables" / "t.csv").read_text() == "newer local result\n"
    (record / "results" / "tables" / "t.csv").write_text("tampered\n")
    with pytest.raises(InputError, match="sha256") as err:
        restore(record, tmp_path / "other", tmp_path / "other.txt")
    assert "t.csv" in str(err.value)


def test_a_resume_that_finds_everything_saved_changes_no_tracked_file(checkout):
    """A later sitting restores the record, rebuilds the statistics (a new benchmark file for the same job) and
    finds nothing to run: saving again leaves SAVED.json and the statistics' first benchmark file as they were."""
    record = checkout / "record" / "m"
    stats_bench = checkout / "logs" / "benchmarks" / "model" / "stats" / "corpus_n100_float32" / "layer0.tsv"
    stats_bench.parent.mkdir(parents=True)
    stats_bench.write_text("s\n7.6\n")
    save(checkout, record)
    saved = (record / "SAVED.json").read_bytes()
    kept = record / "benchmarks" / "model" / "stats" / "corpus_n100_float32" / "layer0.tsv"
    assert kept.read_text() == "s\n7.6\n"
    stats_bench.write_text("s\n8.9\n")            # the next sitting's rebuild of the same statistics
    (checkout / "src" / "code.py").write_text("x = 3\n")  # and other code: the save that made the files stays named
    assert save(checkout, record) == {"copied": 0, "unchanged": 1}
    assert (record / "SAVED.json").read_bytes() == saved
    assert kept.read_text() == "s\n7.6\n"
    # a job whose outputs are saved and that really reran still replaces its benchmark file
    (checkout / "logs" / "benchmarks" / "edit" / "b.tsv").write_text("s\n4.0\n")
    save(checkout, record)
    assert (record / "benchmarks" / "edit" / "b.tsv").read_text() == "s\n4.0\n"
    assert (record / "SAVED.json").read_bytes() != saved
