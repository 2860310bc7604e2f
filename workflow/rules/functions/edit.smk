# Helper functions and constants of the edit stage (rules in ../edit.smk): the editors' hyperparameters,
# the edit jobs' outputs and the target values they read.

import functools

_EDITORS = {}


def editor_overrides(editor):
    """The hyperparameter overrides the edit job gets: config multi_layer (window, align) for the multi-layer
    editors, then config editor_overrides.<editor> on top. The edit rule must pass exactly these (--overrides)
    so that the DAG and the job agree on the edited layers."""
    overrides = {}
    if editor in ("memit", "emmet"):
        overrides.update({k: v for k, v in config["multi_layer"].items() if k in ("window", "align")})
    overrides.update(config["editor_overrides"].get(editor, {}))
    return overrides


@functools.cache  # looked up once per (model, editor): a module's missing file may cost a fetch
def hparams_file(model, editor):
    """<hparams_dir>/<editor>/<family>.yaml, else the closest family's file (the edit job logs the fallback).
    A relative hparams_dir is the working directory's (snakedeploy copies config/hparams/ into a deployment's
    config/) if it is there, else the workflow's own (shipped_file; also when run with --directory elsewhere)."""
    from goldenlayers.editors.hparams import family_hparams_path, hparams_candidates

    family = config["models"][model]["family"]
    hparams_dir = Path(config["hparams_dir"])
    if hparams_dir.is_absolute() or hparams_dir.exists():
        return str(family_hparams_path(hparams_dir, editor, family))
    candidates = hparams_candidates(hparams_dir, editor, family)
    shipped = (shipped_file(path.as_posix()) for path in candidates)
    # none shipped: the first candidate, which load_hparams reports as missing (naming the file)
    return next((path for path in shipped if path is not None), str(candidates[0]))


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


def layer_chunks(model, editor, dataset):
    """The editor's layer grid of the model on the dataset cut into the chunks one edit (and target-values) job
    covers (layers_per_job)."""
    return split_into_chunks(layers_of(model, editor, dataset), config["layers_per_job"])


def edit_outputs(model, editor, dataset, split):
    return [f"results/edits/{model}/{editor}/{dataset}/{split}/layers{chunk_name(chunk)}.parquet"
            for chunk in layer_chunks(model, editor, dataset)]


def edit_targets():
    return [path for model, editor, dataset in edit_cells() for split in SPLITS
            for path in edit_outputs(model, editor, dataset, split)]


# --- target values (rule target_values in ../edit.smk) ------------------------------------------------
# The value optimisation runs once per (model, value key, dataset, site) and is read by every edit job
# whose editor optimises at that site with the same value hyperparameters (ROME and R-ROME share it).


def value_spec(model, editor, chunk):
    """(value key, chunk of sites) of the edit job of (model, editor, chunk of layers): ``mlp0-9`` for ROME on
    layers 0-9, the block at the top of each window for MEMIT."""
    from goldenlayers.editors.values import value_key

    impl, hparams = editor_and_hparams(model, editor)
    n_layers = int(config["models"][model]["num_layers"])
    sites = [impl.value_site(layer, n_layers, hparams) for layer in parse_chunk(chunk)]
    kinds = {site.kind for site in sites}
    if len(kinds) != 1:
        raise ValueError(f"editor {editor} optimises values at sites of different kinds: {sites}")
    return value_key(hparams), kinds.pop() + chunk_name(site.layer for site in sites)


def values_file(wildcards):
    """Input function for the edit rule: the target values its cases are edited with."""
    key, sites = value_spec(wildcards.model, wildcards.editor, wildcards.chunk)
    return f"results/values/{wildcards.model}/{key}/{wildcards.dataset}/{sites}.safetensors"


def value_hparams_json(wildcards):
    """The value hyperparameters behind a value key (of any configured editor that has that key)."""
    from goldenlayers.editors.values import value_hparams, value_key

    for editor in EDITORS:
        _, hparams = editor_and_hparams(wildcards.model, editor)
        if value_key(hparams) == wildcards.vkey:
            return json.dumps(value_hparams(hparams), sort_keys=True)
    raise ValueError(f"no configured editor of {wildcards.model} has value key {wildcards.vkey}")


# --- edits at the locators' own choices (rule edit_choice in ../edit.smk) ------------------------------


def grid_test_results(wildcards):
    """The grid's test-split edit results of (model, editor, dataset): reused where a locator chose a grid layer."""
    return edit_outputs(wildcards.model, wildcards.editor, wildcards.dataset, "test")


def choice_stats_layers(model, editor):
    """Statistics an edit_choice job may need: every layer's, if the editor needs statistics at all (the chosen
    layer is known only when the job runs); none for ROME/R-ROME without mom2_adjustment."""
    impl, hparams = editor_and_hparams(model, editor)
    if not impl.needs_stats(hparams):
        return []
    return list(range(int(config["models"][model]["num_layers"])))


def choice_stats_inputs(wildcards):
    return {f"stats_{l}": stats_file(wildcards.model, l) for l in choice_stats_layers(wildcards.model, wildcards.editor)}


def choice_stats_args(wildcards):
    return " ".join(f"--stats {l}={stats_file(wildcards.model, l)}"
                    for l in choice_stats_layers(wildcards.model, wildcards.editor))


def choice_edit_targets():
    """The edit_choice outputs of every model x editor x dataset, for the enabled locators."""
    return [f"results/edits/{model}/{editor}/{dataset}/test/{kind}_choice.parquet"
            for kind in ("lga", "cma") if config[kind]["enabled"] for model, editor, dataset in edit_cells()]
