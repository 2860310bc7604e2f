"""The faults that need Snakemake itself, on one shared run of the tiny config (a copy of the workflow).

The module-scoped run builds one edit job's outputs (7 jobs: model, data, split, prefixes, pre-edit, target
values, edit of the chunk of layers 1-2). OTHER is the user dataset's edit of that chunk, not built. Each test starts from that state and leaves it complete again:

- errors found while the workflow is read print one line naming the config file and key, exit 2;
- a damaged (truncated) target-values cache stops the run before any job, naming the file to remove, and
  the earlier edit outputs stay; once removed, the next job that reads it rebuilds it;
- a deleted output is rebuilt, and only it (Snakemake's plan);
- a failed job's one-line message reaches the terminal (profile `show-failed-logs`);
- kill -9 of a job's shell kills the job's python too, a second Snakemake run at the same time is refused,
  and the rerun plans the job again;
- kill -9 of Snakemake: after `--unlock` the rerun plans the interrupted job again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from workflow_copy import copy_workflow, workflow_env

REPO = Path(__file__).resolve().parents[1]
TINY = "config/tiny.yaml"
MODEL = "tiny-llama"
EDIT = f"results/edits/{MODEL}/rome/counterfact/proxy/layers1-2.parquet"
EDIT_TEST = EDIT.replace("/proxy/", "/test/")
OTHER = f"results/edits/{MODEL}/rome/my_facts/proxy/layers1.parquet"  # my_facts has its own grid: layer 1

pytestmark = pytest.mark.slow


def _cmd(*args: str, timeout: int = 900) -> list[str]:
    return ["timeout", "-k", "10", str(timeout), sys.executable, "-m", "snakemake", "--replace-workflow-config",
            "--configfile", TINY, "--cores", "2", *args]


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args, timeout=timeout), cwd=workdir, env=workflow_env(workdir),
                          capture_output=True, text=True)


def _values_file(workdir: Path) -> Path:
    [path] = sorted((workdir / "results/values" / MODEL).glob("*/counterfact/mlp1-2.safetensors"))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("faults") / "wf")
    result = snakemake(workdir, EDIT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert (workdir / EDIT).exists() and (workdir / EDIT_TEST).exists()
    return workdir


def _one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode == 2, (result.stdout + result.stderr)[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("goldenlayers: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


def test_dag_time_errors_are_one_line_naming_file_and_key(built):
    config = yaml.safe_load((built / TINY).read_text())
    config["editor_overrides"]["rome"]["v_num_grad_step"] = 3
    (built / "config/typo.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(built, "-n", "--configfile", "config/typo.yaml")
    _one_line_error(result, "config/typo.yaml", "editor_overrides.rome.v_num_grad_step", "unknown hyperparameter")

    hparams = built / "config/hparams/rome/llama.yaml"
    saved = hparams.read_text()
    try:
        changed = saved.replace("v_weight_decay: 0.001", "v_weight_decay: .inf")
        assert changed != saved
        hparams.write_text(changed)
        result = snakemake(built, "-n")
        _one_line_error(result, "config/hparams/rome/llama.yaml", "v_weight_decay", "finite")
    finally:
        hparams.write_text(saved)


def _planned(workdir: Path, target: str) -> set[str]:
    """The rules a dry run of ``target`` would run."""
    result = snakemake(workdir, "-n", target)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return {line.strip()[len("rule "):-1] for line in result.stdout.splitlines() if line.startswith("rule ")}


def test_deleted_output_is_rebuilt_alone(built):
    aside = built / "aside.parquet"
    os.replace(built / EDIT, aside)
    try:
        assert _planned(built, EDIT) == {"edit"}
    finally:
        os.replace(aside, built / EDIT)  # rename keeps its times: the state is complete again
    assert _planned(built, EDIT) == set()


def test_damaged_cache_stops_the_run_naming_the_file_and_keeps_outputs(built):
    values = _values_file(built)
    before = {path: (built / path).read_bytes() for path in (EDIT, EDIT_TEST)}
    with open(values, "r+b") as handle:
        handle.truncate(values.stat().st_size // 2)
    for args in (["-n"], [EDIT]):  # a dry run and a real run both stop before any job
        line = _one_line_error(snakemake(built, *args), str(values.relative_to(built)), "truncated",
                               "target_values", f"rm {values.relative_to(built)}")
    assert {path: (built / path).read_bytes() for path in before} == before, "good outputs were touched"
    values.unlink()  # what the message says to do
    result = snakemake(built, EDIT)  # the edits made from the good file stay as they are
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert {path: (built / path).read_bytes() for path in before} == before
    # the next job that reads the values (R-ROME shares ROME's in the tiny config) rebuilds them first
    assert "target_values" in _planned(built, EDIT.replace("/rome/", "/r-rome/"))


def test_failed_job_message_reaches_the_terminal(built):
    weights = built / f"resources/models/{MODEL}/model.safetensors"
    saved = weights.read_bytes()
    before = (built / EDIT).read_bytes()
    try:
        damaged = bytearray(saved)
        damaged[-100] ^= 0xFF
        weights.write_bytes(bytes(damaged))
        result = snakemake(built, OTHER)
        assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
        shown = result.stdout + result.stderr
        assert re.search(r"goldenlayers (values|pre-edit): error:", shown), shown[-3000:]
        assert "model.safetensors" in shown and "sha256" in shown
    finally:
        weights.write_bytes(saved)
    assert (built / EDIT).read_bytes() == before
    assert not (built / OTHER).exists()


def _job_processes(snake: subprocess.Popen, timeout: float = 300) -> tuple[psutil.Process, psutil.Process]:
    """(the goldenlayers python of the first target_values job that starts, its parent) among Snakemake's
    descendants."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert snake.poll() is None, "Snakemake ended before a job started"
        for proc in psutil.Process(snake.pid).children(recursive=True):
            try:
                cmdline = proc.cmdline()
            except psutil.NoSuchProcess:
                continue
            if any(part.endswith("goldenlayers") for part in cmdline[:2]) and "values" in cmdline:
                return proc, proc.parent()
        time.sleep(0.2)
    pytest.fail("no goldenlayers job started")


def test_killed_job_leaves_no_process_and_a_second_run_is_refused(built):
    snake = subprocess.Popen(_cmd(OTHER), cwd=built, env=workflow_env(built), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        job, shell = _job_processes(snake)
        second = snakemake(built, OTHER.replace("/proxy/", "/test/"))
        assert second.returncode != 0 and "cannot be locked" in second.stdout + second.stderr
        assert job.pid != shell.pid and shell.pid != snake.pid, "the job has no shell wrapper to kill"
        os.kill(shell.pid, signal.SIGKILL)
        job.wait(timeout=30)  # dies with its shell (PR_SET_PDEATHSIG), psutil.TimeoutExpired otherwise
        output, _ = snake.communicate(timeout=300)
        assert snake.returncode == 1, output[-3000:]
    finally:
        if snake.poll() is None:
            snake.kill()
    assert not (built / OTHER).exists()
    assert {"target_values", "edit"} <= _planned(built, OTHER)  # the killed job is simply redone


def test_killed_snakemake_then_unlock_and_rerun_plans_the_job(built):
    target = OTHER.replace("/rome/", "/r-rome/")
    snake = subprocess.Popen(_cmd(target), cwd=built, env=workflow_env(built), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        job, shell = _job_processes(snake)
        orphans = [shell, job]
        snake.kill()
        snake.wait()
        for proc in orphans:  # what the user's shell does on logout; we end only the processes this test started
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
    finally:
        if snake.poll() is None:
            snake.kill()
    assert snakemake(built, "--unlock").returncode == 0
    assert {"target_values", "edit"} <= _planned(built, target)  # nothing half-done is taken as done
