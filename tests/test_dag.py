"""CI dry-runs of the DAG: the paper's job counts follow from its config, and `snakemake --lint` is clean.

Nothing here runs a job: `snakemake -n` on a copy of the workflow in a temporary directory, so the
repository's own results/ and .snakemake/ are never read or written.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from goldenlayers.config import layer_grid
from workflow_copy import copy_workflow, job_stats, workflow_env
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SPLITS = 2  # proxy and test

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REPO / "workflow" / "Snakefile").exists() or not (REPO / "config" / "paper.yaml").exists(),
                       reason="the workflow (Snakefile, config/paper.yaml) is not there yet"),
]



def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run Snakemake in workdir (always under `timeout -k`, a stuck Snakemake can ignore SIGTERM)."""
    env = workflow_env(workdir)
    cmd = ["timeout", "-k", "10", str(timeout), *SNAKEMAKE, *args]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)


def layer_count(paper: dict, model: str) -> int:
    """How many layers the paper config's grid gives for ``model`` (the workflow's own resolution of the grid)."""
    return len(layer_grid(paper, model))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("dag") / "wf")


@pytest.fixture(scope="module")
def paper() -> dict:
    return yaml.safe_load((REPO / "config" / "paper.yaml").read_text())


@pytest.fixture(scope="module")
def paper_counts(workdir) -> dict[str, int]:
    result = snakemake(workdir, "-n", "--quiet", "rules", "--configfile", "config/paper.yaml", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = job_stats(result.stdout + "\n" + result.stderr)
    assert counts, f"no job table in the dry run:\n{result.stdout[-2000:]}"
    return counts


def test_paper_models_have_the_papers_depth(paper):
    depths = {spec.get("hub_id", name): spec["num_layers"] for name, spec in paper["models"].items()}
    assert sorted(depths.values()) == [32, 48, 48], depths
    assert paper["layers"] == "all"


def chunk_count(paper) -> int:
    """Chunks of layers per (editor, dataset), summed over the models: ceil(grid / layers_per_job) each."""
    per_job = paper["layers_per_job"]
    return sum(-(-layer_count(paper, model) // per_job) for model in paper["models"])


def test_paper_edit_jobs_are_grouped_by_chunks_of_layers(paper, paper_counts):
    """models x editors x datasets x layers (GPT-2 XL 48, LLaMA2-7B 32, Gemma3-12B 48) is 2,560 (model, editor,
    dataset, layer) edits of both splits; with 16 layers per job (3 + 2 + 3 chunks) they are 160 jobs, so the
    model is loaded 16x less often."""
    layers = sum(layer_count(paper, model) for model in paper["models"])
    assert layers * len(paper["editors"]) * len(paper["datasets"]) * SPLITS == (48 + 32 + 48) * 4 * 5 * 2 == 5120
    assert paper["layers_per_job"] == 16 and chunk_count(paper) == 3 + 2 + 3
    expected = chunk_count(paper) * len(paper["editors"]) * len(paper["datasets"])
    assert paper_counts["edit"] == expected == 160, paper_counts
    assert layers * len(paper["editors"]) * len(paper["datasets"]) / paper_counts["edit"] >= 10
    # the unedited predictions once per (model, dataset), shared by every layer and editor
    assert paper_counts["pre_edit"] == len(paper["models"]) * len(paper["datasets"]), paper_counts


def test_paper_target_values_are_shared(paper, paper_counts):
    """ROME and R-ROME optimise the same v* (same value hyperparameters, the MLP of the layer), MEMIT and EMMET
    the same z (the window's top block): one target_values job per (model, dataset, chunk of sites), half the
    edit jobs' count with four editors."""
    assert set(paper["editors"]) == {"rome", "r-rome", "memit", "emmet"}
    assert paper_counts["target_values"] == chunk_count(paper) * 2 * len(paper["datasets"]) == 80, paper_counts
    assert paper_counts["edit"] == 2 * paper_counts["target_values"]


def test_paper_per_dataset_and_per_model_jobs(paper, paper_counts):
    n_models, n_datasets, n_editors = len(paper["models"]), len(paper["datasets"]), len(paper["editors"])
    expected = {
        "prepare_model": n_models,
        "load_dataset": n_datasets,
        "split_dataset": n_datasets,
        "fetch_dataset": sum(1 for d in paper["datasets"].values() if (d or {}).get("source") == "download"),
        "collect_edits": n_models * n_editors * n_datasets,
        "aggregate": 1,
        "analyse": 1,
        "publish": 1,
    }
    for kind in ("lga", "cma"):
        if (paper.get(kind) or {}).get("enabled", True):
            expected[kind] = n_models * n_datasets
            # each locator is judged at its own layer: one edit_choice job per (model, editor, dataset)
            expected["edit_choice"] = expected.get("edit_choice", 0) + n_models * n_editors * n_datasets
            if kind == "lga":  # and on the test split, for each test case's own layer (rule lga_test)
                expected["lga_test"] = n_models * n_datasets
    # rules of this list that the DAG has must have exactly these counts; edit/lga/cma/prepare must exist
    for rule in ("prepare_model", "load_dataset", "lga", "lga_test", "cma"):
        if rule in expected:
            assert rule in paper_counts, f"no {rule} jobs in the paper DAG: {paper_counts}"
    wrong = {rule: (paper_counts[rule], n) for rule, n in expected.items()
             if rule in paper_counts and paper_counts[rule] != n}
    assert not wrong, f"(found, expected) per rule: {wrong}"


@pytest.mark.parametrize("configfile", ["config/tiny.yaml", "config/paper.yaml"])
def test_lint_is_clean(workdir, configfile):
    if not (workdir / configfile).exists():
        pytest.skip(f"{configfile} is not there yet")
    result = snakemake(workdir, "--lint", "--configfile", configfile, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Lints for" not in output, output[-4000:]


def test_a_dataset_can_override_the_split_and_the_locator_sets(workdir):
    """datasets.<name>.split, .lga and .cma override the global split and locator proxy sizes for that dataset
    only (e.g. fewer cases for WikiBio, whose long targets and prompts make every edit and trace costly)."""
    config = yaml.safe_load((workdir / "config/tiny.yaml").read_text())
    config["lga"]["proxy_size"], config["cma"]["proxy_size"] = 6, 5
    config["datasets"]["zsre"] = {"source": "sample", "split": {"proxy_size": 1, "test_size": 3},
                                  "lga": {"proxy_size": 3}, "cma": {"proxy_size": None}}
    (workdir / "config/tiny-split.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "-p", "--forceall", "--replace-workflow-config", "--configfile",
                       "config/tiny-split.yaml")
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    commands = {m[1]: m[0] for m in re.finditer(r"goldenlayers split-dataset --input results/data/(\w+)/\S+ .*", text)}
    assert "--proxy-size 1 --test-size 3" in commands["zsre"], commands
    assert "--proxy-size 2 --test-size 2" in commands["counterfact"], commands
    for kind, sizes in (("lga", {"zsre": "--proxy-size 3", "counterfact": "--proxy-size 6"}),
                        ("cma", {"zsre": None, "counterfact": "--proxy-size 5"})):
        located = {m[1]: m[0] for m in re.finditer(rf"goldenlayers {kind} .*--cases results/data/(\w+)/proxy\.parquet.*", text)}
        for dataset, size in sizes.items():
            if size is None:  # null: the proxy split alone, no topping up
                assert "--pool" not in located[dataset] and "--proxy-size" not in located[dataset], located
            else:
                assert f"--pool results/data/{dataset}/cases.parquet" in located[dataset], located
                assert size in located[dataset], located


def test_a_dataset_can_have_its_own_layer_grid(workdir):
    """datasets.<name>.layers narrows the edit grid for that dataset only (e.g. every third layer for WikiBio,
    whose sentence-long targets make each edit costly); the other datasets keep the global grid, the locators
    mark that dataset's grid, and an editor_scope grid is narrowed to the layers both name."""
    config = yaml.safe_load((workdir / "config/tiny.yaml").read_text())
    config["layers"], config["layers_per_job"] = [0, 1, 2, 3], 2
    config["editors"] = ["r-rome", "memit"]
    config["editor_scope"] = {"memit": {"layers": [1, 2, 3]}}
    config["multi_layer"] = {"window": 2}
    config["datasets"]["zsre"] = {"source": "sample", "layers": {"start": 0, "step": 2}}
    (workdir / "config/tiny-grid.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "-p", "--forceall", "--replace-workflow-config", "--configfile",
                       "config/tiny-grid.yaml")
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    outputs = set(re.findall(r"results/edits/tiny-llama/([\w-]+)/(\w+)/test/layers([\d_-]+)\.parquet", text))
    assert {(e, c) for e, d, c in outputs if d == "zsre"} == {("r-rome", "0_2"), ("memit", "2")}, outputs
    assert {(e, c) for e, d, c in outputs if d == "counterfact"} == {
        ("r-rome", "0-1"), ("r-rome", "2-3"), ("memit", "1-2"), ("memit", "3")}, outputs
    for kind in ("lga", "cma"):
        grids = {m[2]: m[1] for m in re.finditer(rf"goldenlayers {kind} .*--grid (\S+) .*--cases results/data/(\w+)/proxy\.parquet", text)}
        assert (grids["zsre"], grids["counterfact"]) == ("0,2", "0,1,2,3"), (kind, grids)
    # the edits at the locators' own layers reuse exactly the dataset's own grid edits
    choice = {m[2]: sorted(re.findall(r"layers([\d_-]+)\.parquet", m[1])) for m in re.finditer(
        r"goldenlayers edit-choice .*?--grid-results ((?:\S+ )+)--pre-edit results/pre_edit/tiny-llama/(\w+)\.parquet"
        r".*--editor r-rome ", text)}
    assert choice["zsre"] == ["0_2"] and choice["counterfact"] == ["0-1", "2-3"], choice


@pytest.mark.parametrize("failed", ["drop", "unedited"])
def test_failed_edits_scored_as_unedited_read_the_pre_edit_files(workdir, failed):
    """analysis.failed: unedited makes the aggregate and analyse jobs read every (model, dataset)'s pre-edit file
    and pass it on; the other policies do not depend on those files."""
    config = yaml.safe_load((workdir / "config/tiny.yaml").read_text())
    config.setdefault("analysis", {})["failed"] = failed
    (workdir / f"config/tiny-{failed}.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "-p", "--forceall", "--replace-workflow-config", "--configfile",
                       f"config/tiny-{failed}.yaml")
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-3000:]
    expected = {f"results/pre_edit/{model}/{dataset}.parquet" for model in config["models"]
                for dataset in config["datasets"]}
    for rule in ("aggregate", "analyse"):
        command = re.search(rf"goldenlayers {rule} .*", text)[0]
        given = re.search(r"--pre-edit ((?:results/pre_edit/\S+ ?)*)", command)[1].split()
        assert f"--failed {failed}" in command
        assert set(given) == (expected if failed == "unedited" else set()), (rule, given)
