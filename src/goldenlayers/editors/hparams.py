"""Editor hyperparameters as data: one YAML file per (editor, model family), plus config overrides.

Files live in ``config/hparams/{editor}/{family}.yaml`` (each default carries a comment naming its source).
A family without a file of its own (Qwen2, Mistral, Phi-3, ...) uses the closest family's file
(:data:`CLOSEST_FAMILY`, :func:`family_hparams_path`); the edit job's log names the fallback.
The resolved hyperparameters, after overrides, are hashed into every result row and stored beside it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..io import stable_hash

# The keys an editor understands, with the type each must have. Unknown keys are errors.
COMMON_KEYS: dict[str, type | tuple[type, ...]] = {
    "fact_token": str,
    "v_num_grad_steps": int,
    "v_lr": (int, float),
    "v_weight_decay": (int, float),
    "clamp_norm_factor": (int, float),
    "kl_factor": (int, float),
    "v_loss_threshold": (int, float),
    "context_template_length_params": list,
    "mom2_adjustment": bool,
}
EDITOR_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "rome": {},
    "r-rome": {"enable_random_prefix_keys": bool},
    "memit": {"mom2_update_weight": (int, float, str), "window": int, "align": str},
    "emmet": {"mom2_update_weight": (int, float, str), "emmet_lambda": (int, float), "update_norm_lambda": (int, float),
              "emmet_lambda_single_edit": bool,
              "window": int, "align": str},
}


log = logging.getLogger(__name__)

# Families without hparams files of their own -> the packaged family whose block they resemble most
# (pre-norm RMSNorm + gated MLP: llama; LayerNorm + two-matrix MLP: gpt2; Gemma's scaled norms: gemma3).
# Anything not listed falls back to llama, the shape of most current decoders.
CLOSEST_FAMILY = {
    "qwen2": "llama", "qwen3": "llama", "mistral": "llama", "mixtral": "llama", "phi3": "llama", "olmo": "llama",
    "olmo2": "llama", "granite": "llama", "cohere": "llama", "gemma": "gemma3", "gemma2": "gemma3",
    "gpt_neox": "gpt2", "gptj": "gpt2", "gpt_neo": "gpt2", "opt": "gpt2", "falcon": "gpt2", "phi": "gpt2",
    "bloom": "gpt2", "biogpt": "gpt2",
}


def hparams_path(hparams_dir: str | os.PathLike, editor: str, family: str) -> Path:
    return Path(hparams_dir) / editor / f"{family}.yaml"


def family_hparams_path(hparams_dir: str | os.PathLike, editor: str, family: str) -> Path:
    """The family's own hparams file, else the closest family's (:data:`CLOSEST_FAMILY`, default llama)."""
    own = hparams_path(hparams_dir, editor, family)
    return own if own.exists() else hparams_path(hparams_dir, editor, CLOSEST_FAMILY.get(family, "llama"))


def log_family_fallback(path: str | os.PathLike, model_dir: str | os.PathLike) -> None:
    """Say in the job log when the hparams file is another family's than the prepared model's."""
    try:
        family = json.loads((Path(model_dir) / "prepare.json").read_text())["spec"]["family"]
    except (OSError, ValueError, KeyError):
        return
    if Path(path).stem != family:
        log.warning("model family %r has no hyperparameter file of its own; using the closest family's: %s "
                    "(add %s to tune it)", family, path, Path(path).with_name(f"{family}.yaml"))


def load_hparams(path: str | os.PathLike, editor: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read an hparams file, apply overrides, check every key and type; raise ConfigError naming file and key."""
    path = Path(path)
    if editor not in EDITOR_KEYS:
        raise ConfigError(f"unknown editor {editor!r} (known: {', '.join(EDITOR_KEYS)})", field="editors")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise ConfigError("no hyperparameter file for this editor and model family", file=path) from err
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", file=path) from err
    if not isinstance(data, dict):
        raise ConfigError("top level must be a mapping", file=path)
    allowed = {**COMMON_KEYS, **EDITOR_KEYS[editor]}
    merged = {**data, **(overrides or {})}
    for key, value in merged.items():
        source = path if key in data and key not in (overrides or {}) else f"config editor_overrides.{editor}"
        if key not in allowed:
            raise ConfigError(f"unknown hyperparameter (allowed: {', '.join(sorted(allowed))})", file=source, field=key)
        expected = allowed[key]
        if isinstance(value, bool) and expected is not bool and bool not in (expected if isinstance(expected, tuple) else (expected,)):
            raise ConfigError(f"expected {expected}, got a boolean", file=source, field=key)
        if not isinstance(value, expected):
            raise ConfigError(f"expected {expected}, got {type(value).__name__} {value!r}", file=source, field=key)
    missing = [k for k in ("v_num_grad_steps", "v_lr", "clamp_norm_factor", "kl_factor", "v_weight_decay") if k not in merged]
    if missing:
        raise ConfigError(f"missing hyperparameter(s) {missing}", file=path, field=missing[0])
    merged.setdefault("fact_token", "subject_last")
    merged.setdefault("v_loss_threshold", 5e-2)
    merged.setdefault("context_template_length_params", [[5, 10], [10, 10]])
    merged.setdefault("mom2_adjustment", False)
    if merged["fact_token"] not in ("subject_last", "last"):
        raise ConfigError("fact_token must be 'subject_last' or 'last'", file=path, field="fact_token")
    return merged


def hparams_hash(hparams: dict[str, Any]) -> str:
    return stable_hash(hparams)
