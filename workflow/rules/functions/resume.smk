# Helper function of the resume rule (../resume.smk).


def resume_input_files():
    files = [f"resources/models/{model}/prepare.json" for model in MODELS]
    for model, editor, dataset in edit_cells():
        files += [stats_file(model, layer) for chunk in layer_chunks(model, editor, dataset)
                  for layer in stats_layers(model, editor, chunk_name(chunk))]
        files += [stats_file(model, layer) for layer in choice_stats_layers(model, editor)]
    return sorted(set(files))
