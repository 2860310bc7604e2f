"""``goldenlayers analyse``: locators against brute force and the optimum, LGA vs CMA, transfer, runtime,
proxy-size sensitivity. Every locator input is optional: a locator that was not run has no rows."""

from __future__ import annotations

import json
import logging
from pathlib import Path

NAME = "analyse"
HELP = "regret with bootstrap CIs, LGA vs CMA (Wilcoxon), cross-dataset transfer, runtimes, proxy-size sensitivity"
log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("--cases", nargs="+", required=True, help="case-score tables from collect-edits")
    parser.add_argument("--golden", required=True, help="golden_layers.parquet from aggregate")
    parser.add_argument("--layer-scores", required=True, help="layer_scores.parquet from aggregate")
    parser.add_argument("--lga", nargs="*", default=[], help="lga.parquet files (none: LGA not run)")
    parser.add_argument("--lga-cases", nargs="*", default=[], help="lga_cases.parquet files")
    parser.add_argument("--cma", nargs="*", default=[], help="cma.parquet files (none: CMA not run)")
    parser.add_argument("--cma-cases", nargs="*", default=[], help="cma_cases.parquet files")
    parser.add_argument("--out-dir", required=True, help="folder of the tables (results/tables)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap and proxy-subset seed")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--repeats", type=int, default=50, help="proxy subsets per size")
    parser.add_argument("--tukey-k", type=float, default=1.0, help="LGA's Tukey fence factor k (to recompute fences)")
    parser.add_argument("--quantile-method", default="linear", help="numpy quantile method of the Tukey fences")
    parser.add_argument("--reference-editor", default="r-rome", help="the editor whose proxy edits time BF")
    parser.add_argument("--num-layers", type=json.loads, default={}, help='JSON {"model": num_layers}')
    parser.add_argument("--failed", choices=("drop", "zero"), default="drop", help="failed edits: left out of means, or scored 0")


def run(args) -> None:
    import pandas as pd  # heavy imports here, not at CLI start-up (every rule pays for those)

    from ..analysis.compare import compare_locators, wide_locators
    from ..analysis.locators import read_locator, read_locator_cases
    from ..analysis.runtime import runtime_table
    from ..analysis.sensitivity import proxy_size_sensitivity
    from ..analysis.tables import write_table
    from ..analysis.transfer import transfer_matrix
    from .aggregate import read_cases
    out = Path(args.out_dir)
    cases = read_cases(args.cases)
    golden = pd.read_parquet(args.golden)
    scores = pd.read_parquet(args.layer_scores)
    lga, cma = read_locator(args.lga, "lga"), read_locator(args.cma, "cma")
    lga_cases, cma_cases = read_locator_cases(args.lga_cases, "lga"), read_locator_cases(args.cma_cases, "cma")
    present = [name for name, frame in (("LGA", lga), ("CMA", cma)) if len(frame)]
    log.info("locators present: %s", ", ".join(present) or "none (brute force only)")
    meta = {"seed": args.seed, "n_boot": args.n_boot, "failed": args.failed, "locators": present}

    regret, paired = compare_locators(cases, golden, lga, cma, n_boot=args.n_boot, seed=args.seed,
                                      failed=args.failed)
    write_table(regret, out / "regret", formats=("csv", "parquet"), metadata=meta)
    wide = wide_locators(golden, regret, paired)
    write_table(wide, out / "locators", formats=("csv", "md", "tex", "parquet"), metadata=meta,
                title="Layer locators on the test split: BF (proxy), LGA, CMA against the test-best layer "
                      "and the sample-wise optimum",
                note=f"regret = sample-wise optimum - score at the locator's layer; 95% percentile bootstrap "
                     f"over test cases ({args.n_boot} resamples, seed {args.seed}). Locators in this run: "
                     f"{', '.join(present) or 'none'} (plus BF).")
    write_table(paired, out / "lga_vs_cma", formats=("csv", "md", "tex", "parquet"), metadata=meta,
                title="LGA against CMA: paired over test cases",
                note="lga_minus_cma = mean over test cases of (score at LGA's layer - score at CMA's layer), "
                     "95% bootstrap interval; two-sided Wilcoxon signed-rank test, zero differences dropped "
                     "(p = 1 when every difference is zero).")
    transfer = transfer_matrix(golden, scores, lga, cma)
    write_table(transfer, out / "transfer", formats=("csv", "parquet"), metadata=meta)
    write_table(transfer[transfer["locator"] == "bf"][
        ["model", "editor", "metric", "source", "target", "source_layer", "test_score", "target_own_score",
         "target_optimum", "regret"]], out / "transfer", formats=("md",),
        title="Cross-dataset transfer of brute-force golden layers (source proxy -> target test)")
    runtime = runtime_table(cases, lga, cma, reference_editor=args.reference_editor, num_layers=args.num_layers)
    write_table(runtime, out / "runtime", formats=("csv", "md", "tex", "parquet"), digits=2, metadata=meta,
                title="Runtime of golden-layer search (seconds) and speed-ups of LGA",
                note="BF = sum of per-case seconds of the reference editor's proxy edits over the layer grid; "
                     "bf_seconds_all_layers extrapolates to every layer of the model.")
    sens = proxy_size_sensitivity(cases, golden, lga_cases, cma_cases, repeats=args.repeats, seed=args.seed,
                                  tukey_k=args.tukey_k, quantile_method=args.quantile_method, failed=args.failed)
    write_table(sens, out / "proxy_size", formats=("csv", "parquet"), metadata={**meta, "repeats": args.repeats})
    log.info("analysis tables written to %s", out)
