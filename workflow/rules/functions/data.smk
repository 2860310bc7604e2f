# Helper functions and constants of the data stage (rules in ../data.smk).

from goldenlayers.data.sources import resolve_dataset as _gl_resolve_dataset


def dataset_entry(dataset):
    return config["datasets"][dataset]


@dag_check
def dataset_resolved(dataset):
    """What the dataset reads: the shipped sample, the user's local file, or a download (data/sources.py)."""
    return _gl_resolve_dataset(dataset, dataset_entry(dataset))


def dataset_format(dataset):
    """The source format the dataset is read in (config `format`, else the benchmark's default)."""
    return dataset_resolved(dataset).format


def dataset_download(dataset):
    """The upstream file (url, file_name, sha256 or None) of a dataset that is downloaded."""
    return dataset_resolved(dataset).upstream


def dataset_raw_input(wildcards):
    """The source file that load_dataset reads. A user's local file (`path`, or a file:// `url`, relative to
    the working directory) is the input itself, so Snakemake reruns the dataset when the file changes; a
    download is fetched into resources/downloads/ first; a benchmark's sample is the workflow's own file in
    data/benchmarks/ (shipped_file: found from the workflow's source, also when it is a deployed module)."""
    resolved = dataset_resolved(wildcards.dataset)
    if resolved.kind == "download":
        return f"resources/downloads/{wildcards.dataset}/{resolved.upstream.file_name}"
    if resolved.kind == "local":
        return resolved.path
    found = shipped_file(resolved.path)
    if found is None:
        stop(f"file {resolved.path}, field 'datasets.{wildcards.dataset}.source': the workflow's sample of "
             f"{wildcards.dataset!r} is missing from the workflow's source")
    return found


def load_args(dataset):
    """load-dataset options beyond input/output: --source-name for a shipped sample read from elsewhere,
    --sha256 for a pinned local file, --skip-bad-records."""
    resolved, args = dataset_resolved(dataset), []
    if resolved.kind == "sample" and str(shipped_file(resolved.path)) != resolved.path:
        # read from elsewhere (a deployed module's cached copy, or a run outside the checkout): named as shipped
        args.append(f"--source-name {resolved.path}")
    if resolved.kind == "local" and resolved.sha256:
        args.append(f"--sha256 {resolved.sha256}")
    if dataset_entry(dataset)["skip_bad_records"]:
        args.append("--skip-bad-records")
    return " ".join(args)


def dataset_split(dataset):
    """The dataset's split settings: config["split"], overridden by the dataset's own `split` entry."""
    return {**config["split"], **dataset_entry(dataset).get("split", {})}


def split_args(dataset):
    """split-dataset options from :func:`dataset_split` (proxy_size/test_size null = derived / all the rest)."""
    split = dataset_split(dataset)
    args = [f"--proxy-fraction {float(split['proxy_fraction'])}", f"--proxy-min {int(split['proxy_min'])}",
            f"--seed {int(split['seed'])}"]
    if split["proxy_size"] is not None:
        args.append(f"--proxy-size {int(split['proxy_size'])}")
    if split["test_size"] is not None:
        args.append(f"--test-size {int(split['test_size'])}")
    return " ".join(args)


# Only the files the config asks to download can be produced by fetch_dataset.
_DOWNLOAD_FILES = sorted({dataset_download(d).file_name for d in config["datasets"]
                          if dataset_resolved(d).kind == "download"})
