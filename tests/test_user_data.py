"""Datasets of the user's own: any names, beside the benchmarks, one per format from config/examples/ (a few
real records each), by `path` and by `file://` URL. Checked with Snakemake on a copy of the workflow (dry runs
plus the data jobs only, no model): every user dataset is loaded and split, reaches the edit, locator and
aggregate jobs, a change to its file reruns exactly its dataset, and a pinned checksum that no longer matches
fails with a message naming the key to set."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_copy import copy_workflow, workflow_env

from goldenlayers.data.loaders import FORMATS, detect_format, load_cases

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "config" / "examples"
pytestmark = pytest.mark.slow


def test_every_format_has_a_minimal_example_that_loads():
    for fmt in FORMATS:
        path = EXAMPLES / f"{fmt}.json"
        assert detect_format(path) == fmt
        result = load_cases(path, fmt, "mine")
        assert len(result.cases) == result.n_records >= 4 and not result.skipped
        assert f"`{fmt}`" in (REPO / "config" / "README.md").read_text(), f"{fmt} is not documented"


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["timeout", "-k", "10", str(timeout), sys.executable, "-m", "snakemake",
                           "--replace-workflow-config", "--configfile", "config/mine.yaml", *args],
                          cwd=workdir, env=workflow_env(workdir), capture_output=True, text=True)


def planned(workdir: Path, *args: str) -> dict[str, dict]:
    """Dry run: output file -> {rule, input, reason} of each planned job."""
    result = snakemake(workdir, "-n", *args)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    jobs, job = {}, None
    for line in result.stdout.splitlines():
        header = re.fullmatch(r"(?:local)?rule (\S+):", line.strip())
        if header and not line.startswith(" "):
            job = {"rule": header[1], "input": [], "output": [], "reason": ""}
            continue
        if job is not None and line.startswith(" "):
            key, _, value = line.strip().partition(": ")
            if key in ("input", "output"):
                job[key] = [p for p in value.split(", ") if p]
                if key == "output":
                    for out in job["output"]:
                        jobs[out] = job
            elif key == "reason":
                job["reason"] = value
    return jobs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    dst = copy_workflow(tmp_path_factory.mktemp("mine") / "wf")
    config = yaml.safe_load((dst / "config" / "tiny.yaml").read_text())
    config["datasets"] = {"counterfact": {"source": "sample"}}
    (dst / "facts").mkdir()
    for fmt in FORMATS:
        (dst / "facts" / f"{fmt}.json").write_text((EXAMPLES / f"{fmt}.json").read_text())
        config["datasets"][f"my_{fmt}"] = {"path": f"facts/{fmt}.json", "format": fmt}
    config["datasets"]["by_url"] = {"url": (dst / "facts" / "counterfact.json").as_uri(), "format": "counterfact"}
    (dst / "config" / "mine.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dst


def user_datasets(workdir: Path) -> list[str]:
    return [d for d in yaml.safe_load((workdir / "config" / "mine.yaml").read_text())["datasets"] if d != "counterfact"]


def test_user_datasets_reach_every_stage(workdir):
    jobs = planned(workdir)
    for dataset in user_datasets(workdir):
        load = jobs[f"results/data/{dataset}/cases.parquet"]
        assert load["rule"] == "load_dataset" and ("/" + load["input"][0]).count("/facts/") == 1, load
        for needed in (f"results/tables/cases/tiny-llama/r-rome/{dataset}.parquet",
                       f"results/locate/tiny-llama/{dataset}/lga.parquet"):
            assert needed in jobs, needed
        assert f"results/tables/cases/tiny-llama/r-rome/{dataset}.parquet" in jobs["results/tables/golden_layers.csv"]["input"]
    assert not [out for out, job in jobs.items() if job["rule"] == "fetch_dataset"], "a local file is not fetched"


def test_data_jobs_then_a_changed_file_reruns_its_dataset_only(workdir):
    datasets = user_datasets(workdir)
    targets = [f"results/data/{d}/{split}.parquet" for d in datasets for split in ("proxy", "test")]
    done = snakemake(workdir, "--cores", "2", *targets)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    for dataset in datasets:
        cases = pd.read_parquet(workdir / f"results/data/{dataset}/cases.parquet")
        assert len(cases) == 4 and set(cases["dataset"]) == {dataset}
    assert not planned(workdir, *targets)
    facts = workdir / "facts" / "knowedit_recent.json"
    records = json.loads(facts.read_text())
    facts.write_text(json.dumps(records + records[:1]))  # the user adds a record
    jobs = planned(workdir, *targets)
    assert {job["rule"] for job in jobs.values()} == {"load_dataset", "split_dataset"}
    assert {out.split("/")[2] for out in jobs} == {"my_knowedit_recent"}, sorted(jobs)
    assert "facts/knowedit_recent.json" in jobs["results/data/my_knowedit_recent/cases.parquet"]["reason"]


def test_pinned_checksum_mismatch_names_the_key(workdir):
    """A local file whose content no longer matches its pinned sha256 (the user changed it): the load fails and
    its log says which key to set to accept the new file."""
    config = yaml.safe_load((workdir / "config" / "mine.yaml").read_text())
    pinned = copy.deepcopy(config)
    pinned["datasets"]["pinned"] = {"path": "facts/counterfact.json", "format": "counterfact", "sha256": "0" * 64}
    (workdir / "config" / "mine.yaml").write_text(yaml.safe_dump(pinned, sort_keys=False))
    try:
        failed = snakemake(workdir, "--cores", "1", "results/data/pinned/cases.parquet", timeout=300)
        assert failed.returncode == 1, (failed.stdout + failed.stderr)[-3000:]
        log = (workdir / "logs/load_dataset/pinned.log").read_text()
        assert "set datasets.pinned.sha256: " in log and "facts/counterfact.json" in log, log
        assert not (workdir / "results/data/pinned/cases.parquet").exists()
    finally:
        (workdir / "config" / "mine.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
