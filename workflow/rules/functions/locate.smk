# Helper functions and constants of the locate stage (rules in ../locate.smk).

def _locate_grid(wildcards):
    return ",".join(str(layer) for layer in layers_of(wildcards.model, dataset=wildcards.dataset))


def _locate_common(wildcards, threads):
    return (f"--model-dir resources/models/{wildcards.model} --grid {_locate_grid(wildcards)}"
            f" --device {config['device']} --dtype {config['dtype']} --threads {threads}")


def locator_proxy_size(kind, dataset):
    """The locator's proxy set size: the dataset's own `<kind>.proxy_size`, else config <kind>.proxy_size."""
    return {**config[kind], **dataset_entry(dataset).get(kind, {})}.get("proxy_size")


def _locate_pool(input, kind, dataset):
    """--pool/--exclude/--proxy-size when the locator's proxy size is set (its larger proxy set)."""
    size = locator_proxy_size(kind, dataset)
    if size is None:
        return ""
    return (f"--pool {input.pool} --exclude {input.exclude} --proxy-size {int(size)}"
            f" --pool-seed {dataset_split(dataset).get('seed', 0)}")


def locate_targets(kinds=("lga", "cma"), per_case=True):
    """Every locator output for every model x dataset, for the enabled locators (config lga/cma.enabled)."""
    targets = []
    for kind in kinds:
        if not config[kind]["enabled"]:
            continue
        for model in MODELS:
            for dataset in DATASETS:
                targets.append(f"results/locate/{model}/{dataset}/{kind}.parquet")
                if per_case:
                    targets.append(f"results/locate/{model}/{dataset}/{kind}_cases.parquet")
    return targets

