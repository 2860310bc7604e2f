"""Editor hyperparameters as data: one YAML file per (editor, model family), plus config overrides.

Files live in ``config/hparams/{editor}/{family}.yaml`` (each default carries a comment naming its source).
A family without a file of its own (Qwen2, Mistral, Phi-3, ...) uses the closest family's file
(:data:`CLOSEST_FAMILY`, :func:`family_hparams_path`); the edit job's log names the fallback.
The resolved hyperparameters, after overrides, are hashed into every result row and stored beside it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..io import stable_hash


@dataclass(frozen=True)
class Spec:
    """What a hyperparameter must be: its type(s) and, for numbers, a finite value in a range."""

    types: type | tuple[type, ...]
    minimum: float | None = None  # inclusive lower bound
    above: float | None = None  # exclusive lower bound
    choices: tuple[str, ...] | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (None if it is)."""
        types = self.types if isinstance(self.types, tuple) else (self.types,)
        if isinstance(value, bool) and bool not in types:
            return f"expected {_type_names(types)}, got a boolean"
        if not isinstance(value, types):
            return f"expected {_type_names(types)}, got {type(value).__name__} {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}, got {value!r}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                return f"must be a finite number, got {value!r}"
            if self.above is not None and not value > self.above:
                return f"must be greater than {self.above:g}, got {value!r}"
            if self.minimum is not None and not value >= self.minimum:
                return f"must be at least {self.minimum:g}, got {value!r}"
        return None


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


NUMBER = (int, float)
# The keys an editor understands, with their type and range. Unknown keys are errors.
COMMON_KEYS: dict[str, Spec] = {
    "fact_token": Spec(str, choices=("subject_last", "last")),
    "v_num_grad_steps": Spec(int, minimum=1),
    "v_lr": Spec(NUMBER, above=0),
    "v_weight_decay": Spec(NUMBER, minimum=0),
    "clamp_norm_factor": Spec(NUMBER, above=0),
    "kl_factor": Spec(NUMBER, minimum=0),
    "v_loss_threshold": Spec(NUMBER, minimum=0),
    "context_template_length_params": Spec(list),
    "mom2_adjustment": Spec(bool),
}
EDITOR_KEYS: dict[str, dict[str, Spec]] = {
    "rome": {},
    "r-rome": {"enable_random_prefix_keys": Spec(bool)},
    "memit": {"mom2_update_weight": Spec((int, float, str)), "window": Spec(int, minimum=1),
              "align": Spec(str, choices=("end", "center"))},
    "emmet": {"mom2_update_weight": Spec((int, float, str)), "emmet_lambda": Spec(NUMBER, minimum=0),
              "update_norm_lambda": Spec(NUMBER, minimum=0), "emmet_lambda_single_edit": Spec(bool),
              "window": Spec(int, minimum=1), "align": Spec(str, choices=("end", "center"))},
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


def _length_params_problem(value: Any) -> str | None:
    """context_template_length_params: a list of [prefix length >= 1, count >= 0] pairs."""
    for item in value:
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in item)
                or item[0] < 1 or item[1] < 0):
            return f"expected a list of [length >= 1, count >= 0] pairs, got {item!r} in {value!r}"
    return None


def _update_weight_problem(value: Any) -> str | None:
    """mom2_update_weight: a positive number, or "<factor>*d" with a positive factor (see memit.py)."""
    if isinstance(value, str):
        from .memit import resolve_update_weight

        try:
            weight = resolve_update_weight(value, 1)
        except ConfigError:
            return f"expected a number or '<factor>*d' (factor per key dimension), got {value!r}"
    else:
        weight = value
    if not math.isfinite(weight) or weight <= 0:
        return f"must be a positive finite number (or a positive '<factor>*d'), got {value!r}"
    return None


def check_hparams(values: dict[str, Any], editor: str, source_of, field_prefix: str = "") -> None:
    """Check the key, type and range of every hyperparameter in ``values``; ``source_of(key)`` names where
    the key came from (file or config key). Raises ConfigError naming the source and the key (after
    ``field_prefix``)."""
    allowed = {**COMMON_KEYS, **EDITOR_KEYS[editor]}
    for key, value in values.items():
        if key not in allowed:
            raise ConfigError(f"unknown hyperparameter (allowed: {', '.join(sorted(allowed))})",
                              file=source_of(key), field=field_prefix + key)
        problem = allowed[key].problem(value)
        if problem is None and key == "context_template_length_params":
            problem = _length_params_problem(value)
        if problem is None and key == "mom2_update_weight":
            problem = _update_weight_problem(value)
        if problem:
            raise ConfigError(problem, file=source_of(key), field=field_prefix + key)


def hparams_path(hparams_dir: str | os.PathLike, editor: str, family: str) -> Path:
    return Path(hparams_dir) / editor / f"{family}.yaml"


def hparams_candidates(hparams_dir: str | os.PathLike, editor: str, family: str) -> tuple[Path, Path]:
    """The family's own hparams file and the closest family's (:data:`CLOSEST_FAMILY`, default llama), in the
    order they are tried."""
    return (hparams_path(hparams_dir, editor, family),
            hparams_path(hparams_dir, editor, CLOSEST_FAMILY.get(family, "llama")))


def family_hparams_path(hparams_dir: str | os.PathLike, editor: str, family: str) -> Path:
    """The family's own hparams file, else the closest family's (:func:`hparams_candidates`)."""
    own, closest = hparams_candidates(hparams_dir, editor, family)
    return own if own.exists() else closest


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
    """Read an hparams file, apply overrides, check every key, type and range; raise ConfigError naming the
    file (or the config's ``editor_overrides``) and the key."""
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
    overrides = overrides or {}
    merged = {**data, **overrides}
    check_hparams(merged, editor, lambda key: f"config editor_overrides.{editor}" if key in overrides else path)
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
