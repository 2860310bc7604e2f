# Locator stage: LGA (the paper's) and CMA (ROME causal tracing) on each (model, dataset) proxy split.
#
# Both score every layer of the model; --grid marks the sweep-grid layers (layers_of(model, dataset=...)) so that
# is_golden is the argmax over the grid, comparable with brute force, and is_golden_all the argmax over
# every layer. The benchmark files time the whole job (the runtime analysis uses the `seconds` column,
# the locator's own compute time after loading, like the per-case seconds of the brute-force edits).
# config["lga"] = {enabled, params, tukey_k, quantile_method, old_answer, proxy_size};
# config["cma"] = {enabled, noise_scale, samples, window, max_batch, cases, proxy_size}; the CMA noise seed is
# config["seed"]. proxy_size tops the locator's proxy set up from the dataset's cases outside both splits.


rule lga:
    input:
        model=model_ready,
        cases="results/data/{dataset}/proxy.parquet",
        pool="results/data/{dataset}/cases.parquet",
        exclude="results/data/{dataset}/test.parquet",
    output:
        scores="results/locate/{model}/{dataset}/lga.parquet",
        cases="results/locate/{model}/{dataset}/lga_cases.parquet",
    params:
        common=lambda w, threads: _locate_common(w, threads),
        params=config["lga"]["params"],
        tukey_k=config["lga"]["tukey_k"],
        quantile_method=config["lga"]["quantile_method"],
        old_answer=config["lga"]["old_answer"],
        pool=lambda w, input: _locate_pool(input, "lga", w.dataset),
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/locate/{model}/{dataset}/lga.log",
    benchmark:
        "logs/benchmarks/{model}/{dataset}/lga.tsv"
    threads: config["threads"]["locate"]
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers lga {params.common} --cases {input.cases:q} --dataset {wildcards.dataset:q}"
        " --params {params.params} --tukey-k {params.tukey_k} --quantile-method {params.quantile_method}"
        " --old-answer {params.old_answer} {params.pool} --out {output.scores:q} --out-cases {output.cases:q} > {log:q} 2>&1"


# Beyond the paper: LGA on the test split, so that every test case gets its own layer (the golden layer's Tukey
# rule on that case's contributions: case_kept, is_case_choice); the analysis scores it by a lookup into the
# test edits (results/tables/per_case_layer.*). Two backward passes per test case; no pool, no top-up.
rule lga_test:
    input:
        model=model_ready,
        cases="results/data/{dataset}/test.parquet",
    output:
        scores="results/locate/{model}/{dataset}/lga_test.parquet",
        cases="results/locate/{model}/{dataset}/lga_test_cases.parquet",
    params:
        common=lambda w, threads: _locate_common(w, threads),
        params=config["lga"]["params"],
        tukey_k=config["lga"]["tukey_k"],
        quantile_method=config["lga"]["quantile_method"],
        old_answer=config["lga"]["old_answer"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/locate/{model}/{dataset}/lga_test.log",
    benchmark:
        "logs/benchmarks/{model}/{dataset}/lga_test.tsv"
    threads: config["threads"]["locate"]
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers lga {params.common} --cases {input.cases:q} --dataset {wildcards.dataset:q}"
        " --params {params.params} --tukey-k {params.tukey_k} --quantile-method {params.quantile_method}"
        " --old-answer {params.old_answer} --out {output.scores:q} --out-cases {output.cases:q} > {log:q} 2>&1"


rule cma:
    input:
        model=model_ready,
        cases="results/data/{dataset}/proxy.parquet",
        pool="results/data/{dataset}/cases.parquet",
        exclude="results/data/{dataset}/test.parquet",
    output:
        scores="results/locate/{model}/{dataset}/cma.parquet",
        cases="results/locate/{model}/{dataset}/cma_cases.parquet",
    params:
        common=lambda w, threads: _locate_common(w, threads),
        noise_scale=config["cma"]["noise_scale"],
        samples=config["cma"]["samples"],
        window=config["cma"]["window"],
        max_batch=config["cma"]["max_batch"],
        seed=config["seed"],
        trace_cases=config["cma"]["cases"],
        pool=lambda w, input: _locate_pool(input, "cma", w.dataset),
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/locate/{model}/{dataset}/cma.log",
    benchmark:
        "logs/benchmarks/{model}/{dataset}/cma.tsv"
    threads: config["threads"]["locate"]
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers cma {params.common} --cases {input.cases:q} --dataset {wildcards.dataset:q}"
        " --noise-scale {params.noise_scale} --samples {params.samples} --window {params.window}"
        " --max-batch {params.max_batch} --seed {params.seed} --trace-cases {params.trace_cases} {params.pool}"
        " --out {output.scores:q} --out-cases {output.cases:q} > {log:q} 2>&1"
