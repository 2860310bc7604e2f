# Covariance statistics: text corpus -> second moment E[k k^T] of the rewritten projection's inputs, per
# (model, layer). Only editors whose resolved hyperparameters need them (MEMIT, EMMET, ROME with
# mom2_adjustment) depend on them: the edit rule takes `stats_inputs` as an input function and passes the
# files as repeated `--stats LAYER=PATH` (see `stats_args`).
#
# Unit of work: one job per (model, layer). A layer added to the grid or a window computes only what is
# missing, and layers run in parallel on a cluster; each job's forward pass stops right after its layer.
# (`goldenlayers layer-stats` also takes several --out LAYER=PATH and fills them in one pass, for manual use.)
# config["stats"] = {corpus, n_samples, max_length, dtype, wikipedia_snapshot}; the sample seed is config["seed"].
# fetch_corpus downloads, so it is a local rule (on a cluster it runs on the submit host, which has the network).

localrules:
    fetch_corpus,

rule fetch_corpus:
    output:
        corpus="resources/corpus/{corpus}.jsonl",
        sha256="resources/corpus/{corpus}.jsonl.sha256",
        record="resources/corpus/{corpus}.jsonl.json",
    params:
        n=STATS["n_samples"],
        seed=config["seed"],
        snapshot=STATS["wikipedia_snapshot"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/fetch_corpus/{corpus}.log",
    wildcard_constraints:
        corpus="gensim-enwiki-sample|wikipedia",
    resources:
        mem_mb=lambda w: 16000 if w.corpus == "wikipedia" else 2000,
        runtime=lambda w: 240 if w.corpus == "wikipedia" else 20,
    shell:
        "goldenlayers fetch-corpus --corpus {wildcards.corpus} --n-samples {params.n} --seed {params.seed}"
        " --snapshot {params.snapshot:q} --out {output.corpus:q} > {log:q} 2>&1"


rule layer_stats:
    input:
        model=model_ready,
        corpus="resources/corpus/{corpus}.jsonl",
    output:
        STATS_FILE,
    params:
        max_length=STATS["max_length"],
        model_dtype=config["dtype"],
        device=config["device"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/layer_stats/{model}/{corpus}_n{n}_{stats_dtype}/layer{layer}.log",
    benchmark:
        "logs/benchmarks/{model}/stats/{corpus}_n{n}_{stats_dtype}/layer{layer}.tsv"
    wildcard_constraints:
        corpus="gensim-enwiki-sample|wikipedia",
        n=r"\d+",
        stats_dtype="float32|float64",
    threads: config["threads"]["edit"]
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers layer-stats --model-dir resources/models/{wildcards.model} --corpus {wildcards.corpus}"
        " --corpus-file {input.corpus:q} --n-samples {wildcards.n} --max-length {params.max_length}"
        " --dtype {wildcards.stats_dtype} --model-dtype {params.model_dtype} --device {params.device}"
        " --threads {threads} --out {wildcards.layer}={output:q} > {log:q} 2>&1"
