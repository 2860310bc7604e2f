"""goldenlayers find-layer: the golden layer for a model and a facts file, from LGA (and CMA), printed with the
per-layer table and written as an EasyEdit-style hparams snippet. Tiny Qwen2 (a local folder) and BioGPT (a
`--layout` override) from configs; the real SmolLM2 (the embedded default) on 20 shipped CounterFact facts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from goldenlayers import cli
from goldenlayers.data.loaders import detect_format
from goldenlayers.models.tiny import BIOGPT_LAYOUT, build_tiny

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "benchmarks"
COUNTERFACT = SAMPLES / "counterfact" / "counterfact_sample.json"


def saved_tiny(family: str, where: Path) -> Path:
    """A tiny model saved like a downloaded one: config.json, safetensors, tokenizer."""
    model, tokenizer = build_tiny(family, num_layers=4, seed=0)
    model.save_pretrained(where, safe_serialization=True)
    tokenizer.save_pretrained(where)
    return where


def find_layer(capsys, *args: str) -> tuple[str, int | None]:
    code = cli.main(["find-layer", *args])
    out = capsys.readouterr().out
    assert code == 0, out
    golden = re.search(r"golden layer \(LGA\): (\w+)", out)[1]
    return out, None if golden == "None" else int(golden)


def check_outputs(out: str, golden: int, hparams: Path, table: Path, n_layers: int, cma: bool) -> None:
    snippet = yaml.safe_load(hparams.read_text())
    assert snippet["layers"] == [golden] and snippet["alg_name"] == "ROME"
    rows = pd.read_csv(table)
    assert list(rows["layer"]) == list(range(n_layers))
    kept = rows[rows["kept"]]
    assert golden == int(kept.loc[kept["lga_score"].idxmax(), "layer"]), "the golden layer is the best kept LGA score"
    assert rows.loc[rows["golden"], "layer"].tolist() == [golden]
    assert ("cma_effect" in rows) == cma
    for layer in range(n_layers):  # the printed table has one line per layer
        assert re.search(rf"^\s*{layer}\s", out, re.M), out


def test_detect_format_of_every_shipped_sample():
    expected = {"counterfact/counterfact_sample.json": "counterfact",
                "zsre/zsre_mend_eval_sample.json": "zsre_mend",
                "zsre/knowedit_ZsRE-test-all_sample.json": "knowedit_zsre",
                "wikibio/knowedit_wikibio-test-all_sample.json": "knowedit_wikibio",
                "wiki_counterfact/knowedit_test_cf_sample.json": "knowedit_counterfact",
                "wiki_recent/knowedit_recent_test_sample.json": "knowedit_recent"}
    for path, fmt in expected.items():
        assert detect_format(SAMPLES / path) == fmt, path


def test_local_folder_with_cma(tmp_path, capsys):
    folder = saved_tiny("qwen2", tmp_path / "qwen2")
    hparams, table = tmp_path / "h.yaml", tmp_path / "t.csv"
    out, golden = find_layer(capsys, "--model", str(folder), "--facts", str(COUNTERFACT), "--limit", "3", "--cma",
                             "--cma-samples", "2", "--out-hparams", str(hparams), "--out-table", str(table))
    assert "3 facts" in out and "(counterfact)" in out
    check_outputs(out, golden, hparams, table, 4, cma=True)
    assert 'rewrite_module_tmp: "model.layers.{}.mlp.down_proj"' in hparams.read_text()


def test_layout_override_and_another_format(tmp_path, capsys):
    folder = saved_tiny("biogpt", tmp_path / "biogpt")
    facts = SAMPLES / "wiki_counterfact" / "knowedit_test_cf_sample.json"
    hparams, table = tmp_path / "h.yaml", tmp_path / "t.csv"
    out, golden = find_layer(capsys, "--model", str(folder), "--facts", str(facts), "--limit", "2",
                             "--layout", json.dumps(BIOGPT_LAYOUT), "--out-hparams", str(hparams),
                             "--out-table", str(table))
    check_outputs(out, golden, hparams, table, 4, cma=False)
    assert 'rewrite_module_tmp: "biogpt.layers.{}.fc2"' in hparams.read_text()


def test_bad_facts_file_is_one_clear_error(tmp_path, capsys):
    facts = tmp_path / "facts.json"
    facts.write_text('[{"prompt": "x", "subject": "y"}]')
    assert cli.main(["find-layer", "--facts", str(facts), "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(facts) in err and "format" in err


@pytest.mark.slow
def test_smollm2_default_on_20_counterfact_facts(tmp_path, capsys):
    """The embedded model (prepared once into resources/models, shared with the other SmolLM2 tests)."""
    hparams, table = tmp_path / "h.yaml", tmp_path / "t.csv"
    begin = time.perf_counter()
    out, golden = find_layer(capsys, "--facts", str(COUNTERFACT), "--limit", "20", "--device", "cpu",
                             "--cache-dir", str(REPO / "resources" / "models"), "--out-hparams", str(hparams),
                             "--out-table", str(table))
    seconds = time.perf_counter() - begin
    print(f"find-layer on SmolLM2, 20 CounterFact facts: {seconds:.1f} s, golden layer {golden}")
    assert "smollm2-135m" in out and "20 facts" in out
    check_outputs(out, golden, hparams, table, 30, cma=False)
