# Shared helpers of the workflow: validated config, wildcard values, per-job resources.
# Rules stay thin: they call `goldenlayers <subcommand>`; all logic lives in the package.

import json
import os
import re
import sys
from pathlib import Path

from goldenlayers.caches import damaged_caches, damaged_message
from goldenlayers.chunks import CHUNK_PATTERN, chunk_name, parse_chunk, split_into_chunks
from goldenlayers.config import editor_datasets, layer_grid, load_schema, validate_config
from goldenlayers.errors import GoldenLayersError
from snakemake.exceptions import WorkflowError
from snakemake.io import get_flag_value

CONFIG_SOURCE = str(workflow.configfiles[-1]) if workflow.configfiles else "config"


def stop(message):
    """End the run before any job with one line (not Snakemake's traceback): what is wrong, where."""
    print(f"goldenlayers: error: {message}", file=sys.stderr)
    sys.exit(2)


def dag_check(function):
    """Decorator for the helpers that read the config, hparams files or the registry while the workflow is
    read or the DAG is built: a GoldenLayersError (it names the file and the key) ends the run in one line."""

    def checked(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except GoldenLayersError as err:
            stop(err)

    checked.__name__, checked.__doc__ = function.__name__, function.__doc__
    return checked


# Files shipped with the workflow (the benchmark samples in data/benchmarks/, the hparams files when the working
# directory has no config/hparams/) are found from the workflow's own source, never from the working directory:
# in a checkout that is the repository; when the workflow is a module (`snakedeploy deploy-workflow` writes a
# workflow/Snakefile whose module reads this one from github(...)), Snakemake's cached copy of the module's files.
# workflow.basedir would not do: it is the folder of the *main* Snakefile, the deployment's own.
# What runs write (results/, logs/, resources/) and the files a config names (a dataset's `path`) stay relative
# to the working directory.


def shipped_file(relative):
    """The file ``relative`` to the root of the workflow's repository as a local path, or None if the repository
    has no such file: the file itself (as a path from the working directory) when the workflow's source is local,
    else the copy in Snakemake's source cache; as a job input, Snakemake's metadata records the file's true place."""
    try:
        cached = workflow.source_path(f"../../{relative}")
    except (WorkflowError, OSError):
        return None
    true_place = get_flag_value(cached, "sourcecache_entry")
    return os.path.relpath(true_place) if os.path.isfile(true_place) else cached


dag_check(validate_config)(config, source=CONFIG_SOURCE,
                           schema=load_schema(workflow.source_path("../schemas/config.schema.yaml")))

# A damaged cache (truncated values, statistics or prefix file) would fail every job that reads it on every
# rerun, after Snakemake removed those jobs' good outputs: stop first and name what to remove.
# Only the main Snakemake process scans (not each cluster job, which reads the workflow again).
_DAMAGED = damaged_caches() if getattr(workflow, "is_main_process", True) else []
if _DAMAGED:
    stop(damaged_message(_DAMAGED))

MODELS = list(config["models"])
DATASETS = list(config["datasets"])
EDITORS = list(config["editors"])
SPLITS = ["proxy", "test"]


wildcard_constraints:
    model="|".join(map(re.escape, MODELS)),
    dataset="|".join(map(re.escape, DATASETS)),
    editor="|".join(map(re.escape, ["rome", "r-rome", "memit", "emmet"])),
    split="proxy|test",
    layer=r"\d+",
    chunk=CHUNK_PATTERN,


def layers_of(model, editor=None, dataset=None):
    """The model's layer grid (with ``editor``: that editor's, where editor_scope narrows it; with ``dataset``:
    only the layers of the dataset's own grid, where it has one)."""
    return layer_grid(config, model, source=CONFIG_SOURCE, editor=editor, dataset=dataset)


def edit_cells():
    """Every (model, editor, dataset) the sweep edits: all combinations, except where editor_scope narrows an
    editor to some datasets."""
    return [(model, editor, dataset) for model in MODELS for editor in EDITORS
            for dataset in editor_datasets(config, editor)]


def model_spec_json(model):
    return json.dumps(config["models"][model], sort_keys=True)


def model_ready(wildcards):
    """The prepared-model record: every model-using rule depends on it."""
    return f"resources/models/{wildcards.model}/prepare.json"


# --- resources -------------------------------------------------------------------------------
# GPU jobs (edit, stats, LGA, CMA) ask for one GPU unless the config pins the CPU. Memory and runtime
# scale with the model size (billions of parameters, an estimate from num_layers if not given) and with
# the retry attempt, so a job killed for memory or time gets more on its retry.

USE_GPU = 0 if config["device"] == "cpu" else 1


def model_billions(model):
    spec = config["models"][model]
    return float(spec.get("billions", {"tiny": 0.001, "pypi-gguf": 0.135}.get(spec["source"], 7.0)))


def job_mem_mb(wildcards, attempt):
    base = 2000 + 6000 * model_billions(wildcards.model)
    return int(base * (1 + 0.5 * (attempt - 1)))


def job_layers(wildcards):
    """How many layers a job covers: its chunk (edit), its chunk of sites (target_values), else one."""
    from goldenlayers.editors.values import ValueSite

    if "chunk" in wildcards.keys():
        return len(parse_chunk(wildcards.chunk))
    if "sites" in wildcards.keys():
        return len(ValueSite.parse_chunk(wildcards.sites))
    return 1


def job_runtime(wildcards, attempt):
    base = 30 + 20 * model_billions(wildcards.model)
    return int(base * job_layers(wildcards) * attempt)


# --- editors -----------------------------------------------------------------------------------
# hparams_file(model, editor), editor_overrides(editor) and editor_hparams(model, editor): functions/edit.smk.


def context_length_params(model):
    """The context prefixes are shared by every editor of a model: per length, the most any editor asks for."""
    from goldenlayers.editors.context import merge_length_params

    return merge_length_params([editor_hparams(model, editor)["context_template_length_params"] for editor in EDITORS])
