# Data stage: upstream file (optional download) -> cases.parquet (EditCase rows) -> proxy/test splits.
#
# config["datasets"][name] = {source: sample|download, format: optional override, url/sha256: optional
# overrides, skip_bad_records: optional}. `sample` reads the real records shipped in data/benchmarks/;
# `download` fetches the pinned upstream file into resources/downloads/{dataset}/ (sha256-checked; where no
# checksum is known the first download records one in <file>.sha256 and later fetches must match it).
# The dataset registry (formats, sample paths, pinned URLs and checksums) is goldenlayers.data.sources.

import os
import re

from goldenlayers.data.sources import resolve_download as _gl_resolve_download
from goldenlayers.data.sources import resolve_source as _gl_resolve_source


def dataset_entry(dataset):
    return config["datasets"][dataset] or {}


def dataset_format(dataset):
    """The source format the dataset is read in (config override, else the registry default)."""
    return _gl_resolve_source(dataset, dataset_entry(dataset).get("format")).format


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


def split_args():
    """split-dataset options from config["split"] (proxy_size/test_size null = derived / all the rest)."""
    split = config.get("split") or {}
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


rule fetch_dataset:
    output:
        "resources/downloads/{dataset}/{file}",
    params:
        url=lambda w: dataset_download(w.dataset).url,
        sha256=lambda w: (f"--sha256 {dataset_download(w.dataset).sha256}"
                          if dataset_download(w.dataset).sha256 else ""),
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/fetch_dataset/{dataset}/{file}.log",
    wildcard_constraints:
        file="|".join(map(re.escape, _DOWNLOAD_FILES)) or r"(?!)",
    resources:
        mem_mb=512,
        runtime=60,
    shell:
        "goldenlayers fetch-dataset --dataset {wildcards.dataset:q} --url {params.url:q} {params.sha256}"
        " --output {output:q} > {log:q} 2>&1"


rule load_dataset:
    input:
        dataset_raw_input,
    output:
        "results/data/{dataset}/cases.parquet",
    params:
        fmt=lambda w: dataset_format(w.dataset),
        skip=lambda w: "--skip-bad-records" if dataset_entry(w.dataset).get("skip_bad_records") else "",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/load_dataset/{dataset}.log",
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "goldenlayers load-dataset --dataset {wildcards.dataset:q} --format {params.fmt:q}"
        " --input {input:q} --output {output:q} {params.skip} > {log:q} 2>&1"


rule split_dataset:
    input:
        "results/data/{dataset}/cases.parquet",
    output:
        proxy="results/data/{dataset}/proxy.parquet",
        test="results/data/{dataset}/test.parquet",
    params:
        args=split_args(),
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/split_dataset/{dataset}.log",
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "goldenlayers split-dataset --input {input:q} --proxy-output {output.proxy:q}"
        " --test-output {output.test:q} {params.args} > {log:q} 2>&1"
