# Resuming a run from saved outputs (goldenlayers.record, `make record`): the inputs the saved jobs read that a
# record does not hold (the prepared models; the covariance statistics of editors that need them), rebuilt
# before `snakemake --touch` marks the restored outputs up to date.


def resume_input_files():
    files = [f"resources/models/{model}/prepare.json" for model in MODELS]
    for model, editor, dataset in edit_cells():
        files += [stats_file(model, layer) for chunk in layer_chunks(model, editor)
                  for layer in stats_layers(model, editor, chunk_name(chunk))]
        files += [stats_file(model, layer) for layer in choice_stats_layers(model, editor)]
    return sorted(set(files))


rule resume_inputs:
    input:
        resume_input_files(),
    localrule: True
