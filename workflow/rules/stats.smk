# Covariance statistics: text corpus -> second moment E[k k^T] of the rewritten projection's inputs, per
# (model, layer). Only editors whose resolved hyperparameters need them (MEMIT, EMMET, ROME with
# mom2_adjustment) depend on them: the edit rule takes `stats_inputs` as an input function and passes the
# files as repeated `--stats LAYER=PATH` (see `stats_args`).
#
# Unit of work: one job per (model, chunk of layers), below.
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


# One job per (model, chunk of layers): a chunk is layers_per_job consecutive layers of the whole model (the
# grid's windows may reach any layer), filled in one forward pass that stops after the chunk's deepest layer,
# so the model is loaded once per chunk and a chunk of layers 0-5 costs one sixth of a pass of the whole
# model, not the sum over its layers. The chunks are known when the workflow is read (the models' depths), so
# the rules are generated, one per chunk, each listing its per-layer files as outputs.
for _model in MODELS:
    for _chunk in stats_chunks(_model):
        _name = chunk_name(_chunk)

        rule:
            name:
                re.sub(r"\W", "_", f"layer_stats_{_model}_{_name}")
            input:
                model=f"resources/models/{_model}/prepare.json",
                corpus=f"resources/corpus/{STATS['corpus']}.jsonl",
            output:
                [stats_file(_model, layer) for layer in _chunk],
            params:
                outs=" ".join(f"--out {layer}={stats_file(_model, layer)}" for layer in _chunk),
                model=_model,
                max_length=STATS["max_length"],
                n=STATS["n_samples"],
                stats_dtype=STATS["dtype"],
                model_dtype=config["dtype"],
                device=config["device"],
            conda:
                "../../envs/goldenlayers.yaml"
            log:
                f"logs/layer_stats/{_model}/{STATS['corpus']}_n{STATS['n_samples']}_{STATS['dtype']}/layers{_name}.log",
            benchmark:
                f"logs/benchmarks/{_model}/stats/{STATS['corpus']}_n{STATS['n_samples']}_{STATS['dtype']}/layers{_name}.tsv"
            threads: config["threads"]["edit"]
            resources:
                gpu=USE_GPU,
                mem_mb=lambda w, attempt, model=_model: job_mem_mb(Wildcards(fromdict={"model": model}), attempt),
                runtime=lambda w, attempt, model=_model: job_runtime(Wildcards(fromdict={"model": model}), attempt),
            shell:
                "goldenlayers layer-stats --model-dir resources/models/{params.model} --corpus " + STATS["corpus"] +
                " --corpus-file {input.corpus:q} --n-samples {params.n} --max-length {params.max_length}"
                " --dtype {params.stats_dtype} --model-dtype {params.model_dtype} --device {params.device}"
                " --threads {threads} {params.outs} > {log:q} 2>&1"
