# Publish: bundle the results (tables, figures, per-case scores, locator outputs, report) into one archive
# with MANIFEST.json (sha256 of every file, resolved config, package versions, git commit), then check the
# archive against its manifest. Needs aggregate.smk and figures.smk.
#
# The Snakemake HTML report is made by Snakemake itself, not by a rule: run
#   snakemake --report results/report.html      (or results/report.zip)
# before `snakemake publish` and it is bundled too (it is picked up when present).

PUBLISH = f"results/publish/goldenlayers-{config['run_name']}"
REPORT_FILES = ["results/report.html", "results/report.zip"]


def publish_inputs():
    files = table_targets() + figure_targets()
    files += [f"{TABLES}/{name}.{ext}" for name in ("golden_layers", "locators", "lga_vs_cma", "runtime")
              for ext in ("tex", "parquet")]
    files += [f"{TABLES}/transfer.parquet"] + case_tables()
    files += locator_inputs("lga") + locator_inputs("lga", per_case=True)
    files += locator_inputs("cma") + locator_inputs("cma", per_case=True)
    files += [path for path in REPORT_FILES if Path(path).exists()]
    return sorted(set(files))


rule publish:
    input:
        publish_inputs(),
    output:
        f"{PUBLISH}.tar.gz",
    params:
        config=json.dumps(config, sort_keys=True, default=str),
        run_name=config["run_name"],
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/publish.log",
    shell:
        "goldenlayers publish --files {input:q} --config-json {params.config:q} --run-name {params.run_name:q}"
        " --out {output:q} > {log:q} 2>&1"


rule verify_publish:
    input:
        rules.publish.output,
    output:
        f"{PUBLISH}.verified.json",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/verify_publish.log",
    shell:
        "goldenlayers verify-publish {input:q} --receipt {output:q} > {log:q} 2>&1"


def publish_targets():
    """The archive and its verification receipt."""
    return [f"{PUBLISH}.tar.gz", f"{PUBLISH}.verified.json"]
