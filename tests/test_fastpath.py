"""The fast compute path gives the reference path's numbers (tiny GPT-2, LLaMA and Gemma3 models).

The sweeps run the production functions of the edit job (:func:`~goldenlayers.evaluate.edit_job.edit_case`),
once under each compute path.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest
import torch

from goldenlayers.data.loaders import load_cases
from goldenlayers.editors import fastpath, target_value
from goldenlayers.editors.hparams import load_hparams
from goldenlayers.editors.registry import get_editor
from goldenlayers.editors.request import EditContext, EditRequest
from goldenlayers.editors.target_value import optimize_target_full, value_problem
from goldenlayers.evaluate.edit_job import METRICS, EvalLimits, case_queries, edit_case, pre_edit
from goldenlayers.models.layout import resolve_layout
from goldenlayers.models.tiny import build_tiny

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ["{}", "The cat sat down. {}", "Because it was so. {}", "I think. {}", "You know, it is a long story. {}"]
FAMILIES = ["gpt2", "llama", "gemma3"]
N_LAYERS = 3


@pytest.fixture(scope="module")
def cases():
    return load_cases(ROOT / "data/benchmarks/counterfact/counterfact_sample.json", "counterfact", "counterfact").cases[:2]


def _context(family: str, editor: str, steps: int | None = None):
    model, tokenizer = build_tiny(family, N_LAYERS, seed=0)
    layout = resolve_layout(model)
    hparams = load_hparams(ROOT / f"config/hparams/{editor}/{family}.yaml", editor)
    if steps is not None:
        hparams["v_num_grad_steps"] = steps
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn(4 * layout.intermediate_size, layout.intermediate_size, generator=generator)
    second = sample.T @ sample / sample.shape[0]  # a fixed SPD stand-in for E[k k^T] (GPT-2 uses mom2)
    return EditContext(model, layout, tokenizer, hparams, TEMPLATES, second_moment=lambda layer: second)


def sweep_case(ctx, editor, case, layers, mode: str) -> list[dict]:
    """One case edited at every layer of ``layers`` in one process, through the edit job's own ``edit_case``.
    On the fast path the pre-edit predictions (independent of the layer) and the per-case forward of the
    value optimisation (``case_cache``) are shared across layers, as a brute-force sweep would share them."""
    queries = case_queries(ctx.tokenizer, case, EvalLimits())
    shared = fastpath.case_cache() if mode == "fast" else contextlib.nullcontext()
    with fastpath.use_mode(mode), shared:
        pre = pre_edit(ctx.model, ctx.tokenizer, queries) if mode == "fast" else None
        return [{"layer": layer, **edit_case(ctx, editor, case, layer, queries, pre)} for layer in layers]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("editor_name", ["r-rome", "rome"])
def test_sweep_metrics_equal(family, editor_name, cases):
    """A full layer sweep: every per-case metric of the fast path equals the reference path's."""
    ctx = _context(family, editor_name, steps=6)
    editor = get_editor(editor_name)
    layers = list(range(N_LAYERS))
    for case in cases:
        before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
        fast = sweep_case(ctx, editor, case, layers, "fast")
        reference = sweep_case(ctx, editor, case, layers, "reference")
        for f, r in zip(fast, reference):
            assert f["layer"] == r["layer"] and f["status"] == r["status"]  # the last layer: a no-op in both
            assert f["edit_v_steps"] == r["edit_v_steps"]
            assert f["pre_rewrite_acc"] == r["pre_rewrite_acc"]
            for name in METRICS:
                if math.isnan(r[name]):
                    assert math.isnan(f[name]), (name, f, r)
                else:
                    assert abs(f[name] - r[name]) <= 1e-4, (name, f, r)
            assert abs(f["edit_v_loss"] - r["edit_v_loss"]) <= 1e-4 * max(1.0, abs(r["edit_v_loss"]))
        after = ctx.model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), "weights not restored"
    assert not any("forward" in block.__dict__ for block in ctx.layout.blocks), "stub left behind"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("where", ["mlp", "block"])
def test_target_values_equal(family, where, cases):
    """optimize_target on an MLP (ROME) or a whole block (MEMIT/EMMET's z): same delta, steps and loss, at
    every layer (at the last one the shift reaches no read position, and both paths return delta = 0)."""
    ctx = _context(family, "r-rome", steps=10)
    case = cases[0]
    problem = value_problem(ctx, EditRequest.of(case))
    for layer in range(N_LAYERS):
        module = ctx.layout.mlp(layer) if where == "mlp" else ctx.layout.block(layer)
        reference = optimize_target_full(ctx, problem, module, reference=True)
        fast = fastpath.optimize_target_fast(ctx, problem, module)
        assert fast is not None, "the fast path did not apply"
        assert fast.steps == reference.steps
        assert torch.allclose(fast.target_init, reference.target_init, atol=1e-5, rtol=1e-5)
        assert torch.allclose(fast.delta, reference.delta, atol=1e-4, rtol=1e-4), float((fast.delta - reference.delta).abs().max())
        assert abs(fast.final_loss - reference.final_loss) <= 1e-5 * max(1.0, abs(reference.final_loss))
        if layer == N_LAYERS - 1:
            assert target_value.shift_is_unread(ctx, problem, module)
            assert not fast.delta.any() and not reference.delta.any()
            assert fast.steps == ctx.hparams["v_num_grad_steps"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("where", ["mlp", "block"])
def test_batched_cases_equal_one_at_a_time(family, where):
    """Cases optimised side by side in one batch (compute_values' default) give each case's own values: same
    steps (each case stops on its own), same shift and loss as optimising it alone on the reference path."""
    from goldenlayers.editors.values import ValueSite, compute_values

    ctx = _context(family, "r-rome", steps=12)
    four = load_cases(ROOT / "data/benchmarks/counterfact/counterfact_sample.json", "counterfact", "counterfact").cases[:4]
    requests = [EditRequest.of(c) for c in four]
    site = ValueSite(where, 1)
    # a loss threshold between the cases' final losses, so that they stop at different steps inside the batch
    ctx.hparams["v_loss_threshold"] = -1.0
    finals = sorted(v.final_loss for v in compute_values(ctx, requests, site).values())
    ctx.hparams["v_loss_threshold"] = (finals[1] + finals[2]) / 2
    batched = compute_values(ctx, requests, site, batch_tokens=10_000)
    with fastpath.use_mode("reference"):
        alone = compute_values(ctx, requests, site)
    assert list(batched) == [r.case_id for r in requests]
    for case_id, value in batched.items():
        reference = alone[case_id]
        assert value.steps == reference.steps, (case_id, value.steps, reference.steps)
        assert torch.allclose(value.target_init, reference.target_init, atol=1e-5, rtol=1e-5)
        assert torch.allclose(value.delta, reference.delta, atol=1e-4, rtol=1e-4), float((value.delta - reference.delta).abs().max())
        assert abs(value.final_loss - reference.final_loss) <= 1e-5 * max(1.0, abs(reference.final_loss))
        assert value.seconds > 0
    assert len({v.steps for v in alone.values()}) > 1, "the cases should stop at different steps"


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("sites_per_part", [N_LAYERS, 2])
def test_sites_side_by_side_equal_one_at_a_time(family, sites_per_part):
    """A sweep's problems (cases x every layer) side by side, as the target_values job runs a chunk: each
    (case, site) keeps its own steps, shift and loss, those of optimising it alone on the reference path. The
    loss threshold makes problems stop at different steps, so finished ones leave the batch while others go on;
    ``step_tokens`` is set so that the sites run in parts of ``sites_per_part`` (all in one batch, or 2 + 1)."""
    from goldenlayers.editors.values import ValueSite, _site_parts, _suffix_tokens, compute_site_values

    ctx = _context(family, "r-rome", steps=12)
    three = load_cases(ROOT / "data/benchmarks/counterfact/counterfact_sample.json", "counterfact", "counterfact").cases[:3]
    requests = [EditRequest.of(c) for c in three]
    sites = [ValueSite("mlp", layer) for layer in range(N_LAYERS)]
    ctx.hparams["v_loss_threshold"] = -1.0
    with fastpath.use_mode("reference"):
        unstopped = compute_site_values(ctx, requests, sites)
    finals = sorted(v.final_loss for per_site in unstopped.values() for v in per_site.values())
    ctx.hparams["v_loss_threshold"] = finals[len(finals) // 2]  # about half the problems stop early
    with fastpath.use_mode("reference"):  # the reference path optimises every (case, site) alone
        alone = compute_site_values(ctx, requests, sites)
    per_site = sum(_suffix_tokens(p) * len(p.sequences) for p in (value_problem(ctx, r) for r in requests))
    step_tokens = sites_per_part * per_site
    assert [len(part) for part in _site_parts(sites, per_site, step_tokens)][0] == sites_per_part
    together = compute_site_values(ctx, requests, sites, batch_tokens=10_000, step_tokens=step_tokens)
    assert list(together) == sites
    steps = set()
    for site in sites:
        assert list(together[site]) == [r.case_id for r in requests]
        for case_id, value in together[site].items():
            reference = alone[site][case_id]
            assert value.steps == reference.steps, (site, case_id, value.steps, reference.steps)
            assert torch.allclose(value.delta, reference.delta, atol=1e-4, rtol=1e-4), float((value.delta - reference.delta).abs().max())
            assert torch.allclose(value.target_init, reference.target_init, atol=1e-5, rtol=1e-5)
            assert abs(value.final_loss - reference.final_loss) <= 1e-5 * max(1.0, abs(reference.final_loss))
            steps.add(value.steps)
    assert len(steps) > 1, "the problems should stop at different steps"


def test_full_path_is_reference_bit_for_bit(cases):
    """Reading logits only at the positions the loss reads changes nothing (same forward, same numbers)."""
    ctx = _context("llama", "r-rome", steps=5)
    case = cases[0]
    problem = value_problem(ctx, EditRequest.of(case))
    module = ctx.layout.mlp(1)
    full = optimize_target_full(ctx, problem, module)
    reference = optimize_target_full(ctx, problem, module, reference=True)
    assert torch.allclose(full.delta, reference.delta, atol=1e-6)


def test_mode_switch(monkeypatch, cases):
    monkeypatch.setenv(fastpath.ENV_VAR, "reference")
    assert fastpath.get_mode() == "reference"
    with fastpath.use_mode("fast"):
        assert fastpath.get_mode() == "fast"
    monkeypatch.setenv(fastpath.ENV_VAR, "bogus")
    with pytest.raises(ValueError):
        fastpath.get_mode()
    monkeypatch.delenv(fastpath.ENV_VAR)
    assert fastpath.get_mode() == "fast"


def test_case_cache_guards_edited_weights(cases):
    """Inside case_cache, an edit computed while another edit is still applied recomputes the cached forward."""
    ctx = _context("llama", "r-rome", steps=4)
    case = cases[0]
    problem = value_problem(ctx, EditRequest.of(case))
    with fastpath.case_cache():
        clean = fastpath.optimize_target_fast(ctx, problem, ctx.layout.mlp(1))
        ctx.layout.add_to_weight(0, torch.full_like(ctx.layout.weight_out_in(0), 1e-2))
        try:
            edited = fastpath.optimize_target_fast(ctx, problem, ctx.layout.mlp(1))
            uncached = optimize_target_full(ctx, problem, ctx.layout.mlp(1))
        finally:
            ctx.layout.add_to_weight(0, torch.full_like(ctx.layout.weight_out_in(0), -1e-2))
    assert not torch.allclose(clean.target_init, edited.target_init)
    assert torch.allclose(edited.delta, uncached.delta, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family,editor_name", [("llama", "r-rome"), ("llama", "rome"), ("llama", "memit"),
                                                ("gpt2", "r-rome"), ("gemma3", "r-rome")])
def test_sweep_scope_changes_no_number(family, editor_name, cases):
    """A layer sweep inside case_cache (keys of every layer from one forward, the value problem's forward once,
    evaluation from the edited layer up) gives every figure of every edit bit for bit as without the scope."""
    ctx = _context(family, editor_name, steps=4)
    ctx.hparams.setdefault("window", 2) if editor_name == "memit" else None
    editor = get_editor(editor_name)
    case = cases[1]
    queries = case_queries(ctx.tokenizer, case, EvalLimits())
    layers = [2, 0, 1, 2]  # down, up, and a layer again
    with fastpath.use_mode("fast"):
        pre = pre_edit(ctx.model, ctx.tokenizer, queries)
        alone = [edit_case(ctx, editor, case, layer, queries, pre) for layer in layers]
        with fastpath.case_cache():
            shared = [edit_case(ctx, editor, case, layer, queries, pre) for layer in layers]
    for a, s in zip(alone, shared):
        assert a["status"] == s["status"]
        for key in a:
            if key != "seconds" and not key.endswith("_seconds"):
                assert a[key] == s[key] or (a[key] != a[key] and s[key] != s[key]), (key, a[key], s[key])


def test_shared_evaluation_tokens_are_the_full_forwards(cases):
    """predicted_tokens_shared, after edits at several layers in turn, gives predicted_tokens' tokens."""
    from goldenlayers.editors.weights import AppliedEdit, applied_layers
    from goldenlayers.evaluate.metrics import predicted_tokens

    ctx = _context("llama", "r-rome")
    queries = case_queries(ctx.tokenizer, cases[0], EvalLimits())
    qas = [qa for name in ("rewrite", "rephrase", "locality") for qa in queries[name]]
    pad = ctx.tokenizer.pad_token_id
    assert fastpath.predicted_tokens_shared(ctx.model, qas, pad) is None  # outside a scope: the caller's forward
    generator = torch.Generator().manual_seed(3)
    with fastpath.case_cache():
        assert fastpath.predicted_tokens_shared(ctx.model, qas, pad) is None  # no edit applied: nothing to skip
        for layer in [0, 2, 1, 2]:
            delta = torch.randn(ctx.layout.weight_out_in(layer).shape, generator=generator)
            with AppliedEdit(ctx.layout, {layer: delta}):
                assert applied_layers(ctx.model) == {layer}
                shared = fastpath.predicted_tokens_shared(ctx.model, qas, pad)
                full = predicted_tokens(ctx.model, qas, pad)
            assert all(torch.equal(s, f) for s, f in zip(shared, full))
        assert not applied_layers(ctx.model)


@pytest.mark.parametrize("shape", [(5, 64), (3, 4, 64)])
def test_split_linear_is_linear_bit_for_bit(shape):
    """_SplitLinear with the slices split_sizes gives: F.linear's outputs and input gradients exactly, for 2D and
    3D inputs."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(200, 64, generator=generator)
    x = torch.randn(*shape, generator=generator, requires_grad=True)
    grad = torch.randn(*shape[:-1], 200, generator=generator)
    plain = torch.nn.functional.linear(x, weight)
    (plain_grad,) = torch.autograd.grad(plain, x, grad)
    sizes = fastpath.split_sizes(200, 64, 4, budget=70 * 64 * 4)
    assert sizes == (67, 67, 66)  # even slices, none narrower than SPLIT_MIN_ROWS
    assert fastpath.split_sizes(200, 64, 4, budget=32 * 64 * 4) is None
    split = fastpath._SplitLinear.apply(x, weight, sizes)
    (split_grad,) = torch.autograd.grad(split, x, grad)
    assert torch.equal(plain, split) and torch.equal(plain_grad, split_grad)
