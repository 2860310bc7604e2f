"""`snakedeploy deploy-workflow` on this repository, run as a user would: a folder of one's own holding only
what snakedeploy writes (workflow/Snakefile with a module, config/, profiles/, LICENSE), not the repository.

The repository is a git snapshot of this checkout's tracked files, laid out as github.com/<owner>/<name> and
given to snakedeploy as a file:// URL: its GitHub provider clones it, checks out the commit, copies config/,
profiles/ and LICENSE and writes `github("<owner>/<name>", path="workflow/Snakefile", commit=...)`. There is no
network here, so that one source declaration is replaced by Snakemake's `gitfile(<snapshot>, ...)` at the same
commit, which, like github(), reads every workflow file from git through Snakemake's source cache (no checkout).
(snakedeploy's local-path provider cannot be used: it writes the module's snakefile as the relative path
"workflow/Snakefile", which is the deployment's own Snakefile.)

One module-scoped deployment of config/tiny.yaml: a dry run of the whole DAG, a dry run with the deployment's
config/hparams/ removed, and a real run of the data jobs (load and split, both datasets).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from workflow_copy import job_stats

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEDEPLOY = BIN / "snakedeploy"
OWNER_REPO = "goldenlayers-org/goldenlayers"
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-c", "advice.detachedHead=false"]


def _is_checkout() -> bool:
    return shutil.which("git") is not None and subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=REPO, capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SNAKEDEPLOY.exists(), reason="snakedeploy is not installed (pip install -e '.[test]')"),
    pytest.mark.skipif(not _is_checkout(), reason="needs git and a git checkout of the repository"),
]


@dataclass
class Deployment:
    source: Path  # the snapshot repository (what GitHub would hold)
    commit: str
    dest: Path  # the user's folder
    cache: Path  # XDG_CACHE_HOME of the runs: Snakemake's source cache lives below it


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def snapshot(target: Path) -> str:
    """This checkout's tracked files as they are now (edits included), committed to a new repository."""
    target.mkdir(parents=True)
    for name in git(REPO, "ls-files", "-z").split("\0"):
        if name and (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "snapshot")
    return git(target, "rev-parse", "HEAD").strip()


def snakemake(deployment: Deployment, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Snakemake in the user's folder; the jobs find `goldenlayers` on PATH (the installed package)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(deployment.cache),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["timeout", "-k", "10", "600", str(BIN / "snakemake"), *args], cwd=cwd or deployment.dest,
                          env=env, capture_output=True, text=True)


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Deployment:
    root = tmp_path_factory.mktemp("deploy")
    source = root / "github.com" / OWNER_REPO
    commit = snapshot(source)
    dest = root / "my-analysis"
    result = subprocess.run([str(SNAKEDEPLOY), "deploy-workflow", source.as_uri(), str(dest), "--commit", commit],
                            cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, output(result)[-4000:]
    snakefile = dest / "workflow" / "Snakefile"
    text = snakefile.read_text()
    declared = f'github("{OWNER_REPO}", path="workflow/Snakefile", commit="{commit}")'
    assert declared in text and "use rule * from goldenlayers" in text, text
    snakefile.write_text(text.replace(declared, f'gitfile("{source}", path="workflow/Snakefile", commit="{commit}")'))
    # the user's configuration: the tiny config as the deployment's config/config.yaml
    shutil.copy(dest / "config" / "tiny.yaml", dest / "config" / "config.yaml")
    return Deployment(source, commit, dest, root / "cache")


@pytest.fixture(scope="module")
def dry_run(deployment) -> subprocess.CompletedProcess:
    return snakemake(deployment, "-n", "-p")


@pytest.fixture(scope="module")
def data_run(deployment, dry_run) -> subprocess.CompletedProcess:
    targets = [f"results/data/{dataset}/{split}.parquet" for dataset in ("counterfact", "my_facts")
               for split in ("proxy", "test")]
    return snakemake(deployment, "--cores", "2", *targets)


def shell_commands(result: subprocess.CompletedProcess, subcommand: str) -> list[str]:
    """The `goldenlayers <subcommand>` lines Snakemake printed (-p, or printshellcmds in profiles/default)."""
    found = (re.match(rf"(?:Shell command: )?(goldenlayers {subcommand} .*)", line.strip())
             for line in output(result).splitlines())
    return [match[1] for match in found if match]


def option(command: str, name: str) -> str:
    return re.search(rf"{name} (\S+)", command)[1]


def test_snakedeploy_writes_the_users_folder(deployment):
    dest = deployment.dest
    for part in ("config/README.md", "config/tiny.yaml", "config/examples/knowedit_zsre.json",
                 "config/hparams/r-rome/llama.yaml", "profiles/default/config.yaml", "profiles/slurm/config.yaml",
                 "LICENSE"):
        assert (dest / part).is_file(), f"snakedeploy did not deploy {part}"
    # nothing else of the repository: the shipped samples must come from the workflow's source
    assert sorted(p.name for p in dest.iterdir()) == ["LICENSE", "config", "profiles", "workflow"]
    assert [p.name for p in (dest / "workflow").iterdir()] == ["Snakefile"]


def test_dry_run_plans_the_whole_dag_from_the_deployment(deployment, dry_run):
    text = output(dry_run)
    assert dry_run.returncode == 0, text[-6000:]
    assert "No such file" not in text and "MissingInput" not in text
    tiny = yaml.safe_load((deployment.dest / "config" / "config.yaml").read_text())
    counts = job_stats(text)
    n_datasets = len(tiny["datasets"])
    n_chunks = -(-len(tiny["layers"]) // tiny["layers_per_job"])
    assert counts["load_dataset"] == counts["split_dataset"] == n_datasets
    assert counts["edit"] == len(tiny["editors"]) * n_datasets * n_chunks
    assert counts["publish"] == counts["verify_publish"] == 1
    # the hyperparameters come from the deployment's own config/hparams/ (snakedeploy copied it there)
    edits = shell_commands(dry_run, "edit")
    assert edits
    assert {option(c, "--hparams") for c in edits} == {f"config/hparams/{e}/llama.yaml" for e in tiny["editors"]}


def test_hparams_come_from_the_workflow_when_the_deployment_has_none(deployment, dry_run, tmp_path):
    """Without config/hparams/ in the working directory, the workflow's own files (from its source, through
    Snakemake's cache) are used, like the samples."""
    bare = tmp_path / "bare"
    shutil.copytree(deployment.dest, bare, ignore=shutil.ignore_patterns("hparams", ".snakemake"))
    result = snakemake(deployment, "-n", "-p", cwd=bare)
    assert result.returncode == 0, output(result)[-6000:]
    edits = shell_commands(result, "edit")
    assert edits
    for command in edits:
        path = option(command, "--hparams")
        assert path.startswith(str(deployment.cache)), path
        assert f"{deployment.source}/config/hparams/" in path and path.endswith(f".yaml@{deployment.commit}"), path


def test_data_jobs_read_the_shipped_samples_from_the_workflows_source(deployment, data_run):
    text = output(data_run)
    assert data_run.returncode == 0, text[-6000:]
    assert "No such file" not in text
    dest = deployment.dest
    for dataset in ("counterfact", "my_facts"):
        for split in ("cases", "proxy", "test"):
            assert (dest / "results" / "data" / dataset / f"{split}.parquet").is_file(), (dataset, split)
    assert not (dest / "data").exists()

    # the benchmark sample: read from Snakemake's cached copy of the workflow's file at the deployed commit
    (load,) = [c for c in shell_commands(data_run, "load-dataset") if "--dataset counterfact" in c]
    read = option(load, "--input")
    sample = "data/benchmarks/counterfact/counterfact_sample.json"
    assert read.startswith(str(deployment.cache)) and f"{deployment.source}/{sample}@{deployment.commit}" in read
    cases = dest / "results/data/counterfact/cases.parquet"
    metadata = {k.decode(): v.decode() for k, v in pq.read_schema(cases).metadata.items()}
    assert metadata["source_file"] == sample  # named as shipped, not by the cache's temporary path
    assert len(pd.read_parquet(cases)) == len(json.loads((deployment.source / sample).read_text()))

    # a dataset of the user's own: its `path` is relative to the working directory (the deployment's config/)
    (load,) = [c for c in shell_commands(data_run, "load-dataset") if "--dataset my_facts" in c]
    assert option(load, "--input") == "config/examples/knowedit_zsre.json"
    mine = dest / "results/data/my_facts/cases.parquet"
    assert len(pd.read_parquet(mine)) == len(json.loads((dest / "config/examples/knowedit_zsre.json").read_text()))
    split = {s: len(pd.read_parquet(dest / f"results/data/counterfact/{s}.parquet")) for s in ("proxy", "test")}
    assert split == {"proxy": 2, "test": 2}
