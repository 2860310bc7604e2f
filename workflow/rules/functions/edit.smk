# Helper functions and constants of the edit stage (rules in ../edit.smk).

def edit_outputs(model, editor, dataset, split):
    return expand("results/edits/{model}/{editor}/{dataset}/{split}/layer{layer}.parquet",
                  model=model, editor=editor, dataset=dataset, split=split, layer=layers_of(model))


def edit_targets():
    return [path for model in MODELS for editor in EDITORS for dataset in DATASETS for split in SPLITS
            for path in edit_outputs(model, editor, dataset, split)]
