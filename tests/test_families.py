"""Models beyond GPT-2, LLaMA and Gemma3: tiny Qwen2, Mistral and Phi-3 (layout found from the module tree) and
BioGPT (no MLP module in its blocks: layout from the config's `layout:` override), built from configs. Each is
prepared and loaded as the workflow does (family checked), edited by R-ROME, and its hparams file falls back
to the closest family's with a log line naming it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from goldenlayers.editors.core import EditContext, EditRequest
from goldenlayers.editors.hparams import family_hparams_path, log_family_fallback
from goldenlayers.editors.registry import get_editor
from goldenlayers.errors import ConfigError, InputError
from goldenlayers.evaluate.edit_job import AppliedEdit
from goldenlayers.evaluate.metrics import predicted_tokens, token_accuracy
from goldenlayers.evaluate.tokens import encode_qa
from goldenlayers.models.layout import resolve_layout
from goldenlayers.models.load import load_model, prepare_model
from goldenlayers.models.tiny import BIOGPT_LAYOUT, build_tiny

REPO = Path(__file__).resolve().parents[1]
FROM_TREE = ["qwen2", "mistral", "phi3"]
HPARAMS = dict(
    fact_token="subject_last", v_num_grad_steps=40, v_lr=0.5, v_weight_decay=1e-3, clamp_norm_factor=4,
    kl_factor=0.0625, v_loss_threshold=0.05, mom2_adjustment=False, context_template_length_params=[[5, 2]],
)
REQUEST = EditRequest("The mother tongue of Danielle Darrieux", "Danielle Darrieux", "X")
TEMPLATES = ["{}", "The cat sat. {}", "I think so. {}"]


def spec_of(family: str) -> dict:
    spec = {"source": "tiny", "family": family, "num_layers": 4}
    if family == "biogpt":
        spec["layout"] = BIOGPT_LAYOUT
    return spec


@pytest.fixture(scope="module", params=FROM_TREE + ["biogpt"])
def loaded(request, tmp_path_factory):
    """(family, model, tokenizer, layout): prepared into a folder and loaded like a workflow job."""
    out = tmp_path_factory.mktemp(request.param)
    prepare_model(f"tiny-{request.param}", spec_of(request.param), out)
    model, tokenizer, layout, info = load_model(out, device="cpu")
    return request.param, model, tokenizer, layout


@pytest.mark.parametrize("family", FROM_TREE)
def test_layout_is_found_from_the_module_tree(family):
    model, _ = build_tiny(family, num_layers=4)
    layout = resolve_layout(model)
    assert (layout.blocks_path, layout.rewrite_module_name(2), layout.final_norm_path) == \
        ("model.layers", "model.layers.2.mlp.down_proj", "model.norm")
    assert layout.weight_out_in(2).shape == (64, 192)


def test_biogpt_needs_and_takes_a_layout_override():
    model, _ = build_tiny("biogpt", num_layers=4)
    with pytest.raises(InputError, match="layout"):
        resolve_layout(model)
    layout = resolve_layout(model, BIOGPT_LAYOUT)
    assert layout.rewrite_module_name(1) == "biogpt.layers.1.fc2"
    assert layout.mlp_module_name(1) == "biogpt.layers.1.fc2"
    assert layout.final_norm_path == "biogpt.layer_norm"
    with pytest.raises(InputError) as err:
        resolve_layout(model, {**BIOGPT_LAYOUT, "proj": "fc1"}, key="models.tiny-biogpt.layout")
    assert "models.tiny-biogpt.layout.proj" in str(err.value)


def test_loaded_family_is_checked(loaded, tmp_path):
    family, model, *_ = loaded
    out = tmp_path / "wrong"
    prepare_model("tiny", spec_of(family), out)
    record = (out / "prepare.json").read_text().replace(f'"family": "{family}"', '"family": "llama"')
    (out / "prepare.json").write_text(record)
    with pytest.raises(ConfigError) as err:
        load_model(out, device="cpu")
    assert "family" in str(err.value) and family in str(err.value)


def test_rrome_edits_every_family(loaded):
    family, model, tokenizer, layout = loaded
    ctx = EditContext(model, layout, tokenizer, HPARAMS, TEMPLATES)
    original = layout.rewrite_weight(2).detach().clone()
    deltas, info = get_editor("r-rome").compute_deltas(ctx, REQUEST, 2)
    assert deltas[2].shape == (layout.hidden_size, layout.intermediate_size)
    with AppliedEdit(layout, deltas):
        qa = encode_qa(tokenizer, REQUEST.prompt, REQUEST.target_new)
        accuracy = token_accuracy(predicted_tokens(model, [qa], tokenizer.pad_token_id)[0], qa)
    assert accuracy == 1.0, f"{family}: the edit did not make the target the argmax ({info})"
    assert torch.equal(layout.rewrite_weight(2), original)


@pytest.mark.parametrize("family, closest", [("qwen2", "llama"), ("mistral", "llama"), ("phi3", "llama"),
                                             ("biogpt", "gpt2"), ("llama", "llama"), ("some_new_arch", "llama")])
def test_hparams_fall_back_to_the_closest_family(family, closest, tmp_path, caplog):
    path = family_hparams_path(REPO / "config" / "hparams", "rome", family)
    assert path == REPO / "config" / "hparams" / "rome" / f"{closest}.yaml"
    (tmp_path / "prepare.json").write_text(f'{{"spec": {{"family": "{family}"}}}}')  # the prepared model's record
    with caplog.at_level(logging.WARNING):
        log_family_fallback(path, tmp_path)
    assert (f"model family '{family}' has no hyperparameter file" in caplog.text) == (family != closest)
