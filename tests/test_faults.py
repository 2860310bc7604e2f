"""The fault suite: every bad input or fault the README's "What can go wrong" table lists, tried on tiny inputs
by calling the `goldenlayers` subcommands (or the package functions the workflow calls while it is read).

Each test asserts the message (it names the file, the dataset or record, and the field or key), the exit code
(2 for a `goldenlayers` error) and that earlier results are intact. The faults that need Snakemake itself
(damaged cache, killed job, two runs at once, failed job's log on the terminal, DAG-time errors) are in
tests/test_faults_workflow.py, on one shared run of the tiny config.
"""

from __future__ import annotations

import copy
import errno
import json
import math
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from goldenlayers.cli import main
from goldenlayers.config import load_config, validate_config
from goldenlayers.errors import ConfigError, InputError, OutputError
from goldenlayers.io import atomic_path, write_parquet, write_text
from job_inputs import tiny_job_inputs

REPO = Path(__file__).resolve().parents[1]
CF_SAMPLE = REPO / "data/benchmarks/counterfact/counterfact_sample.json"
EARLIER = b"earlier result"


def _earlier(path: Path) -> Path:
    """An earlier result at ``path``, to check a failing command leaves it alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(EARLIER)
    return path


def _fails(argv: list[str], capsys, *words: str) -> str:
    """Run `goldenlayers argv`; it must exit 2 with one line on stderr holding every word."""
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err and err[-1].startswith(f"goldenlayers {argv[0]}: error:"), err
    for word in words:
        assert word in err[-1], (word, err[-1])
    return err[-1]


def test_writer_killed_mid_write_leaves_no_output(tmp_path):
    target = tmp_path / "out" / "result.parquet"
    script = textwrap.dedent(f"""
        import os, signal
        from goldenlayers.io import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_bytes(b"PAR1 half a file")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script])
    assert result.returncode != 0
    assert not target.exists(), "a killed job must not leave a file Snakemake would take as complete"
    # the rerun completes and replaces the debris
    write_parquet(target, pd.DataFrame({"x": [1]}))
    assert pd.read_parquet(target)["x"].tolist() == [1]


def test_failed_write_keeps_the_earlier_result(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("earlier")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new, half")
            raise RuntimeError("boom")
    assert target.read_text() == "earlier"
    assert list(tmp_path.iterdir()) == [target]


def test_non_finite_edit_is_recorded_as_failed_and_other_cases_kept(tmp_path, monkeypatch):
    from goldenlayers.editors.hparams import load_hparams
    from goldenlayers.editors.rome import ROME
    from goldenlayers.evaluate.edit_job import run_edit_job

    model_dir = tiny_job_inputs(tmp_path)
    hparams = load_hparams(REPO / "config/hparams/rome/llama.yaml", "rome",
                           {"v_num_grad_steps": 2, "context_template_length_params": [[5, 2]]})
    real = ROME.compute_deltas
    calls = []

    def poisoned(self, ctx, request, layer):
        deltas, info = real(self, ctx, request, layer)
        calls.append(request.case_id)
        if len(calls) == 2:  # the second case's update blows up
            deltas = {l: torch.full_like(d, math.nan) for l, d in deltas.items()}
        return deltas, info

    monkeypatch.setattr(ROME, "compute_deltas", poisoned)
    frame = run_edit_job(
        model_dir=str(model_dir), model_name="tiny-llama", cases_path=str(tmp_path / "cases.parquet"),
        editor_name="rome", hparams=hparams, layers=[1], templates_path=str(tmp_path / "prefixes.json"),
        out=str(tmp_path / "edits.parquet"),
        dataset="counterfact", split="proxy", device="cpu",
    )
    assert frame["status"].tolist() == ["ok", "failed", "ok"]
    failed = frame.iloc[1]
    assert "non-finite" in failed["failure_reason"] and math.isnan(failed["rewrite_acc"])
    assert frame.loc[[0, 2], "locality"].notna().all()
    stored = pd.read_parquet(tmp_path / "edits.parquet")
    assert stored["status"].tolist() == ["ok", "failed", "ok"]


def test_layer_outside_model_fails_before_writing(tmp_path):
    from goldenlayers.cli import main

    model_dir = tiny_job_inputs(tmp_path)
    out = tmp_path / "edits.parquet"
    code = main(["edit", "--model-dir", str(model_dir), "--model-name", "tiny-llama", "--cases",
                 str(tmp_path / "cases.parquet"), "--dataset", "counterfact", "--split", "proxy", "--editor", "rome",
                 "--hparams", str(REPO / "config/hparams/rome/llama.yaml"), "--layer", "7", "--templates",
                 str(tmp_path / "prefixes.json"), "--device", "cpu", "--out", str(out),
                 "--out-hparams", str(tmp_path / "h.json")])
    assert code == 2 and not out.exists()


def test_corrupted_model_weights_are_named(tmp_path, monkeypatch):
    from goldenlayers.errors import InputError
    from goldenlayers.models import load as load_module
    from goldenlayers.models.load import load_model, prepare_model

    model_dir = tmp_path / "model"
    prepare_model("tiny-gpt2", {"source": "tiny", "family": "gpt2", "num_layers": 2}, model_dir)
    weights = model_dir / "model.safetensors"
    # unchanged weights (the size and time recorded at preparation) load without being hashed again
    with monkeypatch.context() as patch:
        patch.setattr(load_module, "sha256_file", lambda path: pytest.fail(f"hashed {path} on load"))
        load_model(model_dir, device="cpu")
    # a touched file (copied, restored) is hashed: same bytes, so it loads
    os.utime(weights, ns=(10**18, 10**18))
    load_model(model_dir, device="cpu")
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        load_model(model_dir, device="cpu")
    assert "model.safetensors" in str(err.value) and "sha256" in str(err.value)


def test_a_model_asked_for_twice_at_once_is_prepared_once(tmp_path):
    """Two processes preparing the same folder (two find-layer calls, parallel test workers): the second waits
    for the first's lock and then finds the folder prepared, so nothing is written while it is being read; a
    lock held too long fails naming the lock file; a prepared folder is read without the lock."""
    import threading

    from goldenlayers.models.load import load_model, preparation_lock, prepare_model, prepare_once

    spec = {"source": "tiny", "family": "gpt2", "num_layers": 2}
    model_dir = tmp_path / "models" / "tiny-gpt2"
    with preparation_lock(model_dir):  # the "first process" holds the lock while it prepares
        second = threading.Thread(target=prepare_once, args=("tiny-gpt2", spec, model_dir))
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive(), "the second preparation did not wait for the lock"
        assert not (model_dir / "prepare.json").exists()
        with pytest.raises(InputError) as err:  # a third caller that gives up names the lock
            with preparation_lock(model_dir, timeout=0.2):
                pass
        assert f".{model_dir.name}.lock" in str(err.value)
        prepare_model("tiny-gpt2", spec, model_dir)
        prepared = {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()}
    second.join(timeout=60)
    assert not second.is_alive()
    assert {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()} == prepared, "prepared a second time"
    with preparation_lock(model_dir):  # prepared: later calls neither wait for the lock nor rewrite anything
        prepare_once("tiny-gpt2", spec, model_dir)
    assert {p.name: p.stat().st_mtime_ns for p in model_dir.iterdir()} == prepared
    load_model(model_dir, device="cpu")


# ------------------------------------------------------------------------------------------------ data

def _cf_records(n: int = 6) -> list[dict]:
    return json.loads(CF_SAMPLE.read_text())[:n]


def _load(tmp_path: Path, records, capsys, *words, text: str | None = None, dataset: str = "counterfact") -> None:
    source = tmp_path / "bad.json"
    source.write_text(text if text is not None else json.dumps(records))
    out = _earlier(tmp_path / "cases.parquet")
    _fails(["load-dataset", "--dataset", dataset, "--input", str(source), "--output", str(out)], capsys,
           str(source), *words)
    assert out.read_bytes() == EARLIER


def test_malformed_json(tmp_path, capsys):
    _load(tmp_path, None, capsys, "malformed JSON at line 1", text='[{"case_id": 0,')


def test_missing_field(tmp_path, capsys):
    records = _cf_records()
    del records[2]["requested_rewrite"]["subject"]
    _load(tmp_path, records, capsys, "record 2", "requested_rewrite.subject", "missing")


def test_empty_target(tmp_path, capsys):
    records = _cf_records()
    records[1]["requested_rewrite"]["target_new"]["str"] = " "
    _load(tmp_path, records, capsys, "record 1", "target_new", "empty")


def test_subject_not_in_prompt(tmp_path, capsys):
    records = json.loads((REPO / "data/benchmarks/zsre/knowedit_ZsRE-test-all_sample.json").read_text())[:4]
    records[3]["subject"] = "Nobody At All"
    _load(tmp_path, records, capsys, "record 3", "field 'subject'", "does not occur", dataset="zsre")


def test_duplicate_ids_name_every_index(tmp_path, capsys):
    records = _cf_records()
    for index in (2, 4):
        records[index]["case_id"] = records[0]["case_id"]
    _load(tmp_path, records, capsys, "duplicate case_id", "indices 0, 2, 4")


def test_split_leaving_no_test_cases_names_the_dataset(tmp_path, capsys):
    from goldenlayers.data.loaders import load_cases
    from goldenlayers.data.schema import cases_to_table

    cases = tmp_path / "results/data/zsre/cases.parquet"
    cases.parent.mkdir(parents=True)
    table = cases_to_table(load_cases(CF_SAMPLE, "counterfact", "zsre").cases[:3])
    pq.write_table(table.replace_schema_metadata({"dataset": "zsre"}), cases)
    proxy, test = _earlier(tmp_path / "proxy.parquet"), _earlier(tmp_path / "test.parquet")
    _fails(["split-dataset", "--input", str(cases), "--proxy-output", str(proxy), "--test-output", str(test),
            "--proxy-size", "3", "--seed", "0"], capsys, "dataset zsre", str(cases), "leaves no test cases")
    assert proxy.read_bytes() == EARLIER and test.read_bytes() == EARLIER


def test_url_ending_in_dot_dot_is_rejected():
    from goldenlayers.data.sources import resolve_download

    with pytest.raises(InputError) as err:
        resolve_download("counterfact", {"source": "download", "url": "https://example.org/data/.."})
    assert "datasets.counterfact.url" in str(err.value) and "file name" in str(err.value)


# ------------------------------------------------------------------------------------------------ config

@pytest.fixture
def tiny_config():
    return yaml.safe_load((REPO / "config/tiny.yaml").read_text())


CONFIG_FAULTS = [
    # (mutation, key named, words)
    (lambda c: c.update(edtors=["rome"]), "edtors", "unknown key"),
    (lambda c: c["split"].update(proxy_size="two"), "split.proxy_size", "not of type"),
    (lambda c: c.update(layers=[1, 4]), "layers", "outside model"),
    (lambda c: c["models"].update({"..": c["models"]["tiny-llama"]}), "models...", "not a valid name"),
    (lambda c: c["models"].update({".": c["models"]["tiny-llama"]}), "models..", "not a valid name"),
    (lambda c: c["models"].update({"": c["models"]["tiny-llama"]}), "models.", "not a valid name"),
    (lambda c: c["models"].update({"a/b": c["models"]["tiny-llama"]}), "models.a/b", "not a valid name"),
    (lambda c: c.update(run_name=".."), "run_name", "not a valid name"),
    (lambda c: c.update(run_name="runs/one"), "run_name", "not a valid name"),
    (lambda c: c["datasets"].update({"../x": {}}), "datasets.../x", "not a valid name"),
    (lambda c: c["editor_overrides"]["rome"].update(v_num_grad_step=3), "editor_overrides.rome.v_num_grad_step",
     "unknown hyperparameter"),
    (lambda c: c["editor_overrides"]["rome"].update(v_lr="fast"), "editor_overrides.rome.v_lr", "expected int or float"),
    (lambda c: c["editor_overrides"]["rome"].update(v_lr=-0.5), "editor_overrides.rome.v_lr", "greater than 0"),
    (lambda c: c["editor_overrides"]["rome"].update(v_lr=0), "editor_overrides.rome.v_lr", "greater than 0"),
    (lambda c: c["editor_overrides"]["rome"].update(v_num_grad_steps=-5), "editor_overrides.rome.v_num_grad_steps",
     "at least 1"),
    (lambda c: c["editor_overrides"]["rome"].update(v_weight_decay=math.inf), "editor_overrides.rome.v_weight_decay",
     "finite"),
    (lambda c: c["editor_overrides"]["rome"].update(kl_factor=math.nan), "editor_overrides.rome.kl_factor", "finite"),
    (lambda c: c["editor_overrides"]["rome"].update(context_template_length_params=[[0, 2]]),
     "editor_overrides.rome.context_template_length_params", "length >= 1"),
    (lambda c: c.update(editors=["memit"], multi_layer={"window": 9}), "multi_layer.window", "wider than model"),
    (lambda c: c["cma"].update(window=5), "cma.window", "wider than model"),
    (lambda c: c.update(editor_overrides={"memit": {"window": 6}}), "editor_overrides.memit.window", "wider than model"),
    (lambda c: c.update(editor_overrides={"memit": {"mom2_update_weight": -2}}),
     "editor_overrides.memit.mom2_update_weight", "positive"),
]


@pytest.mark.parametrize("mutate, key, words", CONFIG_FAULTS)
def test_config_fault_names_the_file_and_key(tmp_path, tiny_config, mutate, key, words):
    """Checked while the workflow is read (common.smk calls load_config's validation), before any job."""
    config = copy.deepcopy(tiny_config)
    mutate(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"file {path}" in str(err.value) and f"field '{key}'" in str(err.value) and words in str(err.value)


def test_hparams_file_out_of_range_names_the_file(tmp_path):
    from goldenlayers.editors.hparams import load_hparams

    source = (REPO / "config/hparams/rome/llama.yaml").read_text()
    bad = tmp_path / "llama.yaml"
    bad.write_text(source.replace("v_lr: 0.5", "v_lr: -0.5"))
    with pytest.raises(ConfigError) as err:
        load_hparams(bad, "rome")
    assert f"file {bad}" in str(err.value) and "field 'v_lr'" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_hparams(REPO / "config/hparams/rome/llama.yaml", "rome", {"v_num_grad_steps": 0})
    assert "editor_overrides.rome" in str(err.value) and "at least 1" in str(err.value)


def test_shipped_configs_and_hparams_pass_the_range_checks():
    from goldenlayers.editors.hparams import load_hparams

    for name in ("config.yaml", "tiny.yaml", "paper.yaml", "sweep.yaml"):
        load_config(REPO / "config" / name)
    for path in sorted((REPO / "config/hparams").glob("*/*.yaml")):
        load_hparams(path, path.parent.name)


# ------------------------------------------------------------------------------------------------ model jobs

def _prepare(tmp_path: Path, family: str) -> Path:
    from goldenlayers.models.load import prepare_model

    model_dir = tmp_path / f"model-{family}"
    prepare_model(f"tiny-{family}", {"source": "tiny", "family": family, "num_layers": 4}, model_dir)
    return model_dir


def _long_case_files(tmp_path: Path, skip: bool) -> Path:
    """A proxy split of three real cases, the second with a prompt of about 600 tokens (tiny models: 512)."""
    from goldenlayers.data.loaders import load_cases
    from goldenlayers.data.schema import cases_to_table

    records = _cf_records(3)
    records[1]["requested_rewrite"]["prompt"] = "Long ago " * 70 + "the mother tongue of {} is"
    source = tmp_path / "long.json"
    source.write_text(json.dumps(records))
    out = tmp_path / ("skip" if skip else "strict") / "proxy.parquet"
    args = ["load-dataset", "--dataset", "counterfact", "--input", str(source), "--output", str(out)]
    assert main(args + (["--skip-bad-records"] if skip else [])) == 0
    return out


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_prompt_longer_than_the_context_is_named(tmp_path, capsys, family):
    """GPT-2 would fail with an IndexError, LLaMA would run past max_position_embeddings: both name the record
    and its length instead (LGA, the first model job of a dataset); with skip_bad_records the record is left
    out and listed."""
    model_dir = _prepare(tmp_path, family)
    strict = _long_case_files(tmp_path, skip=False)
    out = _earlier(tmp_path / "lga.parquet")
    common = ["lga", "--model-dir", str(model_dir), "--grid", "1,2", "--device", "cpu"]
    _fails(common + ["--cases", str(strict), "--out", str(out), "--out-cases", str(tmp_path / "c.parquet")],
           capsys, str(strict), f"record {_cf_records(3)[1]['case_id']}", "field 'prompt'", "tokens",
           "context of 512 positions", "skip_bad_records")
    assert out.read_bytes() == EARLIER
    skip = _long_case_files(tmp_path, skip=True)
    assert main(common + ["--cases", str(skip), "--out", str(out), "--out-cases", str(tmp_path / "c.parquet")]) == 0
    listed = json.loads(pq.read_schema(out).metadata[b"too_long_records"])
    assert listed["count"] == 1 and listed["ids"] == [str(_cf_records(3)[1]["case_id"])]
    assert set(pd.read_parquet(tmp_path / "c.parquet")["case_id"]) <= {str(r["case_id"]) for r in _cf_records(3)}


def test_context_length_check_in_every_model_job(tmp_path):
    """The check sits where the target values, edit, LGA and CMA jobs read their cases."""
    from goldenlayers.data import context_length
    from goldenlayers.models.tiny import build_tiny

    model, tokenizer = build_tiny("gpt2", 2)
    assert context_length.model_context_length(model) == 512
    for module in ("editors/values.py", "evaluate/edit_job.py", "commands/_locate.py"):  # _locate: LGA and CMA
        assert "read_cases_for_model" in (REPO / "src/goldenlayers" / module).read_text(), module


def _values_and_edit(tmp_path: Path, overrides: dict, batch_tokens: int = 1024):
    from goldenlayers.editors.hparams import load_hparams
    from goldenlayers.editors.values import run_values_job
    from goldenlayers.evaluate.edit_job import SplitOutput, run_edit_jobs

    model_dir = tiny_job_inputs(tmp_path)
    hparams = load_hparams(REPO / "config/hparams/rome/llama.yaml", "rome",
                           {"v_num_grad_steps": 3, "context_template_length_params": [[5, 2]], **overrides})
    values = tmp_path / "mlp1.safetensors"
    run_values_job(model_dir=str(model_dir), cases_paths=[str(tmp_path / "cases.parquet")], sites="mlp1",
                   hparams=hparams, templates_path=str(tmp_path / "prefixes.json"), out=str(values), device="cpu",
                   batch_tokens=batch_tokens)
    [frame] = run_edit_jobs(model_dir=str(model_dir), model_name="tiny-llama", editor_name="rome", hparams=hparams,
                            splits=[SplitOutput("proxy", str(tmp_path / "cases.parquet"), str(tmp_path / "e.parquet"))],
                            layers=[1], templates_path=str(tmp_path / "prefixes.json"), dataset="counterfact",
                            device="cpu", values_path=str(values))
    return frame


def test_update_clamped_to_zero_is_failed_not_ok(tmp_path):
    """v_lr 1e30: every Adam step overflows the clamp, which scales the shift to norm 0: a no-op edit."""
    frame = _values_and_edit(tmp_path, {"v_lr": 1e30})
    assert frame["status"].tolist() == ["failed"] * 3
    assert frame["failure_reason"].str.contains("left the target value unchanged").all()
    assert frame["rewrite_acc"].isna().all() and (frame["edit_v_delta_norm"] == 0).all()


def test_overflow_in_one_case_fails_that_case_and_keeps_the_others(tmp_path, monkeypatch):
    """An overflow inside the value optimisation (as v_lr 1e39 gives) fails that case only."""
    from goldenlayers.editors import values as values_module

    real, calls = values_module.optimize_target, []

    def overflowing(ctx, request, module):  # the file's second case overflows (whatever order the cases run in)
        if not calls:
            calls.extend(str(c) for c in pd.read_parquet(tmp_path / "cases.parquet")["case_id"])
        if request.case_id == calls[1]:
            raise RuntimeError("value cannot be converted to type float without overflow")
        return real(ctx, request, module)

    monkeypatch.setattr(values_module, "optimize_target", overflowing)
    frame = _values_and_edit(tmp_path, {}, batch_tokens=1)  # one case at a time
    assert frame["status"].tolist() == ["ok", "failed", "ok"]
    assert "overflow" in frame["failure_reason"][1] and frame["rewrite_acc"].iloc[[0, 2]].notna().all()


def test_overflowing_learning_rate_fails_every_case_not_the_job(tmp_path):
    frame = _values_and_edit(tmp_path, {"v_lr": 1e39})
    assert frame["status"].tolist() == ["failed"] * 3
    assert frame["failure_reason"].str.contains("overflow").all()


def test_cuda_requested_on_a_cpu_machine(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    model_dir = tiny_job_inputs(tmp_path)
    out = _earlier(tmp_path / "prefixes-new.json")
    _fails(["context-prefixes", "--model-dir", str(model_dir), "--length-params", "[[5, 2]]", "--device", "cuda",
            "--out", str(out)], capsys, "field 'device'", "CUDA was requested")
    assert out.read_bytes() == EARLIER


# ------------------------------------------------------------------------------------------------ caches

def _damaged_values(tmp_path: Path) -> Path:
    from goldenlayers.editors.target_value import TargetValue
    from goldenlayers.editors.values import ValueSite, save_values

    path = tmp_path / "results/values/m/vabc/counterfact/mlp1.safetensors"
    values = {case: TargetValue(torch.zeros(8), torch.ones(8), 3, 0.5, 0.6) for case in ("0", "1")}
    save_values(path, {ValueSite("mlp", 1): values}, {
        "fact_token": "subject_last", "v_num_grad_steps": 3, "v_lr": 0.5, "v_weight_decay": 0.5,
        "clamp_norm_factor": 4, "kl_factor": 0.06, "v_loss_threshold": 0.05, "context_template_length_params": [[5, 2]]})
    return path


def test_damaged_caches_are_found_and_named(tmp_path):
    from goldenlayers.caches import damaged_caches, damaged_message
    from goldenlayers.editors.values import ValueStore
    from goldenlayers.stats.covariance import load_second_moment

    values = _damaged_values(tmp_path)
    stats = tmp_path / "results/stats/m/c/layer1.safetensors"
    stats.parent.mkdir(parents=True)
    stats.write_bytes(values.read_bytes())
    prefixes = tmp_path / "results/prefixes/m.json"
    prefixes.parent.mkdir(parents=True)
    prefixes.write_text(json.dumps({"by_length": {"5": ["a"]}}))
    assert damaged_caches(tmp_path) == []
    with open(values, "r+b") as handle:
        handle.truncate(values.stat().st_size - 10)
    stats.write_bytes(stats.read_bytes()[:5])
    prefixes.write_text('{"by_length": {"5": ["a"')
    found = damaged_caches(tmp_path)
    assert [(p.name, rule) for p, _, rule in found] == [
        ("mlp1.safetensors", "target_values"), ("layer1.safetensors", "layer_stats"), ("m.json", "context_prefixes")]
    message = damaged_message(found)
    assert "\n" not in message and f"rm {values} {stats} {prefixes}" in message and "truncated" in message
    # the readers say the same when a job meets the damage
    for read, path, rule in ((ValueStore, values, "target_values"), (load_second_moment, stats, "layer_stats")):
        with pytest.raises(InputError) as err:
            read(path)
        assert str(path) in str(err.value) and rule in str(err.value) and ("remove" in str(err.value) or "delete" in str(err.value))
    from goldenlayers.editors.context import load_templates

    with pytest.raises(InputError) as err:
        load_templates(prefixes, [[5, 1]])
    assert str(prefixes) in str(err.value) and "context_prefixes rule rebuilds it" in str(err.value)


# ------------------------------------------------------------------------------------------------ writing

def test_outputs_get_umask_permissions(tmp_path):
    old = os.umask(0o002)
    try:
        write_text(tmp_path / "group.txt", "x")
        os.umask(0o022)
        write_parquet(tmp_path / "t.parquet", pd.DataFrame({"x": [1]}))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "group.txt").stat().st_mode) == 0o664
    assert stat.S_IMODE((tmp_path / "t.parquet").stat().st_mode) == 0o644


def test_disk_full_names_the_file_in_one_line(tmp_path, monkeypatch, capsys):
    """A full disk while writing: one line naming the file, exit 2, the earlier result kept, no debris."""
    out = _earlier(tmp_path / "out" / "proxy.parquet")
    test = tmp_path / "out" / "test.parquet"
    cases = tmp_path / "cases.parquet"
    assert main(["load-dataset", "--dataset", "counterfact", "--input", str(CF_SAMPLE), "--output", str(cases)]) == 0

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    _fails(["split-dataset", "--input", str(cases), "--proxy-output", str(out), "--test-output", str(test),
            "--proxy-size", "2", "--seed", "0"], capsys, f"file {out}", "no space left")
    assert out.read_bytes() == EARLIER and sorted(p.name for p in out.parent.iterdir()) == ["proxy.parquet"]


def test_job_dies_with_its_shell_wrapper(tmp_path):
    """kill -9 of the rule's shell leaves no goldenlayers process writing (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    pid_file = tmp_path / "child.pid"
    script = (f"import os, time, sys; from goldenlayers.cli import die_with_parent; die_with_parent(); "
              f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)")
    # `; true` keeps bash from exec'ing python, as a rule's shell line with its redirections does
    shell = subprocess.Popen(["bash", "-c", f"{sys.executable} -c \"{script}\" > {tmp_path}/log 2>&1; true"])
    try:
        deadline = time.monotonic() + 60  # a loaded machine (parallel test workers) starts python slowly
        while not (pid_file.exists() and pid_file.read_text()):
            if time.monotonic() > deadline:
                pytest.fail(f"the job's python did not start within 60 s (log: {(tmp_path / 'log').read_text()!r})")
            time.sleep(0.1)
        child = int(pid_file.read_text())
        os.kill(shell.pid, signal.SIGKILL)
        shell.wait()
        for _ in range(400):  # up to 20 s
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the job's python outlived its shell")
    finally:
        if shell.poll() is None:
            shell.kill()
