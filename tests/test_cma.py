"""CMA (causal tracing): exact recovery when everything is restored, the corrupted run when nothing is,
the same code on GPT-2, LLaMA and Gemma3, skipping of cases the clean model gets wrong."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from goldenlayers import cli
from goldenlayers.data.schema import EditCase
from goldenlayers.errors import ConfigError
from goldenlayers.io import read_parquet_metadata
from goldenlayers.locate.cma import (case_noise, run_cma, subject_embedding_std, subject_positions, trace_case,
                                     window_layers)
from goldenlayers.models.tokens import encode_qa
from job_inputs import cached_tiny, tiny_model_and_cases

CMA_CONTRACT = ["model", "dataset", "layer", "mean_effect", "is_golden", "n_cases", "n_skipped", "seconds",
                "mean_query_tokens"]
CASE_CONTRACT = ["case_id", "layer", "p_restored", "p_clean", "p_corrupt"]
FAMILIES = ["gpt2", "llama", "gemma3"]

def tiny(family, layers=4):
    return cached_tiny(family, layers, seed=1)


def make_case(case_id, prompt, subject, target_true=None):
    return EditCase(case_id=str(case_id), dataset="zsre", source_index=0, prompt=prompt, subject=subject,
                    target_new="Paris", target_true=target_true)


CASES = [make_case("a", "Danielle Darrieux speaks", "Danielle Darrieux"),
         make_case("b", "The capital of Spain is", "Spain")]


@torch.no_grad()
def probs_with_noise(model, layout, ids, positions, noise):
    """Reference corrupted run without hooks: embedding module output + noise, fed as inputs_embeds."""
    embedded = layout.embedding(torch.tensor([ids])).repeat(noise.shape[0], 1, 1)
    embedded[:, positions] += noise.to(embedded.dtype)
    logits = model(inputs_embeds=embedded).logits[:, -1]
    return torch.softmax(logits.float(), dim=-1)


def test_window_is_centred_and_clipped():
    assert window_layers(0, 10, 30) == tuple(range(0, 5))
    assert window_layers(15, 10, 30) == tuple(range(10, 20))
    assert window_layers(29, 10, 30) == tuple(range(24, 30))
    assert window_layers(5, 1, 30) == (5,)
    assert window_layers(5, 3, 30) == (4, 5, 6)
    assert window_layers(2, 0, 30) == ()
    assert window_layers(1, 8, 4) == (0, 1, 2, 3)


def test_subject_positions_from_offsets():
    _, tokenizer, _ = tiny("gpt2")
    ids, positions = subject_positions(tokenizer, "Hé, Danielle Darrieux speaks", "Danielle Darrieux")
    assert ids == tokenizer("Hé, Danielle Darrieux speaks").input_ids
    assert tokenizer.decode([ids[p] for p in positions]).strip() == "Danielle Darrieux"
    assert positions == list(range(positions[0], positions[-1] + 1))
    with pytest.raises(Exception, match="does not occur"):
        subject_positions(tokenizer, "no subject here", "Darrieux")


def test_noise_is_seeded_per_case():
    a = case_noise(0, "x", 3, 2, 8)
    assert torch.equal(a, case_noise(0, "x", 3, 2, 8))
    assert not torch.equal(a, case_noise(0, "y", 3, 2, 8))
    assert not torch.equal(a, case_noise(1, "x", 3, 2, 8))


@pytest.mark.parametrize("family", FAMILIES)
def test_nothing_restored_is_the_corrupted_run_and_everything_restored_is_the_clean_run(family):
    model, tokenizer, layout = tiny(family)
    n = layout.n_layers
    ids, positions = subject_positions(tokenizer, CASES[0].prompt, CASES[0].subject)
    noise = case_noise(0, "a", 4, len(positions), layout.hidden_size) * 2.0
    clean = probs_with_noise(model, layout, ids, positions, noise * 0)[0]
    token = int(clean.argmax())
    corrupted = probs_with_noise(model, layout, ids, positions, noise)[:, token].mean().item()
    # the noise does something (random tiny models are close to uniform, hence the relative tolerances)
    assert corrupted != pytest.approx(clean[token].item(), rel=1e-3)

    everything = [tuple(range(n))]
    # the hidden state (block output) of every layer at every position: exactly the clean run
    got_token, p_clean, p_corrupt, restored = trace_case(model, layout, ids, positions, noise, everything + [()],
                                                         restore="hidden", restore_token="all")
    assert got_token == token and p_clean == pytest.approx(clean[token].item(), rel=1e-5)
    assert p_corrupt == pytest.approx(corrupted, rel=1e-5)       # the corrupted baseline
    assert restored[0] == pytest.approx(p_clean, rel=1e-5)       # all restored
    assert restored[1] == pytest.approx(corrupted, rel=1e-5)     # none restored
    # every MLP output at every position restored: the subject-token residual keeps the noise, so not clean
    _, _, _, mlp_all = trace_case(model, layout, ids, positions, noise, everything, restore="mlp",
                                  restore_token="all")
    assert np.isfinite(mlp_all).all() and 0 <= mlp_all[0] <= 1


@pytest.mark.parametrize("family", FAMILIES)
def test_last_block_at_the_last_subject_token_recovers_the_clean_probability(family):
    # with the subject at the end of the prompt, the last block's output there is all the logits read
    model, tokenizer, layout = tiny(family)
    ids, positions = subject_positions(tokenizer, "The language of Danielle", "Danielle")
    assert positions[-1] == len(ids) - 1
    noise = case_noise(3, "z", 5, len(positions), layout.hidden_size)
    _, p_clean, p_corrupt, restored = trace_case(
        model, layout, ids, positions, noise, [(layout.n_layers - 1,), (0,)], restore="hidden", max_batch=5)
    assert restored[0] == pytest.approx(p_clean, rel=1e-5)
    assert restored[1] != pytest.approx(p_clean, rel=1e-3)


def test_batching_does_not_change_the_result():
    model, tokenizer, layout = tiny("llama")
    ids, positions = subject_positions(tokenizer, CASES[1].prompt, CASES[1].subject)
    noise = case_noise(0, "b", 3, len(positions), layout.hidden_size)
    windows = [window_layers(layer, 2, layout.n_layers) for layer in range(layout.n_layers)]
    one = trace_case(model, layout, ids, positions, noise, windows, max_batch=1)
    many = trace_case(model, layout, ids, positions, noise, windows, max_batch=1000)
    assert one[:3] == pytest.approx(many[:3], abs=1e-6) and np.allclose(one[3], many[3], atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_run_cma_on_every_family(family):
    model, tokenizer, layout = tiny(family)
    result = run_cma(model, tokenizer, layout, CASES, grid=[1, 2], samples=3, window=2, seed=0)
    frame = result.layer_frame("tiny", "zsre")
    assert set(CMA_CONTRACT) <= set(frame.columns) and list(frame["layer"]) == [0, 1, 2, 3]
    assert result.n_skipped == 0 and (frame["n_cases"] == 2).all()  # no old answers: nothing to skip
    assert np.isfinite(frame["mean_effect"]).all() and ((frame["mean_effect"] >= 0) & (frame["mean_effect"] <= 1)).all()
    golden = frame.loc[frame["is_golden"], "layer"].tolist()
    assert len(golden) == 1 and golden[0] == (1 if frame["mean_effect"][1] >= frame["mean_effect"][2] else 2)
    assert frame.loc[frame["is_golden_all"], "layer"].tolist() == [int(np.argmax(frame["mean_effect"].to_numpy()))]
    per_case = result.case_frame(tokenizer)
    assert set(CASE_CONTRACT) <= set(per_case.columns) and len(per_case) == 8
    means = per_case.groupby("layer")["p_restored"].mean().to_numpy()
    assert np.allclose(means, frame["mean_effect"].to_numpy())
    assert np.allclose(per_case["indirect_effect"], per_case["p_restored"] - per_case["p_corrupt"])
    # the noise std: noise_scale x the std of the embedding output over the subject tokens
    std = subject_embedding_std(model, layout, tokenizer, CASES)
    manual = torch.cat([layout.embedding(torch.tensor([subject_positions(tokenizer, c.prompt, c.subject)[0]]))[0][
        subject_positions(tokenizer, c.prompt, c.subject)[1]] for c in CASES]).std().item()
    assert std == pytest.approx(manual, rel=1e-6) and result.noise_std == pytest.approx(3.0 * manual, rel=1e-6)
    # deterministic for a fixed seed
    again = run_cma(model, tokenizer, layout, CASES, grid=[1, 2], samples=3, window=2, seed=0)
    assert np.array_equal(again.mean_effect, result.mean_effect)


def test_window_zero_gives_the_corrupted_probability_at_every_layer():
    model, tokenizer, layout = tiny("gpt2")
    result = run_cma(model, tokenizer, layout, CASES, samples=2, window=0)
    for trace in result.traces:
        assert np.allclose(trace.p_restored, trace.p_corrupt, atol=1e-7)
    assert np.allclose(result.mean_indirect_effect, 0.0, atol=1e-7)


def test_default_traces_the_models_own_prediction_known_mode_skips_and_counts():
    model, tokenizer, layout = tiny("llama")
    prompt = CASES[0].prompt
    clean = probs_with_noise(model, layout, tokenizer(prompt).input_ids, [0], torch.zeros(1, 1, layout.hidden_size))
    clean_token = int(clean[0].argmax())
    qa = encode_qa(tokenizer, prompt, "French")
    wrong = qa.ids[qa.n_query] != clean_token
    assert wrong  # the seeded tiny model does not predict " French"'s first token (a space byte)
    cases = [make_case("known", prompt, "Danielle Darrieux", None),
             make_case("old", prompt, "Danielle Darrieux", "French")]
    # default (cases="prediction"): every case traces the model's own clean prediction, ground truth or not
    traced = run_cma(model, tokenizer, layout, cases, samples=2, window=2)
    assert [t.kept for t in traced.traces] == [True, True] and traced.n_skipped == 0
    assert {t.clean_token for t in traced.traces} == {clean_token}
    per_case = traced.case_frame(tokenizer)
    assert per_case["traced_token"].eq(tokenizer.decode([clean_token])).all()
    effect = per_case["p_clean"] - per_case["p_corrupt"]
    assert np.allclose(per_case["corruption_effect"], effect) and per_case["seconds"].gt(0).all()
    assert not per_case.loc[per_case["case_id"] == "old", "prediction_is_ground_truth"].any()
    frame = traced.layer_frame("tiny", "zsre")
    assert (frame["n_kept"] == 2).all() and (frame["cases_mode"] == "prediction").all()
    assert frame["mean_corruption_effect"].iloc[0] == pytest.approx(float(per_case.groupby("case_id")
                                                                          ["corruption_effect"].first().mean()))
    # "known": only cases whose ground truth starts with the prediction; without ground truth: skipped too
    result = run_cma(model, tokenizer, layout, cases, samples=2, window=2, cases_mode="known")
    assert [t.kept for t in result.traces] == [False, not wrong]
    assert result.n_skipped == 1 + int(wrong)
    per_case = result.case_frame(tokenizer)
    skipped = per_case[per_case["case_id"] == "old"]
    assert skipped["p_restored"].isna().all() and (~skipped["kept"]).all()
    assert skipped["skip_reason"].notna().all() and skipped["p_clean"].notna().all()
    assert (skipped["expected_token_id"] == qa.ids[qa.n_query]).all()
    frame = result.layer_frame("tiny", "zsre")
    assert (frame["n_skipped"] == 2).all() and (frame["n_kept"] == 0).all() and (frame["n_cases"] == 2).all()
    assert np.isnan(result.mean_effect).all() and result.golden.layer is None
    assert not frame["is_golden"].any() and np.isnan(frame["mean_corruption_effect"]).all()
    with pytest.raises(ConfigError):
        run_cma(model, tokenizer, layout, cases, samples=2, window=2, cases_mode="sometimes")


def test_cli_writes_the_contract(tmp_path):
    model_dir, cases_path = tiny_model_and_cases(tmp_path, "gemma3", CASES)
    out, out_cases = tmp_path / "cma.parquet", tmp_path / "cma_cases.parquet"
    code = cli.main(["cma", "--model-dir", str(model_dir), "--cases", str(cases_path), "--grid", "1,2",
                     "--device", "cpu", "--samples", "2", "--window", "3", "--seed", "5",
                     "--out", str(out), "--out-cases", str(out_cases)])
    assert code == 0
    frame, per_case = pd.read_parquet(out), pd.read_parquet(out_cases)
    assert set(CMA_CONTRACT) <= set(frame.columns) and len(frame) == 3
    assert set(CASE_CONTRACT) <= set(per_case.columns) and len(per_case) == 6
    assert (frame["model"] == "tiny-gemma3").all() and (frame["dataset"] == "zsre").all()
    assert frame.loc[frame["is_golden"], "layer"].isin([1, 2]).all() and frame["is_golden"].sum() == 1
    meta = read_parquet_metadata(out)
    assert meta["locator"] == "cma" and meta["seed"] == "5" and '"window": 3' in meta["config"]
    assert not math.isnan(frame["seconds"].iloc[0])
