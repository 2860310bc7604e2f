# Edit stage: one job per (model, editor, dataset, split, layer); one Parquet row per case.


rule edit:
    input:
        unpack(stats_inputs),
        model=model_ready,
        cases="results/data/{dataset}/{split}.parquet",
        templates="results/prefixes/{model}.json",
        hparams=lambda w: hparams_file(w.model, w.editor),
    output:
        table="results/edits/{model}/{editor}/{dataset}/{split}/layer{layer}.parquet",
        hparams="results/edits/{model}/{editor}/{dataset}/{split}/layer{layer}.hparams.json",
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
        "logs/edit/{model}/{editor}/{dataset}/{split}/layer{layer}.log",
    benchmark:
        "benchmarks/{model}/edit/{editor}/{dataset}/{split}/layer{layer}.tsv"
    threads: config["threads"]["edit"]
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers edit --model-dir resources/models/{wildcards.model} --model-name {wildcards.model:q}"
        " --cases {input.cases:q} --dataset {wildcards.dataset} --split {wildcards.split}"
        " --editor {wildcards.editor} --hparams {input.hparams:q} --overrides {params.overrides:q}"
        " --layer {wildcards.layer} --templates {input.templates:q} {params.stats}"
        " --eval-limits {params.limits:q} --seed {params.seed} --device {params.device} --dtype {params.dtype}"
        " --threads {threads} --out {output.table:q} --out-hparams {output.hparams:q} > {log:q} 2>&1"
