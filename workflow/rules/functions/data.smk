# Helper functions and constants of the data stage (rules in ../data.smk).

import os
import re

from goldenlayers.data.sources import resolve_dataset as _gl_resolve_dataset


def dataset_entry(dataset):
    return config["datasets"][dataset] or {}


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
    """The source file that load_dataset reads. A user's local file (`path`, or a file:// `url`) is the
    input itself, so Snakemake reruns the dataset when the file changes; a download is fetched into
    resources/downloads/ first; a benchmark's sample is read from data/benchmarks/."""
    resolved = dataset_resolved(wildcards.dataset)
    if resolved.kind == "download":
        return f"resources/downloads/{wildcards.dataset}/{resolved.upstream.file_name}"
    if resolved.kind == "local":
        return resolved.path
    return os.path.relpath(os.path.join(REPO_ROOT, resolved.path))


def load_args(dataset):
    """load-dataset options beyond input/output: --sha256 for a pinned local file, --skip-bad-records."""
    resolved, args = dataset_resolved(dataset), []
    if resolved.kind == "local" and resolved.sha256:
        args.append(f"--sha256 {resolved.sha256}")
    if dataset_entry(dataset).get("skip_bad_records"):
        args.append("--skip-bad-records")
    return " ".join(args)


def split_args(dataset):
    """split-dataset options: config["split"], overridden by the dataset's own `split` entry
    (proxy_size/test_size null = derived / all the rest)."""
    split = {**(config.get("split") or {}), **(dataset_entry(dataset).get("split") or {})}
    args = [f"--proxy-fraction {float(split.get('proxy_fraction', 0.1))}",
            f"--proxy-min {int(split.get('proxy_min', 10))}",
            f"--seed {int(split.get('seed', 0))}"]
    if split.get("proxy_size") is not None:
        args.append(f"--proxy-size {int(split['proxy_size'])}")
    if split.get("test_size") is not None:
        args.append(f"--test-size {int(split['test_size'])}")
    return " ".join(args)


# Only the files the config asks to download can be produced by fetch_dataset.
_DOWNLOAD_FILES = sorted({dataset_download(d).file_name for d in config["datasets"]
                          if dataset_resolved(d).kind == "download"})
