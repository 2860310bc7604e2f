"""Faults: a killed writer leaves nothing complete; a non-finite edit is a failed case, not a lost job."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from goldenlayers.io import atomic_path, write_parquet
from job_inputs import tiny_job_inputs

REPO = Path(__file__).resolve().parents[1]


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
        editor_name="rome", hparams=hparams, layer=1, templates_path=str(tmp_path / "prefixes.json"),
        out=str(tmp_path / "edits.parquet"), out_hparams=str(tmp_path / "edits.hparams.json"),
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


def test_corrupted_model_weights_are_named(tmp_path):
    from goldenlayers.errors import InputError
    from goldenlayers.models.load import load_model, prepare_model

    model_dir = tmp_path / "model"
    prepare_model("tiny-gpt2", {"source": "tiny", "family": "gpt2", "num_layers": 2}, model_dir)
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        load_model(model_dir, device="cpu")
    assert "model.safetensors" in str(err.value) and "sha256" in str(err.value)
