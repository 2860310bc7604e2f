# goldenlayers: golden layers for knowledge editing (arXiv 2602.20207) as one DAG.
#
#   snakemake --cores 2                                   # embedded default: SmolLM2 on CPU, real samples
#   snakemake --cores 8 --profile profiles/slurm --configfile config/paper.yaml
#
# Stages (one rules file each): data -> models -> stats -> edit -> locate -> aggregate -> figures -> publish.
# Every rule is a thin call of `goldenlayers <subcommand>`; see README.md and docs/SCHEMAS.md.

from snakemake.utils import min_version

min_version("9.0")


# The default config applies only when no --configfile is given: a tiny or paper config must not inherit
# SmolLM2 and the sample datasets by Snakemake's config merge.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/functions/data.smk"
include: "workflow/rules/functions/edit.smk"
include: "workflow/rules/functions/locate.smk"
include: "workflow/rules/functions/aggregate.smk"
include: "workflow/rules/functions/figures.smk"
include: "workflow/rules/functions/publish.smk"
include: "workflow/rules/functions/stats.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/edit.smk"
include: "workflow/rules/locate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/publish.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        edit_targets(),
        locate_targets(),
        table_targets(),
        figure_targets(),
        publish_targets(),
