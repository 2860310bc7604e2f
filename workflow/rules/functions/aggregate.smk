# Helper functions and constants of the aggregate stage (rules in ../aggregate.smk).

ANALYSIS = config["analysis"]  # n_boot, repeats, failed, reference_editor, min_cases, ... (defaults from the schema)


def max_failed_arg():
    """`--max-failed-fraction X` when analysis.max_failed_fraction is set (off by default)."""
    value = ANALYSIS["max_failed_fraction"]
    return "" if value is None else f"--max-failed-fraction {value}"


TABLES = "results/tables"


def edit_results_of(wildcards):
    """Every edit file of one (model, editor, dataset): both splits, every chunk of the layer grid."""
    return [path for split in SPLITS
            for path in edit_outputs(wildcards.model, wildcards.editor, wildcards.dataset, split)]


def case_tables():
    return [f"{TABLES}/cases/{model}/{editor}/{dataset}.parquet"
            for model, editor, dataset in edit_cells()]


def pre_edit_inputs():
    """The pre-edit files of every (model, dataset) with edits when failed edits are scored as the unedited model
    (analysis.failed: unedited); otherwise none, so the other policies do not depend on them."""
    if ANALYSIS["failed"] != "unedited":
        return []
    return sorted({f"results/pre_edit/{model}/{dataset}.parquet" for model, _, dataset in edit_cells()})


def locator_inputs(kind, per_case=False):
    """``lga``/``cma`` summary (or per-case) files of every model x dataset; [] if the locator is disabled."""
    if not config[kind]["enabled"]:
        return []
    suffix = "_cases" if per_case else ""
    return [f"results/locate/{model}/{dataset}/{kind}{suffix}.parquet" for model in MODELS for dataset in DATASETS]


def lga_test_inputs():
    """LGA's per-case files on the test split (rule lga_test) of every model x dataset; [] if LGA is disabled."""
    if not config["lga"]["enabled"]:
        return []
    return [f"results/locate/{model}/{dataset}/lga_test_cases.parquet" for model in MODELS for dataset in DATASETS]


def table_targets():
    """Every table of the aggregate and analysis stages (CSV + Markdown; Parquet/LaTeX come along)."""
    names = ["golden_layers", "locators", "lga_vs_cma", "transfer", "runtime", "claims", "per_case_layer"]
    return ([f"{TABLES}/{name}.{ext}" for name in names for ext in ("csv", "md")]
            + [f"{TABLES}/{name}.parquet" for name in ("layer_scores", "regret", "proxy_size", "per_case_layer")])
