"""The workflow on a real SLURM: a single-node cluster (munge, slurmctld, slurmd from Debian's packages,
brought up by scripts/slurm-ci.sh) runs the tiny config's DAG with the command users type,
`snakemake --cores 8 --profile slurm`, after the documented set-up (`make slurm-profile`, here through
`scripts/slurm-ci.sh profile`, which runs the same `goldenlayers slurm-profile` with this cluster's settings)
installed the profile where Snakemake finds it by name (a temporary XDG_CONFIG_HOME).

The session fixture starts the cluster (installing the packages if needed: root and apt) and stops it
again, unless it was already running before the session (then whoever started it owns it). The run uses
`device: auto`, so the model jobs ask SLURM for a (fake) GPU exactly as on a real cluster, and run on the
CPU because no CUDA device is there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from workflow_copy import copy_workflow, job_stats, workflow_env
import yaml

from goldenlayers.chunks import chunk_name, split_into_chunks

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm-ci.sh"
TINY = "config/tiny.yaml"
# jobs that load a model request a GPU; data, aggregation, figure and publishing jobs must not
GPU_RULES = {"target_values", "edit", "edit_choice", "pre_edit", "layer_stats", "lga", "lga_test", "cma", "context_prefixes"}
CPU_RULES = ("load_dataset", "split_dataset", "collect_edits", "aggregate", "analyse", "fig",
             "publish", "verify_publish")
# download rules run on the submit host (localrules), like `all`
LOCAL_RULES = {"all", "fetch_dataset", "fetch_corpus", "prepare_model"}
COMMAND = ["snakemake", "--cores", "8", "--profile", "slurm"]
# One editor and one dataset keep the run at a few minutes: each SLURM job starts its own Snakemake and Python (about
# 5-8 s on this 2-core machine) and the plugin polls every ~14 s per DAG level.
EDITORS = 1
DATASETS = 1
RUN_TIMEOUT = 1500

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _sh(*args: str, timeout: int = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["timeout", "-k", "10", str(timeout), *args], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="session")
def slurm_cluster():
    if os.geteuid() != 0:
        pytest.skip("the SLURM test cluster needs root (daemons, /etc/slurm, apt-get)")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        pytest.skip("SLURM is not installed and apt-get is not available to install it")
    was_up = _sh("bash", str(SCRIPT), "status", timeout=60).returncode == 0
    up = _sh("bash", str(SCRIPT), "up", timeout=600)
    if up.returncode == 3:
        pytest.skip(f"could not install SLURM's Debian packages: {up.stderr.strip()[-500:]}")
    assert up.returncode == 0, f"slurm-ci.sh up failed:\n{up.stdout}\n{up.stderr}"
    yield
    if not was_up:
        down = _sh("bash", str(SCRIPT), "down", timeout=120)
        assert down.returncode == 0, down.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    if not (REPO / "workflow" / "Snakefile").exists() or not (REPO / TINY).exists():
        pytest.skip("the workflow (workflow/Snakefile, config/tiny.yaml) is not there yet")
    dst = copy_workflow(tmp_path_factory.mktemp("slurm") / "wf")
    config = yaml.safe_load((dst / TINY).read_text())
    config["device"] = "auto"  # model jobs request a GPU; no CUDA here, so they compute on the CPU
    config["editors"] = config["editors"][:EDITORS]
    config["datasets"] = dict(list(config["datasets"].items())[:DATASETS])
    # the copy's default config is the tiny one, so the command line needs no --configfile
    (dst / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dst


@pytest.fixture(scope="module")
def slurm_env(workdir, tmp_path_factory) -> dict[str, str]:
    """The copy's package first, the venv on PATH, and a private XDG_CONFIG_HOME holding the installed profile."""
    env = {**workflow_env(workdir), "XDG_CONFIG_HOME": str(tmp_path_factory.mktemp("xdg"))}
    installed = _sh("bash", str(SCRIPT), "profile", timeout=120, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    profile = Path(env["XDG_CONFIG_HOME"]) / "snakemake" / "slurm" / "config.yaml"
    assert profile.exists() and "slurm-status-command: squeue" in profile.read_text(), installed.stdout
    return env


def snakemake(workdir: Path, env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return _sh(*args, timeout=timeout, cwd=workdir, env=env)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, workdir, slurm_env):
    dry = snakemake(workdir, slurm_env, "snakemake", "-n", "--quiet", "rules")
    assert dry.returncode == 0, dry.stderr[-3000:]
    run = snakemake(workdir, slurm_env, *COMMAND, timeout=RUN_TIMEOUT)
    log = run.stdout + "\n" + run.stderr
    (workdir / "slurm-run.log").write_text(log)
    assert run.returncode == 0, f"the SLURM run failed (log in {workdir}/slurm-run.log):\n{log[-6000:]}"
    return log


def test_run_completes_and_nothing_is_left(slurm_run, workdir, slurm_env):
    again = snakemake(workdir, slurm_env, *COMMAND, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    for model in config["models"]:
        for dataset in config["datasets"]:
            for split in ("proxy", "test"):
                for chunk in split_into_chunks(config["layers"], config.get("layers_per_job", 10)):
                    path = (workdir / f"results/edits/{model}/{config['editors'][0]}/{dataset}/{split}"
                            f"/layers{chunk_name(chunk)}.parquet")
                    assert path.stat().st_size > 0, path
    assert list((workdir / "results" / "publish").glob("*.tar.gz")), "no published archive"


def test_every_job_went_through_sbatch(slurm_run, workdir):
    """Each job of the DAG (except local rules like `all`) was submitted to SLURM and left a SLURM log."""
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.", slurm_run)
    assert submitted, slurm_run[-3000:]
    for _, log in submitted:
        assert Path(log).exists(), log
    rules = {rule: n for rule, n in job_stats(slurm_run).items() if rule not in LOCAL_RULES}
    assert len(submitted) == sum(rules.values()), (len(submitted), rules)


def test_slurm_saw_the_jobs_and_gpu_requests(slurm_run):
    """squeue (finished jobs stay listed for MinJobAge) has every job of this run, COMPLETED, and the jobs
    that load a model carry a GPU request (sbatch --gpus=1 from the rule's gpu=1) while the others don't."""
    run_id = re.search(r"SLURM run ID: (\S+)", slurm_run)[1]
    table = _sh("squeue", "--states=all", "--noheader", f"--name={run_id}",
                "--Format=JobID:|,Comment:|,tres-per-job:|,State:", timeout=60)
    assert table.returncode == 0, table.stderr
    jobs = [line.split("|") for line in table.stdout.splitlines() if line.strip()]
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", slurm_run))
    assert {job[0].strip() for job in jobs} >= submitted
    seen_gpu_rules = set()
    for job_id, comment, tres, state in jobs:
        rule = re.match(r"rule_(.+?)(?:_wildcards_|$)", comment.strip())[1]
        assert state.strip() == "COMPLETED", (job_id, comment, state)
        wants_gpu = "gpu" in tres
        if rule in GPU_RULES:
            assert wants_gpu, (rule, tres)
            seen_gpu_rules.add(rule)
        if rule.startswith(CPU_RULES):
            assert not wants_gpu, (rule, tres)
    assert {"edit", "target_values"} <= seen_gpu_rules, seen_gpu_rules
