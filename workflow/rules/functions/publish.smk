# Helper functions and constants of the publish stage (rules in ../publish.smk).

PUBLISH = f"results/publish/goldenlayers-{config['run_name']}"
REPORT_FILES = ["results/report.html", "results/report.zip"]


def publish_inputs():
    files = table_targets() + figure_targets()
    files += [f"{TABLES}/{name}.{ext}" for name in ("golden_layers", "locators", "lga_vs_cma", "runtime")
              for ext in ("tex", "parquet")]
    files += [f"{TABLES}/transfer.parquet", f"{TABLES}/claims.parquet"] + case_tables()
    files += choice_edit_targets()  # the test edits at the locators' own layers
    files += locator_inputs("lga") + locator_inputs("lga", per_case=True)
    files += lga_test_inputs() + [path.replace("_cases.parquet", ".parquet") for path in lga_test_inputs()]
    files += locator_inputs("cma") + locator_inputs("cma", per_case=True)
    files += [path for path in REPORT_FILES if Path(path).exists()]
    return sorted(set(files))


def publish_targets():
    """The archive, its verification receipt and a copy of its manifest beside it."""
    return [f"{PUBLISH}.tar.gz", f"{PUBLISH}.verified.json", f"{PUBLISH}.MANIFEST.json"]
