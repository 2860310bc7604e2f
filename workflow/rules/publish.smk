# Publish: bundle the results (tables, figures, per-case scores, locator outputs, report) into one archive
# with MANIFEST.json (sha256 of every file, resolved config, package versions, git commit), then check the
# archive against its manifest. Needs aggregate.smk and figures.smk.
#
# The Snakemake HTML report is made by Snakemake itself, not by a rule: `make report` runs
#   snakemake --report results/report.html      (or results/report.zip)
# and then the workflow again, and this rule reruns to bundle it (it is an input when present, so its
# appearance changes the input set).

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
        receipt=f"{PUBLISH}.verified.json",
        manifest=f"{PUBLISH}.MANIFEST.json",
    conda:
        "../../envs/goldenlayers.yaml"
    log:
        "logs/verify_publish.log",
    shell:
        "goldenlayers verify-publish {input:q} --receipt {output.receipt:q} --manifest {output.manifest:q} > {log:q} 2>&1"
