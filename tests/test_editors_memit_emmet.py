"""MEMIT and EMMET on tiny GPT-2, LLaMA and Gemma3 models with real second moments, plus their math."""

from __future__ import annotations

import pytest
import torch

from goldenlayers.editors.request import EditContext, EditRequest
from goldenlayers.editors.emmet import EMMET
from goldenlayers.editors.memit import MEMIT, edit_window, memit_key, resolve_update_weight
from goldenlayers.editors.registry import get_editor
from goldenlayers.errors import ConfigError
from goldenlayers.models.layout import resolve_layout
from goldenlayers.models.tiny import build_tiny
from goldenlayers.stats.covariance import compute_second_moments

TEXTS = [
    "The quick brown fox jumps over the lazy dog while the farmer sleeps in the afternoon sun.",
    "Paris is the capital of France, and Berlin is the capital of Germany; both are large cities.",
    "In 1905 Albert Einstein published four papers that changed physics, including special relativity.",
    "A glass of cold water, a loaf of bread and some cheese were left on the kitchen table overnight.",
    "The orchestra played the symphony twice because the audience would not stop applauding at the end.",
    "Rivers carry sediment from mountains to the sea, building deltas where the current slows down.",
] * 4
TEMPLATES = ["{}", "Well, I think. {}", "The story so far. {}"]
HPARAMS = {
    "fact_token": "subject_last", "v_num_grad_steps": 25, "v_lr": 0.5, "v_weight_decay": 1e-3,
    "clamp_norm_factor": 4, "kl_factor": 0.0625, "v_loss_threshold": 0.05, "mom2_update_weight": "0.05*d",
    "emmet_lambda": 0.1, "update_norm_lambda": 0, "window": 3, "align": "end",
}
REQUEST = EditRequest("About Ann Lee", "Ann Lee", "Xq")


@pytest.fixture(scope="module", params=["gpt2", "llama", "gemma3"])
def tiny(request):
    torch.manual_seed(0)
    model, tokenizer = build_tiny(request.param, 4, seed=0)
    model.requires_grad_(False)
    layout = resolve_layout(model)
    moments, n_tokens = compute_second_moments(model, tokenizer, layout, TEXTS, list(range(4)), max_length=128)
    assert n_tokens > layout.intermediate_size  # full-rank statistics
    return request.param, model, tokenizer, layout, moments


def _ctx(tiny, **overrides):
    _, model, tokenizer, layout, moments = tiny
    return EditContext(model, layout, tokenizer, {**HPARAMS, **overrides}, TEMPLATES, lambda l: moments[l])


def _next_token(model, tokenizer, text):
    ids = torch.tensor([tokenizer(text).input_ids])
    with torch.no_grad():
        return int(model(input_ids=ids).logits[0, -1].argmax())


def _weights(layout):
    return {l: layout.rewrite_weight(l).detach().clone() for l in range(layout.n_layers)}


def test_edit_window_end_center_and_clipping():
    assert edit_window(8, 30, 5, "end") == [4, 5, 6, 7, 8]
    assert edit_window(8, 30, 5, "center") == [6, 7, 8, 9, 10]
    assert edit_window(8, 30, 4, "center") == [7, 8, 9, 10]
    assert edit_window(1, 30, 5, "end") == [0, 1]
    assert edit_window(29, 30, 5, "center") == [27, 28, 29]
    assert edit_window(3, 30, 1, "end") == [3]
    with pytest.raises(ConfigError):
        edit_window(3, 30, 5, "middle")


def test_update_weight_absolute_and_relative():
    assert resolve_update_weight(15000, 1536) == 15000.0
    assert resolve_update_weight("1.3627*d", 11008) == pytest.approx(15000.6, rel=1e-4)
    assert resolve_update_weight(" 2 * d ", 10) == 20.0
    for bad in ("auto", "d*2", "-1*d", True):
        with pytest.raises(ConfigError):
            resolve_update_weight(bad, 10)


def test_registry_knows_both():
    assert isinstance(get_editor("memit"), MEMIT) and isinstance(get_editor("emmet"), EMMET)
    assert get_editor("memit").needs_stats({}) and get_editor("emmet").needs_stats({})
    assert get_editor("emmet").edited_layers(2, 4, {"window": 5}) == [0, 1, 2]


def solve_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(second moment of 200 random 12-d keys, a key, a 5-d residual)."""
    torch.manual_seed(seed)
    keys = torch.randn(200, 12, dtype=torch.float64)
    return keys.T @ keys / 200, torch.randn(12, dtype=torch.float64), torch.randn(5, dtype=torch.float64)


def test_memit_solve_is_memits_closed_form():
    second, k, r = solve_inputs(1)
    delta, info = MEMIT().solve(k, r, second, {"mom2_update_weight": 3.0})
    expected = r[:, None] @ k[None, :] @ torch.linalg.inv(3.0 * second + torch.outer(k, k))
    torch.testing.assert_close(delta, expected)
    q = float(k @ torch.linalg.solve(3.0 * second, k))
    assert info["written"] == pytest.approx(q / (1 + q))  # share of r written for k
    torch.testing.assert_close(delta @ k, r * q / (1 + q))


def test_emmet_solve_meets_equality_and_easyedit_variant():
    second, k, r = solve_inputs(2)
    hp = {"mom2_update_weight": 100000.0, "emmet_lambda": 0.1, "update_norm_lambda": 0}
    delta, _ = EMMET().solve(k, r, second, hp)
    torch.testing.assert_close(delta @ k, r)  # W' k = W k + r exactly, whatever mom2_update_weight
    assert torch.linalg.matrix_rank(delta) == 1
    q = float(k @ torch.linalg.solve(100000.0 * second, k))
    variant, info = EMMET().solve(k, r, second, {**hp, "emmet_lambda_single_edit": True})
    torch.testing.assert_close(variant @ k, r * q / (q + 0.1))
    assert info["written"] == pytest.approx(q / (q + 0.1))


@pytest.mark.parametrize("editor_cls", [MEMIT, EMMET])
def test_edit_makes_target_argmax_rank_one_and_restores(tiny, editor_cls):
    family, model, tokenizer, layout, _ = tiny
    ctx = _ctx(tiny)
    target = tokenizer(" Xq", add_special_tokens=False).input_ids[0]
    assert _next_token(model, tokenizer, REQUEST.prompt) != target
    before = _weights(layout)
    deltas, info = editor_cls().compute_deltas(ctx, REQUEST, 2)
    after = _weights(layout)
    assert all(torch.equal(before[l], after[l]) for l in before), "compute_deltas must restore the model"
    assert sorted(deltas) == [0, 1, 2]
    for l, delta in deltas.items():
        assert delta.shape == (layout.hidden_size, layout.intermediate_size)
        assert torch.isfinite(delta).all()
        assert torch.linalg.matrix_rank(delta.double(), rtol=1e-6) == 1, (family, l)
    for l, delta in deltas.items():
        layout.add_to_weight(l, delta)
    try:
        assert _next_token(model, tokenizer, REQUEST.prompt) == target, (family, info)
    finally:
        with torch.no_grad():
            for l, w in before.items():
                layout.rewrite_weight(l).copy_(w)


def test_emmet_update_maps_the_key_to_its_target(tiny):
    """Single layer: the edited projection maps MEMIT's averaged key k to W k + r (EMMET's constraint)."""
    _, model, tokenizer, layout, _ = tiny
    ctx = _ctx(tiny, window=1)
    key = memit_key(ctx, REQUEST, 2)
    deltas, info = EMMET().compute_deltas(ctx, REQUEST, 2)
    delta = deltas[2].double()
    # dW = r u^T has r as its only column direction; with one layer r is the whole z error z - h, and
    # EMMET's constraint (W + dW) k = W k + r means dW k has exactly that length
    assert info["written_mean"] == pytest.approx(1.0)
    assert float((delta @ key).norm()) == pytest.approx(info["z_error_before"], rel=1e-4)

# The real-model check (SmolLM2, ten CounterFact cases, all four editors) is tests/test_editors_smollm2.py.
