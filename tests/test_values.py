"""The target_values stage: values computed once and read by edit jobs give the very same edits."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from goldenlayers.editors.hparams import load_hparams
from goldenlayers.editors.registry import get_editor
from goldenlayers.editors.values import ValueSite, ValueStore, run_values_job, value_hparams, value_key
from goldenlayers.errors import ConfigError, InputError
from goldenlayers.evaluate.edit_job import run_edit_job
from job_inputs import REPO, tiny_job_inputs

OVERRIDES = {"v_num_grad_steps": 3, "context_template_length_params": [[5, 2]]}


def _hparams(editor: str, **extra):
    return load_hparams(REPO / f"config/hparams/{editor}/llama.yaml", editor, {**OVERRIDES, **extra})


def _edit(tmp_path, editor, name, values_path=None):
    return run_edit_job(
        model_dir=str(tmp_path / "model"), model_name="tiny-llama", cases_path=str(tmp_path / "cases.parquet"),
        editor_name=editor, hparams=_hparams(editor), layers=[2], templates_path=str(tmp_path / "prefixes.json"),
        out=str(tmp_path / f"{name}.parquet"), dataset="counterfact",
        split="proxy", device="cpu", values_path=values_path,
    )


def _without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in frame.columns if "seconds" in c])


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("values")
    tiny_job_inputs(tmp_path)
    values = tmp_path / "values.safetensors"
    run_values_job(model_dir=str(tmp_path / "model"), cases_paths=[str(tmp_path / "cases.parquet")], sites="mlp2",
                   hparams=_hparams("rome"), templates_path=str(tmp_path / "prefixes.json"), out=str(values),
                   device="cpu")
    return tmp_path, values


@pytest.mark.parametrize("editor", ["rome", "r-rome"])
def test_edits_from_stored_values_equal_edits_that_optimise_themselves(job, editor):
    tmp_path, values = job
    inline = _edit(tmp_path, editor, f"{editor}-inline")
    shared = _edit(tmp_path, editor, f"{editor}-shared", str(values))
    assert len(inline) == 3 and (inline["status"] == "ok").all()
    pd.testing.assert_frame_equal(_without_time(inline), _without_time(shared))
    assert (shared["edit_v_steps"] == OVERRIDES["v_num_grad_steps"]).all()
    # the stored optimisation's time counts in the edit's seconds (the cost brute force sums)
    assert (shared["edit_value_seconds"] > 0).all() and (shared["seconds"] > shared["edit_value_seconds"]).all()


def test_rome_and_r_rome_share_the_value_memit_and_emmet_share_theirs():
    rome, r_rome = _hparams("rome"), _hparams("r-rome", enable_random_prefix_keys=True)
    assert value_key(rome) == value_key(r_rome)
    assert get_editor("rome").value_site(5, 30, rome) == get_editor("r-rome").value_site(5, 30, r_rome) == ValueSite("mlp", 5)
    memit = load_hparams(REPO / "config/hparams/memit/llama.yaml", "memit", {"window": 3, "align": "end"})
    assert get_editor("memit").value_site(5, 30, memit) == ValueSite("block", 5)
    centred = {**memit, "align": "center"}
    assert get_editor("memit").value_site(5, 30, centred) == ValueSite("block", 6)
    assert get_editor("emmet").value_site(29, 30, centred) == ValueSite("block", 29)  # clipped at the top
    assert value_key({**rome, "v_lr": rome["v_lr"] * 2}) != value_key(rome)
    assert value_key({**rome, "mom2_adjustment": not rome["mom2_adjustment"]}) == value_key(rome)  # solve only


def test_store_refuses_other_hyperparameters_another_site_and_unknown_cases(job):
    from goldenlayers.editors.request import EditContext, EditRequest
    from goldenlayers.errors import GoldenLayersError
    from goldenlayers.models.load import load_model

    tmp_path, values = job
    store = ValueStore(values)
    assert store.sites == [ValueSite("mlp", 2)] and len(store.cases["mlp2"]) == 3
    model, tokenizer, layout, _ = load_model(tmp_path / "model", device="cpu")
    case_id = next(iter(store.cases["mlp2"]))
    request = EditRequest("Paris is the capital of", "Paris", "Italy", case_id)
    ctx = EditContext(model, layout, tokenizer, _hparams("rome", v_lr=0.1), ["{}"], values=store)
    with pytest.raises(InputError, match="v_lr") as err:
        store.lookup(ctx, request, layout.mlp(2))
    assert str(values) in str(err.value)
    ctx.hparams = _hparams("rome")
    with pytest.raises(GoldenLayersError, match="site\\(s\\) mlp2"):
        store.lookup(ctx, request, layout.mlp(1))
    with pytest.raises(InputError, match="no target value") as err:
        store.lookup(ctx, EditRequest("x is", "x", "y", "no-such-case"), layout.mlp(2))
    assert "no-such-case" in str(err.value)
    assert store.lookup(ctx, request, layout.mlp(2)).steps == OVERRIDES["v_num_grad_steps"]


def test_bad_site_and_damaged_file_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="site"):
        ValueSite.parse("attn3")
    with pytest.raises(ConfigError, match="sites"):
        ValueSite.parse_chunk("mlp3-1")
    assert ValueSite.parse_chunk("block8_18") == [ValueSite("block", 8), ValueSite("block", 18)]
    damaged = tmp_path / "values.safetensors"
    damaged.write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="values.safetensors"):
        ValueStore(damaged)
    with pytest.raises(ConfigError, match="v_lr"):
        value_hparams({k: 1 for k in ("fact_token", "v_num_grad_steps")})


def test_values_command_writes_the_file_with_its_provenance(job, tmp_path):
    from goldenlayers.cli import main

    source, _ = job
    out = tmp_path / "v.safetensors"
    code = main(["values", "--model-dir", str(source / "model"), "--cases", str(source / "cases.parquet"),
                 "--sites", "block0-1", "--value-hparams", json.dumps(value_hparams(_hparams("memit"))),
                 "--templates", str(source / "prefixes.json"), "--device", "cpu", "--out", str(out)])
    assert code == 0
    store = ValueStore(out)
    assert store.sites == [ValueSite("block", 0), ValueSite("block", 1)]
    assert [len(store.cases[site]) for site in ("block0", "block1")] == [3, 3]
    assert not list(tmp_path.glob("*.part"))
    assert main(["values", "--model-dir", str(source / "model"), "--cases", str(source / "cases.parquet"),
                 "--sites", "block9", "--value-hparams", json.dumps(value_hparams(_hparams("memit"))),
                 "--templates", str(source / "prefixes.json"), "--device", "cpu", "--out", str(tmp_path / "w")]) == 2
    assert not (tmp_path / "w").exists()


def test_a_failure_at_one_site_of_a_chunk_fails_only_that_site(tmp_path):
    """A chunk's values file holds several sites: a case whose optimisation failed at one of them fails its edit
    there, not at the chunk's other layers."""
    import torch

    from goldenlayers.editors.target_value import TargetValue
    from goldenlayers.editors.values import save_values

    def good():
        return TargetValue(torch.zeros(8), torch.ones(8), 3, 0.5, 0.6)

    nan = torch.full((8,), float("nan"))
    bad = TargetValue(nan, nan.clone(), 0, float("nan"), float("nan"), failure="OverflowError: step")
    path = tmp_path / "mlp1-2.safetensors"
    save_values(path, {ValueSite("mlp", 1): {"a": good(), "b": bad}, ValueSite("mlp", 2): {"a": good(), "b": good()}},
                _hparams("rome"))
    store = ValueStore(path)
    assert store.failure_of("b", ValueSite("mlp", 1)) == "OverflowError: step"
    assert store.failure_of("b", ValueSite("mlp", 2)) is None
    assert store.failure_of("a", ValueSite("mlp", 1)) is None and store.failure_of("zz", ValueSite("mlp", 2)) is None
