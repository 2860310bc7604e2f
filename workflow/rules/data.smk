# Data stage: upstream file (optional download) -> cases.parquet (EditCase rows) -> proxy/test splits.
#
# config["datasets"][name] = {source: sample|download, format: optional override, url/sha256: optional
# overrides, skip_bad_records: optional}. `sample` reads the real records shipped in data/benchmarks/;
# `download` fetches the pinned upstream file into resources/downloads/{dataset}/ (sha256-checked; where no
# checksum is known the first download records one in <file>.sha256 and later fetches must match it).
# The dataset registry (formats, sample paths, pinned URLs and checksums) is goldenlayers.data.sources.

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
        skip=lambda w: "--skip-bad-records" if dataset_entry(w.dataset)["skip_bad_records"] else "",
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
        args=lambda w: split_args(w.dataset),
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
