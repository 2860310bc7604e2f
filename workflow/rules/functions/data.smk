# Helper functions and constants of the data stage (rules in ../data.smk).

import os
import re

from goldenlayers.data.sources import resolve_download as _gl_resolve_download
from goldenlayers.data.sources import resolve_source as _gl_resolve_source


def dataset_entry(dataset):
    return config["datasets"][dataset] or {}


@dag_check
def dataset_format(dataset):
    """The source format the dataset is read in (config override, else the registry default)."""
    return _gl_resolve_source(dataset, dataset_entry(dataset).get("format")).format


@dag_check
def dataset_download(dataset):
    """The pinned upstream file (url, file_name, sha256 or None) for the dataset's config entry."""
    return _gl_resolve_download(dataset, dataset_entry(dataset))


def dataset_sample(dataset):
    """The shipped sample, relative to the working directory (the registry's path is repo-relative)."""
    sample = _gl_resolve_source(dataset, dataset_entry(dataset).get("format")).sample
    return os.path.relpath(os.path.join(workflow.basedir, sample))


def dataset_raw_input(wildcards):
    """The source JSON that load_dataset reads: the shipped sample or the downloaded upstream file."""
    if dataset_entry(wildcards.dataset).get("source", "sample") == "download":
        return f"resources/downloads/{wildcards.dataset}/{dataset_download(wildcards.dataset).file_name}"
    return dataset_sample(wildcards.dataset)


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
                          if dataset_entry(d).get("source", "sample") == "download"})
