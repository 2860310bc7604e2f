# Covariance statistics: text corpus -> second moment E[k k^T] of the rewritten projection's inputs, per
# (model, layer). Only editors whose resolved hyperparameters need them (MEMIT, EMMET, ROME with
# mom2_adjustment) depend on them: the edit rule takes `stats_inputs` as an input function and passes the
# files as repeated `--stats LAYER=PATH` (see `stats_args`).
#
# Unit of work: one job per (model, layer). A layer added to the grid or a window computes only what is
# missing, and layers run in parallel on a cluster; each job's forward pass stops right after its layer.
# (`goldenlayers layer-stats` also takes several --out LAYER=PATH and fills them in one pass, for manual use.)
# config["stats"] = {corpus, n_samples, max_length, dtype, wikipedia_snapshot}; the sample seed is config["seed"].

import os

STATS = config.get("stats") or {}
STATS_CORPUS = STATS.get("corpus", "gensim-enwiki-sample")
STATS_N = int(STATS.get("n_samples", 300))
STATS_DTYPE = STATS.get("dtype", "float32")
STATS_MAX_LENGTH = int(STATS.get("max_length", 256))
_STATS_EDITORS = {}


def stats_file(model, layer):
    return f"results/stats/{model}/{STATS_CORPUS}_n{STATS_N}_{STATS_DTYPE}/layer{layer}.safetensors"


def editor_overrides(editor):
    """The hyperparameter overrides the edit job gets: config multi_layer (window, align) for the multi-layer
    editors, then config editor_overrides.<editor> on top. The edit rule must pass exactly these (--overrides)
    so that the DAG and the job agree on the edited layers."""
    overrides = {}
    if editor in ("memit", "emmet"):
        overrides.update({k: v for k, v in (config.get("multi_layer") or {}).items() if k in ("window", "align")})
    overrides.update((config.get("editor_overrides") or {}).get(editor) or {})
    return overrides


def hparams_file(model, editor):
    family = config["models"][model]["family"]
    hparams_dir = Path(config.get("hparams_dir", "config/hparams"))
    if not hparams_dir.is_absolute() and not hparams_dir.exists():
        hparams_dir = Path(workflow.basedir) / hparams_dir  # run with --directory elsewhere
    return str(hparams_dir / editor / f"{family}.yaml")


def editor_hparams(model, editor):
    """The editor's resolved hyperparameters for a model (YAML file + overrides), read at DAG time."""
    from goldenlayers.editors.hparams import load_hparams

    return load_hparams(hparams_file(model, editor), editor, editor_overrides(editor))


def stats_layers(model, editor, layer):
    """The layers whose statistics an edit job of (model, editor, layer) reads; [] if the editor needs none."""
    from goldenlayers.editors.registry import get_editor

    key = (model, editor)
    if key not in _STATS_EDITORS:
        _STATS_EDITORS[key] = (get_editor(editor), editor_hparams(model, editor))
    impl, hparams = _STATS_EDITORS[key]
    if not impl.needs_stats(hparams):
        return []
    return impl.edited_layers(int(layer), int(config["models"][model]["num_layers"]), hparams)


def stats_inputs(wildcards):
    """Input function for the edit rule: {layer: stats file} for (model, editor, layer); empty if not needed."""
    return {f"stats_{l}": stats_file(wildcards.model, l)
            for l in stats_layers(wildcards.model, wildcards.editor, wildcards.layer)}


def stats_args(wildcards):
    """The edit job's `--stats LAYER=PATH ...` arguments matching stats_inputs."""
    return " ".join(f"--stats {l}={stats_file(wildcards.model, l)}"
                    for l in stats_layers(wildcards.model, wildcards.editor, wildcards.layer))


rule fetch_corpus:
    output:
        corpus="resources/corpus/{corpus}.jsonl",
        sha256="resources/corpus/{corpus}.jsonl.sha256",
        record="resources/corpus/{corpus}.jsonl.json",
    params:
        n=STATS_N,
        seed=config["seed"],
        snapshot=STATS.get("wikipedia_snapshot", "20231101.en"),
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
        "results/stats/{model}/{corpus}_n{n}_{stats_dtype}/layer{layer}.safetensors",
    params:
        max_length=STATS_MAX_LENGTH,
        model_dtype=config["dtype"],
        device=config["device"],
    log:
        "logs/layer_stats/{model}/{corpus}_n{n}_{stats_dtype}/layer{layer}.log",
    benchmark:
        "benchmarks/{model}/stats/{corpus}_n{n}_{stats_dtype}/layer{layer}.tsv"
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
