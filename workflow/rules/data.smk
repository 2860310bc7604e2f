# Data stage: upstream file (optional download) -> cases.parquet (EditCase rows) -> proxy/test splits.
#
# config["datasets"][name]: a benchmark {source: sample|download, format, url/sha256 overrides} or a dataset
# of the user's own {format, path} / {format, url, sha256}; plus skip_bad_records and split (config/README.md).
# `sample` reads the real records shipped in data/benchmarks/; a local file (`path` or a file:// url) is read
# where it is, as this rule's input, so changing it reruns the dataset; `download` fetches the file into
# resources/downloads/{dataset}/ (sha256-checked; where no checksum is known the first download records one in
# <file>.sha256 and later fetches must match it). Registry and resolution: goldenlayers.data.sources.
#
# fetch_dataset is a local rule: on a cluster it runs on the submit host, which usually has the network.

localrules:
    fetch_dataset,



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
        args=lambda w: load_args(w.dataset),
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/load_dataset/{dataset}.log",
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "goldenlayers load-dataset --dataset {wildcards.dataset:q} --format {params.fmt:q}"
        " --input {input:q} --output {output:q} {params.args} > {log:q} 2>&1"


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
