# Aggregate and analysis stage: per-case scores -> layer scores and golden layers (brute force on the proxy
# split, judged on test) -> locators against brute force and the optimum, LGA vs CMA, transfer, runtime and
# proxy-size sensitivity. Needs common.smk (MODELS, DATASETS, EDITORS, SPLITS, layers_of) and, for the
# locator inputs, config lga/cma.enabled. A disabled locator is simply absent from the analysis.
#
# config["analysis"] (defaults in functions/aggregate.smk and config/schema.yaml): n_boot, repeats, failed
# (drop|zero|unedited: then the pre-edit files are inputs too), reference_editor, min_cases, max_failed_fraction, claims_metric, claims_margin. The analysis
# also reads the test edits at the locators' own choices (rule edit_choice) and LGA on the test split (rule
# lga_test: each test case's own layer, results/tables/per_case_layer.*).

rule collect_edits:
    input:
        edit_results_of,
    output:
        f"{TABLES}/cases/{{model}}/{{editor}}/{{dataset}}.parquet",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/collect_edits/{model}/{editor}/{dataset}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "goldenlayers collect-edits --inputs {input:q} --output {output:q} > {log:q} 2>&1"


rule aggregate:
    input:
        cases=case_tables(),
        pre_edit=pre_edit_inputs(),
    output:
        layer_scores=f"{TABLES}/layer_scores.parquet",
        golden=f"{TABLES}/golden_layers.parquet",
        golden_csv=report(f"{TABLES}/golden_layers.csv", caption="../report/golden_layers.rst",
                          category="Tables", labels={"table": "golden layers (CSV)"}),
        golden_md=f"{TABLES}/golden_layers.md",
        golden_tex=f"{TABLES}/golden_layers.tex",
    params:
        failed=ANALYSIS["failed"],
        seed=config["seed"],
        max_failed=max_failed_arg(),
        out_dir=lambda w, output: os.path.dirname(output.golden),
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/aggregate.log",
    resources:
        mem_mb=4000,
        runtime=20,
    shell:
        "goldenlayers aggregate --cases {input.cases:q} --out-dir {params.out_dir:q} --failed {params.failed}"
        " --pre-edit {input.pre_edit:q}"
        " --seed {params.seed} {params.max_failed} > {log:q} 2>&1"


rule analyse:
    input:
        cases=case_tables(),
        golden=rules.aggregate.output.golden,
        layer_scores=rules.aggregate.output.layer_scores,
        lga=locator_inputs("lga"),
        lga_cases=locator_inputs("lga", per_case=True),
        lga_test_cases=lga_test_inputs(),
        cma=locator_inputs("cma"),
        cma_cases=locator_inputs("cma", per_case=True),
        choice_edits=choice_edit_targets(),
        pre_edit=pre_edit_inputs(),
    output:
        regret=f"{TABLES}/regret.parquet",
        regret_csv=report(f"{TABLES}/regret.csv", caption="../report/regret_table.rst", category="Tables",
                          labels={"table": "regret of locators (CSV)"}),
        locators=f"{TABLES}/locators.parquet",
        locators_csv=report(f"{TABLES}/locators.csv", caption="../report/locators.rst", category="Tables",
                            labels={"table": "locators vs optimum (CSV)"}),
        locators_md=f"{TABLES}/locators.md",
        locators_tex=f"{TABLES}/locators.tex",
        paired=f"{TABLES}/lga_vs_cma.parquet",
        paired_csv=report(f"{TABLES}/lga_vs_cma.csv", caption="../report/lga_vs_cma.rst", category="Tables",
                          labels={"table": "LGA vs CMA (CSV)"}),
        paired_md=f"{TABLES}/lga_vs_cma.md",
        paired_tex=f"{TABLES}/lga_vs_cma.tex",
        transfer=f"{TABLES}/transfer.parquet",
        transfer_csv=report(f"{TABLES}/transfer.csv", caption="../report/transfer_table.rst", category="Tables",
                            labels={"table": "cross-dataset transfer (CSV)"}),
        transfer_md=f"{TABLES}/transfer.md",
        runtime=f"{TABLES}/runtime.parquet",
        runtime_csv=report(f"{TABLES}/runtime.csv", caption="../report/runtime.rst", category="Tables",
                           labels={"table": "runtime and speed-ups (CSV)"}),
        runtime_md=f"{TABLES}/runtime.md",
        runtime_tex=f"{TABLES}/runtime.tex",
        proxy_size=f"{TABLES}/proxy_size.parquet",
        proxy_size_csv=report(f"{TABLES}/proxy_size.csv", caption="../report/proxy_size_table.rst",
                              category="Tables", labels={"table": "proxy-size sensitivity (CSV)"}),
        claims=f"{TABLES}/claims.parquet",
        claims_csv=report(f"{TABLES}/claims.csv", caption="../report/claims.rst", category="Tables",
                          labels={"table": "claims of the paper (CSV)"}),
        claims_md=f"{TABLES}/claims.md",
        per_case_layer=f"{TABLES}/per_case_layer.parquet",
        per_case_layer_csv=report(f"{TABLES}/per_case_layer.csv", caption="../report/per_case_layer.rst",
                                  category="Tables", labels={"table": "each case's own LGA layer (CSV)"}),
        per_case_layer_md=f"{TABLES}/per_case_layer.md",
    params:
        out_dir=lambda w, output: os.path.dirname(output.regret),
        seed=config["seed"],
        n_boot=ANALYSIS["n_boot"],
        repeats=ANALYSIS["repeats"],
        failed=ANALYSIS["failed"],
        reference_editor=ANALYSIS["reference_editor"],
        tukey_k=config["lga"]["tukey_k"],
        quantile_method=config["lga"]["quantile_method"],
        num_layers=json.dumps({model: spec["num_layers"] for model, spec in config["models"].items()}),
        min_cases=ANALYSIS["min_cases"],
        claims_metric=ANALYSIS["claims_metric"],
        claims_margin=ANALYSIS["claims_margin"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/analyse.log",
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "goldenlayers analyse --cases {input.cases:q} --golden {input.golden:q}"
        " --layer-scores {input.layer_scores:q} --lga {input.lga:q} --lga-cases {input.lga_cases:q}"
        " --lga-test-cases {input.lga_test_cases:q}"
        " --cma {input.cma:q} --cma-cases {input.cma_cases:q}"
        " --out-dir {params.out_dir:q} --seed {params.seed} --n-boot {params.n_boot} --repeats {params.repeats}"
        " --failed {params.failed} --pre-edit {input.pre_edit:q} --reference-editor {params.reference_editor:q}"
        " --tukey-k {params.tukey_k} --quantile-method {params.quantile_method}"
        " --num-layers {params.num_layers:q} --choice-edits {input.choice_edits:q} --min-cases {params.min_cases}"
        " --claims-metric {params.claims_metric} --claims-margin {params.claims_margin} > {log:q} 2>&1"
