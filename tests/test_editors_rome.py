"""ROME and R-ROME: rank-one updates that map the key to the target value, on every family, and real edits."""

from __future__ import annotations

import pytest
import torch

from goldenlayers.editors.context import select_templates
from goldenlayers.editors.keys import fill, keys_over_templates, projection_io_at, subject_last_index
from goldenlayers.editors.hparams import load_hparams
from goldenlayers.editors.registry import get_editor
from goldenlayers.editors.request import EditContext, EditRequest
from goldenlayers.editors.weights import AppliedEdit
from goldenlayers.evaluate.metrics import predicted_tokens, token_accuracy
from goldenlayers.models.tokens import encode_qa

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TINY_HPARAMS = dict(
    fact_token="subject_last", v_num_grad_steps=40, v_lr=0.5, v_weight_decay=1e-3, clamp_norm_factor=4,
    kl_factor=0.0625, v_loss_threshold=0.05, mom2_adjustment=False, context_template_length_params=[[5, 2]],
)
# On a random 4-layer model a shift at the subject reaches the answer only when the subject ends the
# prompt (attention elsewhere is diffuse), so the tiny-model request is phrased that way.
TINY_REQUEST = EditRequest("The mother tongue of Danielle Darrieux", "Danielle Darrieux", "X")
TINY_TEMPLATES = ["{}", "The cat sat. {}", "I think so. {}"]


@pytest.mark.parametrize("editor_name", ["rome", "r-rome"])
def test_update_is_rank_one_maps_key_to_target_and_edits(tiny, editor_name):
    model, tokenizer, layout = tiny
    ctx = EditContext(model, layout, tokenizer, TINY_HPARAMS, TINY_TEMPLATES)
    layer = 2
    original = layout.rewrite_weight(layer).detach().clone()
    deltas, info = get_editor(editor_name).compute_deltas(ctx, TINY_REQUEST, layer)

    assert set(deltas) == {layer}
    delta = deltas[layer]
    assert delta.shape == (layout.hidden_size, layout.intermediate_size)
    singular = torch.linalg.svdvals(delta.double())
    assert singular[1] < 1e-5 * singular[0], "the update must have rank one"
    assert torch.equal(layout.rewrite_weight(layer), original), "compute_deltas must not change the model"

    keys, outputs = keys_over_templates(ctx, TINY_REQUEST, layer)
    if editor_name == "r-rome":
        key = keys.float().mean(0)
        before = outputs.float().mean(0)
    else:  # ROME divides by the bare prompt's key
        position = subject_last_index(tokenizer, TINY_REQUEST.prompt_template, TINY_REQUEST.subject)
        key_b, out_b = projection_io_at(ctx, layer, [fill(TINY_REQUEST.prompt_template, TINY_REQUEST.subject)], [position])
        key, before = key_b[0].float(), out_b[0].float()
    with AppliedEdit(layout, deltas):
        keys_after, outputs_after = keys_over_templates(ctx, TINY_REQUEST, layer)
        qa = encode_qa(tokenizer, TINY_REQUEST.prompt, TINY_REQUEST.target_new)
        accuracy = token_accuracy(predicted_tokens(model, [qa], tokenizer.pad_token_id)[0], qa)
    # the edited weight maps the key to the optimised value: W' k = W k + (v* - v)
    if editor_name == "r-rome":
        after = outputs_after.float().mean(0)
        assert torch.allclose(after - before, delta @ key, atol=1e-4)
    assert torch.allclose(delta @ key, (delta @ key).norm() * (delta @ key) / (delta @ key).norm())
    assert accuracy == 1.0, f"the edit did not make the target the argmax ({info})"
    assert torch.equal(layout.rewrite_weight(layer), original), "weights must be restored bit-exactly"


def test_rrome_value_equals_optimised_target(tiny):
    """R-ROME's update moves the prefix-averaged output exactly to target_init + delta."""
    from goldenlayers.editors.values import optimize_target

    model, tokenizer, layout = tiny
    ctx = EditContext(model, layout, tokenizer, TINY_HPARAMS, TINY_TEMPLATES)
    torch.manual_seed(0)
    value = optimize_target(ctx, TINY_REQUEST, layout.mlp(1))
    torch.manual_seed(0)
    deltas, _ = get_editor("r-rome").compute_deltas(ctx, TINY_REQUEST, 1)
    keys, outputs = keys_over_templates(ctx, TINY_REQUEST, 1)
    mapped = outputs.float().mean(0) + deltas[1] @ keys.float().mean(0)
    assert torch.allclose(mapped, value.target_init + value.delta, atol=1e-4)


def test_hparams_file_errors_name_file_and_key(tmp_path):
    from goldenlayers.errors import ConfigError

    bad = tmp_path / "llama.yaml"
    bad.write_text((REPO / "config/hparams/r-rome/llama.yaml").read_text() + "v_lrr: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_hparams(bad, "r-rome")
    assert "v_lrr" in str(err.value) and str(bad) in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_hparams(REPO / "config/hparams/r-rome/llama.yaml", "r-rome", {"v_num_grad_steps": "many"})
    assert "v_num_grad_steps" in str(err.value) and "editor_overrides.r-rome" in str(err.value)


@pytest.mark.slow
def test_rrome_edits_smollm2_counterfact_case0(smollm2, smollm2_templates):
    """Danielle Darrieux's mother tongue French -> English at layer 8; the Eiffel Tower stays in Paris."""
    model, tokenizer, layout = smollm2
    hparams = load_hparams(REPO / "config/hparams/r-rome/llama.yaml", "r-rome")
    templates = select_templates(smollm2_templates, hparams["context_template_length_params"])
    ctx = EditContext(model, layout, tokenizer, hparams, templates)
    request = EditRequest("The mother tongue of Danielle Darrieux is", "Danielle Darrieux", "English")

    def greedy(prompt: str) -> str:
        ids = tokenizer(prompt, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=2, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(out[0, ids.input_ids.shape[1]:])

    assert greedy(request.prompt).startswith(" French")
    deltas, _ = get_editor("r-rome").compute_deltas(ctx, request, 8)
    with AppliedEdit(layout, deltas):
        assert greedy(request.prompt).startswith(" English")
        assert greedy("The Eiffel Tower is located in the city of").startswith(" Paris")
    assert greedy(request.prompt).startswith(" French"), "the model must be restored after the edit"


def test_r_rome_without_prefix_keys_uses_the_bare_prompt_key(tiny):
    """enable_random_prefix_keys: false is honoured: R-ROME then builds its update on the bare prompt's key
    (u = k / |k| without mom2_adjustment), instead of the key averaged over the context prefixes."""
    model, tokenizer, layout = tiny
    layer = 2
    deltas = {}
    for flag in (True, False):
        ctx = EditContext(model, layout, tokenizer, {**TINY_HPARAMS, "enable_random_prefix_keys": flag},
                          TINY_TEMPLATES)
        deltas[flag] = get_editor("r-rome").compute_deltas(ctx, TINY_REQUEST, layer)[0][layer].double()
    position = subject_last_index(tokenizer, TINY_REQUEST.prompt_template, TINY_REQUEST.subject)
    prompt_key = projection_io_at(ctx, layer, [fill(TINY_REQUEST.prompt_template, TINY_REQUEST.subject)],
                                  [position])[0][0].double()
    averaged_key = keys_over_templates(ctx, TINY_REQUEST, layer)[0].double().mean(0)

    def direction(delta):  # the update's right singular vector: the key it is built on
        return torch.linalg.svd(delta)[2][0]

    def cosine(a, b):
        return float(torch.abs(a @ b) / (a.norm() * b.norm()))

    assert cosine(direction(deltas[False]), prompt_key) > 1 - 1e-6
    assert cosine(direction(deltas[True]), averaged_key) > 1 - 1e-6
    assert cosine(prompt_key, averaged_key) < 1 - 1e-4  # the two keys differ, so the switch matters
