# Helper functions and constants of the aggregate stage (rules in ../aggregate.smk).

ANALYSIS = config["analysis"]  # n_boot, repeats, failed, reference_editor, min_cases, ... (defaults from the schema)


def max_failed_arg():
    """`--max-failed-fraction X` when analysis.max_failed_fraction is set (off by default)."""
    value = ANALYSIS["max_failed_fraction"]
    return "" if value is None else f"--max-failed-fraction {value}"


TABLES = "results/tables"


def edit_results_of(wildcards):
    """Every per-layer edit file of one (model, editor, dataset): both splits, the whole layer grid."""
    return [f"results/edits/{wildcards.model}/{wildcards.editor}/{wildcards.dataset}/{split}/layer{layer}.parquet"
            for split in SPLITS for layer in layers_of(wildcards.model)]


def case_tables():
    return [f"{TABLES}/cases/{model}/{editor}/{dataset}.parquet"
            for model in MODELS for editor in EDITORS for dataset in DATASETS]


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
