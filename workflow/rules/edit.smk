# Edit stage: the unedited predictions once per (model, dataset); the target values once per (model, value key,
# dataset, chunk of sites), shared by the editors that optimise the same value; then one edit job per (model,
# editor, dataset, chunk of layers) for both splits, one Parquet row per case and layer. A chunk is
# layers_per_job consecutive layers of the grid, named by its layers (goldenlayers.chunks): a job loads the
# model once for its chunk.


rule pre_edit:
    input:
        model=model_ready,
        proxy="results/data/{dataset}/proxy.parquet",
        test="results/data/{dataset}/test.parquet",
    output:
        "results/pre_edit/{model}/{dataset}.parquet",
    params:
        limits=json.dumps(config["evaluation"], sort_keys=True),
        device=config["device"],
        dtype=config["dtype"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/pre_edit/{model}/{dataset}.log",
    benchmark:
        "logs/benchmarks/{model}/pre_edit/{dataset}.tsv"
    threads: config["threads"]["edit"]
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers pre-edit --model-dir resources/models/{wildcards.model} --cases {input.proxy:q} {input.test:q}"
        " --split proxy test --eval-limits {params.limits:q} --device {params.device} --dtype {params.dtype}"
        " --threads {threads} --out {output:q} > {log:q} 2>&1"


rule target_values:
    input:
        model=model_ready,
        proxy="results/data/{dataset}/proxy.parquet",
        test="results/data/{dataset}/test.parquet",
        templates="results/prefixes/{model}.json",
    output:
        "results/values/{model}/{vkey}/{dataset}/{sites}.safetensors",
    params:
        hparams=value_hparams_json,
        batch_tokens=config["target_values"]["batch_tokens"],
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
    wildcard_constraints:
        vkey=r"v[0-9a-f]+",
        sites=rf"(mlp|block){CHUNK_PATTERN}",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/target_values/{model}/{vkey}/{dataset}/{sites}.log",
    benchmark:
        "logs/benchmarks/{model}/values/{vkey}/{dataset}/{sites}.tsv"
    threads: config["threads"]["edit"]
    # the dominant cost of the sweep: start these first, so the longest ones are not left for the end
    priority: 10
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers values --model-dir resources/models/{wildcards.model} --cases {input.proxy:q} {input.test:q}"
        " --sites {wildcards.sites} --value-hparams {params.hparams:q} --templates {input.templates:q}"
        " --batch-tokens {params.batch_tokens} --seed {params.seed} --device {params.device} --dtype {params.dtype}"
        " --threads {threads} --out {output:q} > {log:q} 2>&1"


rule edit:
    input:
        unpack(stats_inputs),
        model=model_ready,
        proxy="results/data/{dataset}/proxy.parquet",
        test="results/data/{dataset}/test.parquet",
        templates="results/prefixes/{model}.json",
        hparams=lambda w: hparams_file(w.model, w.editor),
        values=values_file,
        pre_edit="results/pre_edit/{model}/{dataset}.parquet",
    output:
        proxy="results/edits/{model}/{editor}/{dataset}/proxy/layers{chunk}.parquet",
        test="results/edits/{model}/{editor}/{dataset}/test/layers{chunk}.parquet",
        hparams="results/edits/{model}/{editor}/{dataset}/layers{chunk}.hparams.json",
    params:
        overrides=lambda w: json.dumps(editor_overrides(w.editor), sort_keys=True),
        stats=stats_args,
        limits=json.dumps(config["evaluation"], sort_keys=True),
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/edit/{model}/{editor}/{dataset}/layers{chunk}.log",
    benchmark:
        "logs/benchmarks/{model}/edit/{editor}/{dataset}/layers{chunk}.tsv"
    threads: config["threads"]["edit"]
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers edit --model-dir resources/models/{wildcards.model} --model-name {wildcards.model:q}"
        " --cases {input.proxy:q} {input.test:q} --split proxy test --dataset {wildcards.dataset}"
        " --editor {wildcards.editor} --hparams {input.hparams:q} --overrides {params.overrides:q}"
        " --layers {wildcards.chunk} --templates {input.templates:q} --values {input.values:q} {params.stats}"
        " --pre-edit {input.pre_edit:q}"
        " --eval-limits {params.limits:q} --seed {params.seed} --device {params.device} --dtype {params.dtype}"
        " --threads {threads} --out {output.proxy:q} {output.test:q} --out-hparams {output.hparams:q} > {log:q} 2>&1"


# Each locator is judged at its own choice: the test split is edited at the layer(s) LGA or CMA chose over
# every layer, off the grid too. The job reads the choice from the locator's file; a chosen layer on the grid
# reuses that grid edit, any other layer is edited in the job (its values optimised there).
rule edit_choice:
    input:
        unpack(choice_stats_inputs),
        model=model_ready,
        locator="results/locate/{model}/{dataset}/{locator}.parquet",
        test="results/data/{dataset}/test.parquet",
        templates="results/prefixes/{model}.json",
        hparams=lambda w: hparams_file(w.model, w.editor),
        grid=grid_test_results,
        pre_edit="results/pre_edit/{model}/{dataset}.parquet",
    output:
        "results/edits/{model}/{editor}/{dataset}/test/{locator}_choice.parquet",
    params:
        overrides=lambda w: json.dumps(editor_overrides(w.editor), sort_keys=True),
        stats=choice_stats_args,
        limits=json.dumps(config["evaluation"], sort_keys=True),
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
    wildcard_constraints:
        locator="lga|cma",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/edit_choice/{model}/{editor}/{dataset}/{locator}.log",
    benchmark:
        "logs/benchmarks/{model}/edit_choice/{editor}/{dataset}/{locator}.tsv"
    threads: config["threads"]["edit"]
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers edit-choice --locator-file {input.locator:q} --locator {wildcards.locator}"
        " --grid-results {input.grid:q} --pre-edit {input.pre_edit:q} --model-dir resources/models/{wildcards.model}"
        " --model-name {wildcards.model:q} --cases {input.test:q} --dataset {wildcards.dataset}"
        " --editor {wildcards.editor} --hparams {input.hparams:q} --overrides {params.overrides:q}"
        " --templates {input.templates:q} {params.stats} --eval-limits {params.limits:q} --seed {params.seed}"
        " --device {params.device} --dtype {params.dtype} --threads {threads} --out {output:q} > {log:q} 2>&1"
