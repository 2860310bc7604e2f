# Figures: one rule per figure, one output pair (PDF + PNG) per model / editor. Each rule's input includes
# its plot module and the shared style module, so editing a figure's code redraws that figure only (and what
# bundles it). Needs aggregate.smk (TABLES, rules aggregate/analyse) and common.smk.

rule fig1_golden:
    input:
        tables=[f"{TABLES}/golden_layers.parquet"],
        code=plot_code("fig1_golden"),
    output:
        pdf=f"{FIGURES}/fig1_golden_{{model}}_{{editor}}.pdf",
        png=_figure_report(f"{FIGURES}/fig1_golden_{{model}}_{{editor}}.png", "fig1_golden",
                           "Fig. 1/5: golden layers, proxy vs test", model="{model}", editor="{editor}"),
    params:
        stem=lambda w: f"{FIGURES}/fig1_golden_{w.model}_{w.editor}",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/figures/fig1_golden_{model}_{editor}.log",
    shell:
        "goldenlayers plot fig1_golden --tables {input.tables:q} --model {wildcards.model:q}"
        " --editor {wildcards.editor:q} --out {params.stem:q} > {log:q} 2>&1"


rule fig2_deviation:
    input:
        tables=[f"{TABLES}/layer_scores.parquet", f"{TABLES}/golden_layers.parquet"],
        code=plot_code("fig2_deviation"),
    output:
        pdf=f"{FIGURES}/fig2_deviation_{{model}}_{{editor}}.pdf",
        png=_figure_report(f"{FIGURES}/fig2_deviation_{{model}}_{{editor}}.png", "fig2_deviation",
                           "Fig. 2: distance from the best fixed layer", model="{model}", editor="{editor}"),
    params:
        stem=lambda w: f"{FIGURES}/fig2_deviation_{w.model}_{w.editor}",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/figures/fig2_deviation_{model}_{editor}.log",
    shell:
        "goldenlayers plot fig2_deviation --tables {input.tables:q} --model {wildcards.model:q}"
        " --editor {wildcards.editor:q} --out {params.stem:q} > {log:q} 2>&1"


rule fig3_lga_cma:
    input:
        tables=[f"{TABLES}/regret.parquet", f"{TABLES}/lga_vs_cma.parquet", f"{TABLES}/locators.parquet"],
        code=plot_code("fig3_lga_cma"),
    output:
        pdf=f"{FIGURES}/fig3_lga_cma_{{editor}}.pdf",
        png=_figure_report(f"{FIGURES}/fig3_lga_cma_{{editor}}.png", "fig3_lga_cma", "Fig. 3: LGA vs CMA",
                           editor="{editor}"),
    params:
        stem=lambda w: f"{FIGURES}/fig3_lga_cma_{w.editor}",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/figures/fig3_lga_cma_{editor}.log",
    shell:
        "goldenlayers plot fig3_lga_cma --tables {input.tables:q} --editor {wildcards.editor:q}"
        " --out {params.stem:q} > {log:q} 2>&1"


rule fig4_runtime:
    input:
        tables=[f"{TABLES}/runtime.parquet"],
        code=plot_code("fig4_runtime"),
    output:
        pdf=f"{FIGURES}/fig4_runtime_{{model}}.pdf",
        png=_figure_report(f"{FIGURES}/fig4_runtime_{{model}}.png", "fig4_runtime", "Fig. 4: runtime",
                           model="{model}"),
    params:
        stem=lambda w: f"{FIGURES}/fig4_runtime_{w.model}",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/figures/fig4_runtime_{model}.log",
    shell:
        "goldenlayers plot fig4_runtime --tables {input.tables:q} --model {wildcards.model:q}"
        " --out {params.stem:q} > {log:q} 2>&1"


rule fig_regret:
    input:
        tables=[f"{TABLES}/regret.parquet"],
        code=plot_code("regret"),
    output:
        pdf=f"{FIGURES}/regret_{{model}}_{{editor}}.pdf",
        png=_figure_report(f"{FIGURES}/regret_{{model}}_{{editor}}.png", "regret", "Regret of locators",
                           model="{model}", editor="{editor}"),
    params:
        stem=lambda w: f"{FIGURES}/regret_{w.model}_{w.editor}",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/figures/regret_{model}_{editor}.log",
    shell:
        "goldenlayers plot regret --tables {input.tables:q} --model {wildcards.model:q}"
        " --editor {wildcards.editor:q} --out {params.stem:q} > {log:q} 2>&1"


rule fig_transfer:
    input:
        tables=[f"{TABLES}/transfer.parquet"],
        code=plot_code("transfer"),
    output:
        pdf=f"{FIGURES}/transfer_{{model}}_{{editor}}.pdf",
        png=_figure_report(f"{FIGURES}/transfer_{{model}}_{{editor}}.png", "transfer", "Cross-dataset transfer",
                           model="{model}", editor="{editor}"),
    params:
        stem=lambda w: f"{FIGURES}/transfer_{w.model}_{w.editor}",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/figures/transfer_{model}_{editor}.log",
    shell:
        "goldenlayers plot transfer --tables {input.tables:q} --model {wildcards.model:q}"
        " --editor {wildcards.editor:q} --out {params.stem:q} > {log:q} 2>&1"


rule fig_proxy_size:
    input:
        tables=[f"{TABLES}/proxy_size.parquet"],
        code=plot_code("proxy_size"),
    output:
        pdf=f"{FIGURES}/proxy_size_{{model}}_{{editor}}.pdf",
        png=_figure_report(f"{FIGURES}/proxy_size_{{model}}_{{editor}}.png", "proxy_size",
                           "Proxy-size sensitivity", model="{model}", editor="{editor}"),
    params:
        stem=lambda w: f"{FIGURES}/proxy_size_{w.model}_{w.editor}",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/figures/proxy_size_{model}_{editor}.log",
    shell:
        "goldenlayers plot proxy_size --tables {input.tables:q} --model {wildcards.model:q}"
        " --editor {wildcards.editor:q} --out {params.stem:q} > {log:q} 2>&1"
