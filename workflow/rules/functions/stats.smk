# Helper functions and constants of the stats stage (rules in ../stats.smk).

import os

STATS = config.get("stats") or {}
STATS_CORPUS = STATS.get("corpus", "gensim-enwiki-sample")
STATS_N = int(STATS.get("n_samples", 300))
STATS_DTYPE = STATS.get("dtype", "float32")
STATS_MAX_LENGTH = int(STATS.get("max_length", 256))
_EDITORS = {}


def stats_file(model, layer):
    return f"results/stats/{model}/{STATS_CORPUS}_n{STATS_N}_{STATS_DTYPE}/layer{layer}.safetensors"


def editor_overrides(editor):
    """The hyperparameter overrides the edit job gets: config multi_layer (window, align) for the multi-layer
    editors, then config editor_overrides.<editor> on top. The edit rule must pass exactly these (--overrides)
    so that the DAG and the job agree on the edited layers."""
    overrides = {}
    if editor in ("memit", "emmet"):
        overrides.update({k: v for k, v in (config.get("multi_layer") or {}).items() if k in ("window", "align")})
    overrides.update((config.get("editor_overrides") or {}).get(editor) or {})
    return overrides


def hparams_file(model, editor):
    """config/hparams/<editor>/<family>.yaml, else the closest family's file (the edit job logs the fallback)."""
    from goldenlayers.editors.hparams import family_hparams_path

    family = config["models"][model]["family"]
    hparams_dir = Path(config.get("hparams_dir", "config/hparams"))
    if not hparams_dir.is_absolute() and not hparams_dir.exists():
        hparams_dir = REPO_ROOT / hparams_dir  # run with --directory elsewhere
    return str(family_hparams_path(hparams_dir, editor, family))


@dag_check
def editor_hparams(model, editor):
    """The editor's resolved hyperparameters for a model (YAML file + overrides), read at DAG time."""
    from goldenlayers.editors.hparams import load_hparams

    return load_hparams(hparams_file(model, editor), editor, editor_overrides(editor))


def editor_and_hparams(model, editor):
    """(the editor object, its resolved hyperparameters for the model), read once per DAG build."""
    from goldenlayers.editors.registry import get_editor

    key = (model, editor)
    if key not in _EDITORS:
        _EDITORS[key] = (get_editor(editor), editor_hparams(model, editor))
    return _EDITORS[key]


def stats_layers(model, editor, layer):
    """The layers whose statistics an edit job of (model, editor, layer) reads; [] if the editor needs none."""
    impl, hparams = editor_and_hparams(model, editor)
    if not impl.needs_stats(hparams):
        return []
    return impl.edited_layers(int(layer), int(config["models"][model]["num_layers"]), hparams)


def stats_inputs(wildcards):
    """Input function for the edit rule: {layer: stats file} for (model, editor, layer); empty if not needed."""
    return {f"stats_{l}": stats_file(wildcards.model, l)
            for l in stats_layers(wildcards.model, wildcards.editor, wildcards.layer)}


def stats_args(wildcards):
    """The edit job's `--stats LAYER=PATH ...` arguments matching stats_inputs."""
    return " ".join(f"--stats {l}={stats_file(wildcards.model, l)}"
                    for l in stats_layers(wildcards.model, wildcards.editor, wildcards.layer))


# Every editor's hyperparameters (file + overrides) checked while the workflow is read, before the DAG.
for _model in MODELS:
    for _editor in EDITORS:
        editor_and_hparams(_model, _editor)
