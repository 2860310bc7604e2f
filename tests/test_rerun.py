"""Rerun semantics on the tiny config, checked from Snakemake's own job listing.

One complete local run of a copy of the workflow (temporary directory; PYTHONPATH points at the copy's
src/, so the figure rules' plot-module inputs are the copy's files). Then, each from that complete state:

(a) changing one editor's hyperparameter reruns exactly that editor's edit jobs and what depends on them
    (plus its target values when the change is one of the value optimisation's, which gives them a new key);
(b) changing one figure module's code reruns only that figure and what bundles it;
(c) adding a dataset runs only the new dataset's jobs and the aggregates that depend on them;
(d) changing nothing (or a bare `touch`, same content) reruns nothing.

The copy is a git repository (committed before the run), so the same run also shows that a checkout stays
clean: the run writes only ignored files, and the published MANIFEST says `dirty: false`. At the end the
report is built as `make report` builds it (`snakemake --report`, then the publish rules again) and checked
for every figure and table with its caption, and for being in the published archive.

"Exactly" is checked against the DAG itself: a dry run with --forceall lists every job with its input and output
files, which gives the downstream closure of the changed jobs; the plain dry run (`snakemake -n`) lists
the jobs Snakemake would run. The two sets of output files must be equal. Every change is undone after
its dry run, and dry runs change nothing, so the cases are independent.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from workflow_copy import copy_workflow, workflow_env
import yaml

from goldenlayers.chunks import chunk_name, split_into_chunks

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TINY = "config/tiny.yaml"
RUN_TIMEOUT = 1500

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REPO / "workflow" / "Snakefile").exists() or not (REPO / TINY).exists(),
                       reason="the workflow (Snakefile, config/tiny.yaml) is not there yet"),
]


# ---------------------------------------------------------------------------------------------- helpers



def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Snakemake in workdir with the copy's package first on the path, always under `timeout -k`.
    --replace-workflow-config: the --configfile replaces the Snakefile's default config instead of being
    merged into it (a merge would add the default's model and datasets to the tiny DAG)."""
    env = workflow_env(workdir)
    cmd = ["timeout", "-k", "10", str(timeout), *SNAKEMAKE, "--replace-workflow-config", *args]
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)


def planned_jobs(workdir: Path, configfile: str = TINY, *extra: str) -> list[dict]:
    """The jobs of a dry run, as Snakemake lists them: rule, wildcards, input, output, reason."""
    result = snakemake(workdir, "-n", "--configfile", configfile, *extra)
    text = result.stdout + "\n" + result.stderr
    assert result.returncode == 0, text[-4000:]
    jobs, job = [], None
    for line in text.splitlines():
        if not line.startswith(" "):
            header = re.fullmatch(r"(?:local)?rule (\S+):", line.strip())
            job = {"rule": header[1], "wildcards": {}, "input": [], "output": [], "reason": ""} if header else None
            if job:
                jobs.append(job)
            continue
        if job is None:
            continue
        key, _, value = line.strip().partition(": ")
        if key in ("input", "output"):
            job[key] = [path for path in value.split(", ") if path]
        elif key == "wildcards":
            job["wildcards"] = dict(item.split("=", 1) for item in value.split(", ") if "=" in item)
        elif key == "reason":
            job["reason"] = value
    if "Nothing to be done" in text:
        assert not jobs, f"'Nothing to be done' but jobs were listed: {jobs}"
    return jobs


def planned_outputs(jobs: list[dict]) -> set[str]:
    return {path for job in jobs for path in job["output"]}


def file_graph(workdir: Path, configfile: str = TINY) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The whole DAG of the config as it is now (a dry run with --forceall lists every job with its input
    and output files): output file -> rule, and file -> the outputs of the jobs that take it as input."""
    rule_of, consumers = {}, defaultdict(set)
    for job in planned_jobs(workdir, configfile, "--forceall"):
        for out in job["output"]:
            rule_of[out] = job["rule"]
            for path in job["input"]:
                consumers[path].add(out)
    return rule_of, consumers


def downstream(start: set[str], consumers: dict[str, set[str]]) -> set[str]:
    """start and every output that (transitively) takes one of them as input."""
    seen, todo = set(start), list(start)
    while todo:
        for nxt in consumers.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def describe(jobs: list[dict]) -> str:
    return "\n".join(f"  {job['rule']} {job['wildcards']} <- {job['reason']}" for job in jobs)


def assert_same(planned: set[str], expected: set[str], jobs: list[dict]):
    extra, missing = sorted(planned - expected), sorted(expected - planned)
    assert not extra and not missing, (
        f"rerun set differs from the expected one\n unexpected: {extra[:20]}\n missing: {missing[:20]}\n"
        f"jobs Snakemake planned:\n{describe(jobs)}")


# ---------------------------------------------------------------------------------------------- fixture


GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]


def git(workdir: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=workdir, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """A copy of the workflow, committed to a fresh git repository, after a complete run of the tiny config
    (local executor, 2 cores). `git status` right after the run is kept in `.git-status-after-run`."""
    workdir = copy_workflow(tmp_path_factory.mktemp("rerun") / "wf")
    git(workdir, "init", "-q")
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "checkout")
    result = snakemake(workdir, "--configfile", TINY, "--cores", "2", timeout=RUN_TIMEOUT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    (workdir / ".git" / "status-after-run").write_text(git(workdir, "status", "--porcelain", "--untracked-files=all"))
    assert planned_jobs(workdir) == [], "the complete run left jobs to do"
    return workdir


@pytest.fixture()
def tiny(done) -> dict:
    return yaml.safe_load((done / TINY).read_text())


def write_config(workdir: Path, name: str, config: dict) -> str:
    path = f"config/{name}.yaml"
    (workdir / path).write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------- cases


def test_d_nothing_changed_reruns_nothing(done):
    assert planned_jobs(done) == []


def test_d_bare_touch_reruns_nothing(done):
    """Snakemake 9 reruns on changed content, not on a newer mtime alone."""
    touched = [p for p in (done / "config" / "hparams").rglob("*.yaml")] + [done / "src/goldenlayers/plots/_style.py"]
    for path in touched:
        os.utime(path)
    assert planned_jobs(done) == []


def test_a_editor_hyperparameter_reruns_that_editor_only(done, tiny):
    editor = tiny["editors"][-1]
    others = [e for e in tiny["editors"] if e != editor]
    changed = copy.deepcopy(tiny)
    overrides = changed.setdefault("editor_overrides", {}).setdefault(editor, {})
    overrides["v_num_grad_steps"] = int(overrides.get("v_num_grad_steps", 4)) + 1
    configfile = write_config(done, "tiny-a", changed)

    rule_of, consumers = file_graph(done, configfile)
    edits = {path for path, rule in rule_of.items() if rule == "edit" and f"/{editor}/" in path}
    assert edits, f"no edit outputs of {editor} in the summary"
    # the value optimisation's step count changed: this editor's target values get a new key and are
    # computed; the other editors' shared values stay as they are
    values = {path for path, rule in rule_of.items() if rule == "target_values"
              and all(rule_of.get(c) != "edit" or f"/{editor}/" in c for c in consumers[path])}
    assert values, "the changed editor reads no target values of its own"
    jobs = planned_jobs(done, configfile)
    assert {job["rule"] for job in jobs} >= {"edit", "target_values"}
    assert not [job for job in jobs if job["rule"] == "edit" and job["wildcards"]["editor"] in others]
    assert_same(planned_outputs(jobs), downstream(edits | values, consumers), jobs)


def test_a_editor_hparams_file_reruns_that_editor_only(done, tiny):
    """The same through the editor's hparams file (an input of its edit jobs)."""
    editor = tiny["editors"][-1]
    files = sorted((done / "config" / "hparams" / editor).glob("*.yaml"))
    assert files, f"no hparams files for {editor}"
    saved = {path: path.read_text() for path in files}
    try:
        for path in files:
            path.write_text(saved[path] + "\n# changed by test_rerun\n")
        rule_of, consumers = file_graph(done)
        edits = {path for path, rule in rule_of.items() if rule == "edit" and f"/{editor}/" in path}
        jobs = planned_jobs(done)
        assert_same(planned_outputs(jobs), downstream(edits, consumers), jobs)
    finally:
        for path, text in saved.items():
            path.write_text(text)


def test_b_figure_code_reruns_that_figure_only(done):
    rule_of, consumers = file_graph(done)
    figure_rules = sorted({rule for rule in rule_of.values() if rule.startswith("fig")})
    assert figure_rules, "no figure rules in the DAG"
    rule = "fig4_runtime" if "fig4_runtime" in figure_rules else figure_rules[0]
    module = done / "src" / "goldenlayers" / "plots" / f"{rule.removeprefix('fig_')}.py"
    assert module.exists(), f"{module} (the plot module of {rule}) is missing"
    saved = module.read_text()
    try:
        module.write_text(saved + "\n# changed by test_rerun\n")
        figures = {path for path, r in rule_of.items() if r == rule}
        jobs = planned_jobs(done)
        assert {job["rule"] for job in jobs if job["rule"].startswith("fig")} == {rule}, describe(jobs)
        assert_same(planned_outputs(jobs), downstream(figures, consumers), jobs)
    finally:
        module.write_text(saved)
    assert planned_jobs(done) == []


def test_c_new_dataset_runs_its_jobs_and_the_aggregates(done, tiny):
    shipped = ["counterfact", "zsre", "wikibio", "wiki_counterfact", "wiki_recent"]
    new = next(d for d in shipped if d not in tiny["datasets"])
    changed = copy.deepcopy(tiny)
    changed["datasets"][new] = {"source": "sample"}
    configfile = write_config(done, "tiny-c", changed)

    jobs = planned_jobs(done, configfile)
    rule_of, consumers = file_graph(done, configfile)
    own = {path for job in jobs if job["wildcards"].get("dataset") == new for path in job["output"]}
    assert any(job["rule"] == "edit" for job in jobs if job["wildcards"].get("dataset") == new)
    old = [job for job in jobs if job["wildcards"].get("dataset") not in (None, new)]
    assert not old, f"jobs of the old datasets rerun:\n{describe(old)}"
    # model-level jobs (preparation, statistics, context prefixes) do not depend on the datasets
    model_level = {"prepare_model", "layer_stats", "context_prefixes", "fetch_corpus"}
    assert not [job for job in jobs if job["rule"] in model_level], describe(jobs)
    assert_same(planned_outputs(jobs), downstream(own, consumers), jobs)
    assert {"aggregate", "analyse"} <= {job["rule"] for job in jobs}


# ---------------------------------------------------------------------------------------------- determinism


def _timing_free(path: Path):
    import pandas as pd

    frame = pd.read_parquet(path)
    return frame[[c for c in frame.columns if "seconds" not in c]]


def test_second_run_gives_identical_parquet(done, tiny, tmp_path):
    """Two runs of the tiny config on the CPU give identical Parquet contents (wall times aside): the second
    run, in a fresh copy, redoes one dataset's whole computation (split, prefixes, target values, every
    editor's edits at every layer, LGA, CMA) to keep the suite short."""
    second = copy_workflow(tmp_path / "again")
    model, dataset = next(iter(tiny["models"])), next(iter(tiny["datasets"]))
    targets = [f"results/edits/{model}/{editor}/{dataset}/{split}/layers{chunk_name(chunk)}.parquet"
               for editor in tiny["editors"] for split in ("proxy", "test")
               for chunk in split_into_chunks(tiny["layers"], tiny["layers_per_job"])]
    targets += [f"results/locate/{model}/{dataset}/{kind}.parquet" for kind in ("lga", "cma")]
    result = snakemake(second, "--configfile", TINY, "--cores", "2", *targets, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    produced = sorted(p.relative_to(second) for p in (second / "results").rglob("*.parquet"))
    assert any("edits" in str(p) for p in produced) and any("locate" in str(p) for p in produced)
    for relative in produced:
        first, again = _timing_free(done / relative), _timing_free(second / relative)
        assert first.equals(again), f"{relative} differs between two runs"


# ---------------------------------------------------------------------------------------------- locator layers


def test_lga_forced_off_the_grid_is_edited_and_judged_there(done, tiny, tmp_path):
    """Each locator is judged at its own choice: LGA's scores are rewritten (in a copy of the complete run) so
    that it picks a layer off the grid; the edit_choice jobs edit the test split there, and LGA's rows use it."""
    import shutil

    import numpy as np
    import pandas as pd

    from goldenlayers.io import read_parquet_metadata, write_parquet

    work = tmp_path / "offgrid"
    shutil.copytree(done, work, symlinks=True)
    model, dataset = next(iter(tiny["models"])), next(iter(tiny["datasets"]))
    num_layers = tiny["models"][model]["num_layers"]
    # the lowest layer off the grid: the last layer cannot take an R-ROME/ROME edit (the value never moves, so
    # such edits are failed cases, counted but unscored)
    off_grid = min(set(range(num_layers)) - set(tiny["layers"]))
    path = work / f"results/locate/{model}/{dataset}/lga.parquet"
    frame = pd.read_parquet(path)
    frame["score"] = np.where(frame["layer"] == off_grid, 10.0, 1.0 + 0.1 * frame["layer"])
    frame["kept"] = True
    write_parquet(path, frame, metadata=read_parquet_metadata(path))

    result = snakemake(work, "--configfile", TINY, "--cores", "2", "results/tables/locators.parquet",
                       timeout=RUN_TIMEOUT)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text[-6000:]
    ran = re.findall(r"rule edit_choice:\n(?:\s+.*\n)*?\s+wildcards: (.*)", text)
    assert {f"editor={e}" for e in tiny["editors"]} <= {part for w in ran for part in w.split(", ")
                                                          if "locator=lga" in w and f"dataset={dataset}" in w}, ran
    for editor in tiny["editors"]:
        edited = pd.read_parquet(work / f"results/edits/{model}/{editor}/{dataset}/test/lga_choice.parquet")
        assert set(edited["layer"]) == {off_grid} and len(edited) == tiny["split"]["test_size"]
        log = (work / f"logs/edit_choice/{model}/{editor}/{dataset}/lga.log").read_text()
        assert f"lga chose layer {off_grid} (off the grid)" in log
    regret = pd.read_parquet(work / "results/tables/regret.parquet")
    lga = regret[(regret["locator"] == "lga") & (regret["dataset"] == dataset)]
    assert len(lga) and (lga["layer"] == off_grid).all() and (lga["ties"] == str(off_grid)).all()
    assert (lga["n"] == tiny["split"]["test_size"]).all() and lga["test_mean"].notna().all()
    assert all(str(off_grid) in row.split(";") for row in lga["evaluated_layers"])
    wide = pd.read_parquet(work / "results/tables/locators.parquet")
    assert (wide.loc[wide["dataset"] == dataset, "lga_layer"] == off_grid).all()


def test_claims_table_of_the_tiny_run_follows_its_rules(done):
    """The aggregate stage writes the claims table for any run; every verdict follows the rule in its row."""
    import pandas as pd
    from test_claims import check_claims

    table = pd.read_csv(done / "results/tables/claims.csv")
    check_claims(table.fillna({"rule": ""}))
    assert "claims" in (done / "results/tables/claims.md").read_text().lower()


def test_per_case_layer_table_of_the_tiny_run(done, tiny):
    """Beyond the paper: LGA ran on each test split (rule lga_test) and chose every test case its own layer by the
    golden layer's Tukey rule; the table scores it where that layer was edited and counts the cases covered."""
    import pandas as pd

    from goldenlayers.analysis.locators import lga_case_choices
    from goldenlayers.analysis.per_case_layer import CHOICES
    from goldenlayers.config import layer_grid
    from goldenlayers.analysis.ties import parse_ties
    from goldenlayers.locate.tukey import tukey_golden

    model, n_test = next(iter(tiny["models"])), tiny["split"]["test_size"]
    tables = done / "results/tables"
    table = pd.read_csv(tables / "per_case_layer.csv")
    golden = pd.read_csv(tables / "golden_layers.csv")
    assert len(table) == len(golden) * len(CHOICES) and (table["n_test"] == n_test).all()
    locators = pd.read_csv(tables / "locators.csv").set_index(["editor", "dataset", "metric"])
    regret = pd.read_csv(tables / "regret.csv")
    for dataset in tiny["datasets"]:
        per_case = pd.read_parquet(done / f"results/locate/{model}/{dataset}/lga_test_cases.parquet")
        test_ids = set(pd.read_parquet(done / f"results/data/{dataset}/test.parquet")["case_id"].astype(str))
        assert set(per_case["case_id"].astype(str)) == test_ids and len(test_ids) == n_test
        # the stored choice is the locate stage's Tukey rule on the case alone, and the analysis's
        stored = {case: tuple(g.loc[g["is_case_choice"], "layer"]) for case, g in per_case.groupby("case_id")}
        for case, group in per_case.groupby("case_id"):
            rule = tukey_golden(group["layer"].tolist(), group["contribution"].to_numpy())
            assert group["case_kept"].tolist() == rule.kept.tolist() and stored[case] == rule.golden.ties
        assert lga_case_choices(per_case) == stored
        for editor in tiny["editors"]:
            rows = table[(table["dataset"] == dataset) & (table["editor"] == editor)].set_index(["metric", "choice"])
            evaluated = regret[(regret["dataset"] == dataset) & (regret["editor"] == editor)]["evaluated_layers"]
            edited = set(parse_ties(evaluated.iloc[0]))
            covered = sum(set(ties) <= edited for ties in stored.values())
            for metric in golden[(golden["dataset"] == dataset) & (golden["editor"] == editor)]["metric"]:
                own, grid = rows.loc[(metric, "lga_per_case")], rows.loc[(metric, "lga_per_case_grid")]
                assert own["n_chosen"] == n_test and own["n_covered"] == covered and own["n"] <= covered
                assert pd.isna(own["score"]) == (own["n"] == 0)          # missing, never 0
                # within the dataset's own grid (my_facts: layer 1 alone) a case whose kept layers miss the grid
                # has no choice there: counted as not chosen, never scored as 0
                on_grid = lga_case_choices(per_case, layer_grid(tiny, model, dataset=dataset))
                assert grid["n_chosen"] == sum(bool(t) for t in on_grid.values()) == grid["n_covered"]
                for locator in ("bf", "lga"):
                    expected = locators.loc[(editor, dataset, metric), f"{locator}_score"]
                    assert rows.loc[(metric, locator), "score"] == pytest.approx(expected, nan_ok=True)
    scored = table[table["choice"].isin(["lga_per_case", "lga_per_case_grid"]) & (table["n"] > 0)]
    assert len(scored) and scored["score"].notna().all(), "no per-case row with a score in the tiny run"
    markdown = (tables / "per_case_layer.md").read_text()
    assert "own LGA layer" in markdown and markdown.count("| lga_per_case |") == len(golden)


# ---------------------------------------------------------------------------------------------- clean checkout


def _manifest(workdir: Path) -> dict:
    import json
    import tarfile

    archive = next((workdir / "results" / "publish").glob("*.tar.gz"))
    with tarfile.open(archive) as tar:
        member = next(m for m in tar if m.name.endswith("/MANIFEST.json"))
        return json.loads(tar.extractfile(member).read())


def test_run_keeps_the_checkout_clean(done):
    """Every file the run wrote is ignored (results/, resources/, logs/ with Snakemake's benchmark files,
    .snakemake/) and no tracked file changed, so the published MANIFEST says dirty: false."""
    assert (done / ".git" / "status-after-run").read_text() == "", "the run wrote tracked or unignored files"
    assert list((done / "logs" / "benchmarks").rglob("*.tsv")), "Snakemake's benchmark files are under logs/"
    manifest = _manifest(done)
    assert manifest["git"] == {"commit": git(done, "rev-parse", "HEAD").strip(), "dirty": False}


# ---------------------------------------------------------------------------------------------- report (last:
# it adds the report to the publish rule's inputs, which the dry runs above must not see)


def test_report_has_every_figure_and_table_and_is_published(done):
    report = done / "results" / "report.html"
    built = snakemake(done, "--configfile", TINY, "--report", str(report.relative_to(done)))
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    republished = snakemake(done, "--configfile", TINY, "--cores", "2", timeout=RUN_TIMEOUT)
    assert republished.returncode == 0, (republished.stdout + republished.stderr)[-4000:]
    html = report.read_text(encoding="utf-8", errors="replace")
    figures = sorted((done / "results" / "figures").glob("*.png"))
    tables = sorted((done / "results" / "tables").glob("*.csv"))
    assert figures and tables
    for path in figures + tables:
        assert path.name in html, f"{path.name} is not in the report"
    captions = sorted((done / "workflow" / "report").glob("*.rst"))
    for caption in captions:  # each caption's opening words appear, rendered
        opening = " ".join(caption.read_text().split()[:4])
        if "{{" not in opening:
            assert opening in html, f"caption {caption.name} ({opening!r}) is not in the report"
    golden = (done / "results" / "tables" / "golden_layers.csv").read_text()
    assert "my_facts" in golden, "the user's dataset is in the tables"
    manifest = _manifest(done)
    assert "results/report.html" in manifest["files"] and manifest["git"]["dirty"] is False
    assert planned_jobs(done) == []


# ---------------------------------------------------------------------------------------------- resuming a run


def test_saved_run_resumes_in_a_fresh_copy_without_redoing_saved_jobs(done, tiny, tmp_path):
    """`make record`'s procedure on the tiny config: a sitting saved its finished outputs (record-save), except
    one edit job of the user dataset and what is built from it (it had not finished). In a fresh copy with
    arbitrary file times (as a git checkout gives: here the saved files are made older the later their job
    ran), record-restore, `snakemake resume_inputs` and `snakemake --touch` bring it to a state where exactly
    the unfinished jobs are planned, and none of the saved ones."""
    from goldenlayers.record import restore, save

    record = tmp_path / "record"
    assert save(done, record)["copied"] > 0
    # every finished job's benchmark file is kept as the record of its cost (committable: not git-ignored), and
    # a later sitting's save keeps the earlier sittings' entries
    benchmarks = json.loads((record / "SAVED.json").read_text())["benchmarks"]
    ran = {f"benchmarks/{p.relative_to(done / 'logs/benchmarks')}": p for p in (done / "logs/benchmarks").rglob("*.tsv")}
    assert benchmarks and sorted(benchmarks) == sorted(ran)
    assert all((record / path).read_bytes() == ran[path].read_bytes() for path in benchmarks)
    ignored = subprocess.run(["git", "check-ignore", "-q", f"record/smollm2-135m/{next(iter(benchmarks))}"], cwd=REPO)
    assert ignored.returncode == 1, "the record's benchmark files would be git-ignored"
    aside = done / "logs" / "benchmarks-aside"  # a later sitting's folder has only its own benchmark files
    (done / "logs" / "benchmarks").rename(aside)
    try:
        save(done, record)
    finally:
        aside.rename(done / "logs" / "benchmarks")
    assert json.loads((record / "SAVED.json").read_text())["benchmarks"] == benchmarks
    rule_of, consumers = file_graph(done)
    model = next(iter(tiny["models"]))
    unfinished_job = [path for path, rule in rule_of.items() if rule == "edit" and "/rome/my_facts/" in path]
    assert len(unfinished_job) == 3, unfinished_job  # proxy, test, hparams of the one chunk
    unfinished = downstream(set(unfinished_job), consumers)
    saved = json.loads((record / "SAVED.json").read_text())["files"]
    for path in unfinished:
        saved.pop(path, None)
        (record / path).unlink(missing_ok=True)
    (record / "SAVED.json").write_text(json.dumps({"files": saved}))
    for age, path in enumerate(sorted(saved, key=lambda p: (done / p).stat().st_mtime)):
        os.utime(record / path, (1_000_000_000 - age, 1_000_000_000 - age))  # later outputs look older

    fresh = copy_workflow(tmp_path / "fresh")
    listed = fresh / ".snakemake" / "restored.txt"
    restored = restore(record, fresh, listed)
    assert sorted(restored) == sorted(saved) and listed.read_text().split() == restored
    assert not (fresh / "logs" / "benchmarks").exists()
    assert not (fresh / f"resources/models/{model}").exists()
    assert planned_jobs(fresh), "before the touch, the arbitrary times make Snakemake plan reruns"
    for args in (["resume_inputs", "--configfile", TINY, "--cores", "2"],
                 [*restored, "--configfile", TINY, "--cores", "1", "--touch"]):
        result = snakemake(fresh, *args, timeout=RUN_TIMEOUT)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    jobs = planned_jobs(fresh)
    assert_same(planned_outputs(jobs), unfinished, jobs)
    assert not [job for job in jobs if job["rule"] in ("target_values", "pre_edit", "lga", "cma")], describe(jobs)


def test_tables_recompute_exactly_from_the_saved_per_case_files(done, tmp_path):
    """The record check (tests/test_record.py) on the tiny run: its saved per-case files, restored in a fresh
    copy, give every table again byte for byte through the aggregate stage's own rules."""
    from goldenlayers.record import save
    from recompute import differing_tables, recompute_tables

    record = tmp_path / "record"
    save(done, record)
    fresh, tables = recompute_tables(record, tmp_path / "fresh", TINY)
    assert any(path.endswith("claims.csv") for path in tables) and any("/cases/" in path for path in tables)
    assert not differing_tables(record, fresh, tables)
