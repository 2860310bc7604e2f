# Shared helpers of the workflow: validated config, wildcard values, per-job resources.
# Rules stay thin: they call `goldenlayers <subcommand>`; all logic lives in the package.

import json
import re
from pathlib import Path

from goldenlayers.config import layer_grid, load_schema, validate_config

# The repository root: workflow.basedir is the folder of workflow/Snakefile. Shipped samples and the
# packaged hparams files are found from here, whatever the working directory.
REPO_ROOT = Path(workflow.basedir).parent

validate_config(config, source=str(workflow.configfiles[-1]) if workflow.configfiles else "config",
                schema=load_schema(workflow.source_path("../schemas/config.schema.yaml")))

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


def layers_of(model):
    return layer_grid(config, model, source=str(workflow.configfiles[-1]) if workflow.configfiles else "config")


def model_spec_json(model):
    return json.dumps(config["models"][model], sort_keys=True)


def model_ready(wildcards):
    """The prepared-model record: every model-using rule depends on it."""
    return f"resources/models/{wildcards.model}/prepare.json"


# --- resources -------------------------------------------------------------------------------
# GPU jobs (edit, stats, LGA, CMA) ask for one GPU unless the config pins the CPU. Memory and runtime
# scale with the model size (billions of parameters, an estimate from num_layers if not given) and with
# the retry attempt, so a job killed for memory or time gets more on its retry.

USE_GPU = 0 if config.get("device") == "cpu" else 1


def model_billions(model):
    spec = config["models"][model]
    return float(spec.get("billions", {"tiny": 0.001, "pypi-gguf": 0.135}.get(spec["source"], 7.0)))


def job_mem_mb(wildcards, attempt):
    base = 2000 + 6000 * model_billions(wildcards.model)
    return int(base * (1 + 0.5 * (attempt - 1)))


def job_runtime(wildcards, attempt):
    base = 30 + 20 * model_billions(wildcards.model)
    return int(base * attempt)


# --- editors -----------------------------------------------------------------------------------
# hparams_file(model, editor), editor_overrides(editor) and editor_hparams(model, editor) live in
# functions/stats.smk (the statistics an edit job needs depend on the resolved hparams).


def context_length_params(model):
    """The context prefixes are shared by every editor of a model: per length, the most any editor asks for."""
    from goldenlayers.editors.context import merge_length_params

    return merge_length_params([editor_hparams(model, editor)["context_template_length_params"] for editor in EDITORS])
