# Helper functions and constants of the stats stage (rules in ../stats.smk).

STATS = config["stats"]  # corpus, n_samples, max_length, dtype, wikipedia_snapshot (defaults from the schema)
# the one statistics-file template: the layer_stats rule's output and the edit rule's inputs (docs/SCHEMAS.md)
STATS_FILE = "results/stats/{model}/{corpus}_n{n}_{stats_dtype}/layer{layer}.safetensors"


def stats_file(model, layer):
    return STATS_FILE.format(model=model, corpus=STATS["corpus"], n=STATS["n_samples"], stats_dtype=STATS["dtype"],
                             layer=layer)


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
