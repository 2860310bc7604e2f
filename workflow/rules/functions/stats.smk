# Helper functions and constants of the stats stage (rules in ../stats.smk).

STATS = config["stats"]  # corpus, n_samples, max_length, dtype, wikipedia_snapshot (defaults from the schema)
# the one statistics-file template: the layer_stats rule's output and the edit rule's inputs (docs/SCHEMAS.md)
STATS_FILE = "results/stats/{model}/{corpus}_n{n}_{stats_dtype}/layer{layer}.safetensors"


def stats_file(model, layer):
    return STATS_FILE.format(model=model, corpus=STATS["corpus"], n=STATS["n_samples"], stats_dtype=STATS["dtype"],
                             layer=layer)


def stats_layers(model, editor, chunk):
    """The layers whose statistics an edit job of (model, editor, chunk of layers) reads; [] if the editor needs
    none."""
    impl, hparams = editor_and_hparams(model, editor)
    if not impl.needs_stats(hparams):
        return []
    n_layers = int(config["models"][model]["num_layers"])
    return sorted({l for layer in parse_chunk(chunk) for l in impl.edited_layers(layer, n_layers, hparams)})


def stats_inputs(wildcards):
    """Input function for the edit rule: {layer: stats file} for (model, editor, chunk); empty if not needed."""
    return {f"stats_{l}": stats_file(wildcards.model, l)
            for l in stats_layers(wildcards.model, wildcards.editor, wildcards.chunk)}


def stats_args(wildcards):
    """The edit job's `--stats LAYER=PATH ...` arguments matching stats_inputs."""
    return " ".join(f"--stats {l}={stats_file(wildcards.model, l)}"
                    for l in stats_layers(wildcards.model, wildcards.editor, wildcards.chunk))


# Every editor's hyperparameters (file + overrides) checked while the workflow is read, before the DAG.
for _model in MODELS:
    for _editor in EDITORS:
        editor_and_hparams(_model, _editor)
