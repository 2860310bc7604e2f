"""Chunks of layers: one job per chunk loads the model once, and its per-case metrics are exactly those of one job
per layer (with the unedited predictions read from the pre_edit file, not recomputed)."""

from __future__ import annotations

import pandas as pd
import pytest

from goldenlayers.chunks import chunk_name, parse_chunk, split_into_chunks
from goldenlayers.errors import ConfigError
from job_inputs import tiny_job_inputs
from test_values import OVERRIDES, _hparams, _without_time


def test_chunk_names_round_trip_and_name_their_layers():
    assert chunk_name([0, 1, 2, 5]) == "0-2_5" and parse_chunk("0-2_5") == [0, 1, 2, 5]
    assert chunk_name([8, 18, 28]) == "8_18_28" and chunk_name(range(10)) == "0-9" and chunk_name([7]) == "7"
    for layers in ([3], list(range(30)), [0, 3, 6, 9, 12], [1, 2, 4, 5, 7]):
        assert parse_chunk(chunk_name(layers)) == layers
    assert split_into_chunks(range(30), 10) == [list(range(0, 10)), list(range(10, 20)), list(range(20, 30))]
    assert split_into_chunks([28, 8, 18], 2) == [[8, 18], [28]]
    for bad in ("", "a", "3-1", "1_1", "5_2", "1--2"):
        with pytest.raises(ConfigError, match="layers"):
            parse_chunk(bad)
    with pytest.raises(ConfigError, match="layers_per_job"):
        split_into_chunks([1], 0)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from goldenlayers.evaluate.edit_job import EvalLimits
    from goldenlayers.evaluate.pre_edit import run_pre_edit_job

    tmp_path = tmp_path_factory.mktemp("chunks")
    model_dir = tiny_job_inputs(tmp_path)
    run_pre_edit_job(model_dir=str(model_dir), cases_paths=[str(tmp_path / "cases.parquet")], splits=["proxy"],
                     limits=EvalLimits(), out=str(tmp_path / "pre_edit.parquet"), device="cpu")
    return tmp_path


def _run(tmp_path, name, layers, **extra):
    from goldenlayers.evaluate.edit_job import run_edit_job

    return run_edit_job(model_dir=str(tmp_path / "model"), model_name="tiny-llama",
                        cases_path=str(tmp_path / "cases.parquet"), editor_name="rome", hparams=_hparams("rome"),
                        layers=layers, templates_path=str(tmp_path / "prefixes.json"), dataset="counterfact",
                        split="proxy", device="cpu", out=str(tmp_path / f"{name}.parquet"), **extra)


def test_a_chunk_job_gives_each_layer_exactly_the_rows_of_its_own_job(inputs):
    chunk = _run(inputs, "chunk", [0, 1, 2], pre_edit_path=str(inputs / "pre_edit.parquet"),
                 out_hparams=str(inputs / "chunk.hparams.json"))
    alone = pd.concat([_run(inputs, f"alone{layer}", [layer]) for layer in (0, 1, 2)], ignore_index=True)
    assert chunk["layer"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert (chunk["status"] == "ok").all() and (chunk["edit_v_steps"] <= OVERRIDES["v_num_grad_steps"]).all()
    pd.testing.assert_frame_equal(_without_time(chunk), _without_time(alone))


def test_pre_edit_file_holds_the_unedited_scores_and_guards_its_limits(inputs):
    from goldenlayers.errors import InputError
    from goldenlayers.evaluate.edit_job import EvalLimits
    from goldenlayers.evaluate.pre_edit import read_pre_edit

    frame = pd.read_parquet(inputs / "pre_edit.parquet")
    assert frame["split"].tolist() == ["proxy"] * 3 and frame["case_id"].is_unique
    assert frame["pre_rewrite_acc"].between(0, 1).all() and frame["pre_rephrase_acc"].between(0, 1).all()
    assert all(len(tokens) > 0 for tokens in frame["pre_locality_tokens"])
    with pytest.raises(InputError, match="evaluation") as err:
        read_pre_edit(inputs / "pre_edit.parquet", EvalLimits(max_locality=3))
    assert "pre_edit.parquet" in str(err.value)
    pre = frame.drop(columns="pre_locality_tokens").iloc[:1]
    pre.to_parquet(inputs / "partial.parquet")
    with pytest.raises(InputError, match="pre_locality_tokens"):
        read_pre_edit(inputs / "partial.parquet", EvalLimits())
