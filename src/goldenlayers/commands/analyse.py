"""``goldenlayers analyse``: locators against brute force and the optimum, LGA vs CMA, each case's own LGA layer,
transfer, runtime, proxy-size sensitivity, claims. Every locator input is optional: a locator that was not run has
no rows."""

from __future__ import annotations

import logging
from pathlib import Path

from ..analysis import FAILED_MODES
from ._common import json_arg

NAME = "analyse"
HELP = ("regret with bootstrap CIs, LGA vs CMA (Wilcoxon), per-case LGA layers, cross-dataset transfer, runtimes, "
        "proxy-size sensitivity, claims")
log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("--cases", nargs="+", required=True, help="case-score tables from collect-edits")
    parser.add_argument("--golden", required=True, help="golden_layers.parquet from aggregate")
    parser.add_argument("--layer-scores", required=True, help="layer_scores.parquet from aggregate")
    parser.add_argument("--lga", nargs="*", default=[], help="lga.parquet files (none: LGA not run)")
    parser.add_argument("--lga-cases", nargs="*", default=[], help="lga_cases.parquet files")
    parser.add_argument("--lga-test-cases", nargs="*", default=[],
                        help="lga_test_cases.parquet files: LGA on the test split, each case's own layer "
                             "(rule lga_test)")
    parser.add_argument("--cma", nargs="*", default=[], help="cma.parquet files (none: CMA not run)")
    parser.add_argument("--cma-cases", nargs="*", default=[], help="cma_cases.parquet files")
    parser.add_argument("--out-dir", required=True, help="folder of the tables (results/tables)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap and proxy-subset seed")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--repeats", type=int, default=50, help="proxy subsets per size")
    parser.add_argument("--tukey-k", type=float, default=1.0, help="LGA's Tukey fence factor k (to recompute fences)")
    parser.add_argument("--quantile-method", default="linear", help="numpy quantile method of the Tukey fences")
    parser.add_argument("--reference-editor", default="r-rome", help="the editor whose proxy edits time BF")
    parser.add_argument("--num-layers", type=json_arg, default={}, help='JSON {"model": num_layers}')
    parser.add_argument("--failed", choices=FAILED_MODES, default="drop",
                        help="failed edits: left out of the means (drop), scored 0 (zero), or scored as the "
                             "unedited model (unedited: needs --pre-edit)")
    parser.add_argument("--pre-edit", nargs="*", default=[],
                        help="the pre-edit files results/pre_edit/{model}/{dataset}.parquet (for --failed unedited)")
    parser.add_argument("--choice-edits", nargs="*", default=[],
                        help="test edits at the locators' chosen layers (rule edit_choice)")
    parser.add_argument("--min-cases", type=int, default=5,
                        help="a locator cell resting on fewer processed cases is flagged")
    parser.add_argument("--claims-metric", default="rewrite_acc", help="the metric of the claims table")
    parser.add_argument("--claims-margin", type=float, default=0.05,
                        help="how far below the optimum still counts as close (claims C1-C3)")


def with_choice_edits(cases, paths):
    """The grid edits plus the test edits at the locators' own layers (a layer on the grid appears once)."""
    import pandas as pd

    from ..analysis.scores import read_edit_results

    paths = [p for p in paths if pd.read_parquet(p, columns=["case_id"]).shape[0]]
    if not paths:
        return cases
    extra = read_edit_results(paths)
    extra = extra[[c for c in extra.columns if c in cases.columns or c == "locator"]].drop(columns="locator",
                                                                                         errors="ignore")
    merged = pd.concat([cases, extra], ignore_index=True)
    return merged.drop_duplicates(subset=["model", "editor", "dataset", "split", "layer", "case_id"], keep="first")


# Longer than 60 lines on purpose: one flat read-compute-write step per table, in the order the tables depend on
# each other; most of its lines are the tables' titles and notes, which belong beside the call that writes them.
def run(args) -> None:
    import pandas as pd  # heavy imports here, not at CLI start-up (every rule pays for those)

    from ..analysis.claims import claims_table
    from ..analysis.compare import compare_locators, wide_locators
    from ..analysis.locators import read_locator, read_locator_cases
    from ..analysis.per_case_layer import markdown_view, per_case_layer_table
    from ..analysis.runtime import runtime_table
    from ..analysis.scores import layer_scores, read_unedited_scores, with_pre_edit
    from ..analysis.sensitivity import proxy_size_sensitivity
    from ..analysis.tables import write_table
    from ..analysis.ties import TIE_RULE
    from ..analysis.transfer import transfer_matrix
    from .aggregate import read_cases
    out = Path(args.out_dir)
    cases = read_cases(args.cases)
    evaluated = with_choice_edits(cases, args.choice_edits)
    if args.failed == "unedited":
        unedited = read_unedited_scores(args.pre_edit)  # read once, beside both frames
        cases, evaluated = with_pre_edit(cases, unedited), with_pre_edit(evaluated, unedited)
    golden = pd.read_parquet(args.golden)
    lga, cma = read_locator(args.lga, "lga"), read_locator(args.cma, "cma")
    lga_cases, cma_cases = read_locator_cases(args.lga_cases, "lga"), read_locator_cases(args.cma_cases, "cma")
    present = [name for name, frame in (("LGA", lga), ("CMA", cma)) if len(frame)]
    log.info("locators present: %s", ", ".join(present) or "none (brute force only)")
    meta = {"seed": args.seed, "n_boot": args.n_boot, "failed": args.failed, "locators": present,
            "tie_rule": TIE_RULE, "min_cases": args.min_cases}

    regret, paired, per_case = compare_locators(evaluated, golden, lga, cma, n_boot=args.n_boot, seed=args.seed,
                                                failed=args.failed)
    write_table(regret, out / "regret", formats=("csv", "parquet"), metadata=meta)
    wide = wide_locators(golden, regret, paired, lga, cma, min_cases=args.min_cases)
    write_table(wide, out / "locators", formats=("csv", "md", "tex", "parquet"), metadata=meta,
                title="Layer locators on the test split, each at its own choice: BF (grid, proxy), LGA and CMA "
                      "(every layer), against the test-best evaluated layer and the sample-wise optimum",
                note=f"regret = sample-wise optimum - score at the locator's layer, both over the evaluated layers "
                     f"(evaluated_layers: the sweep grid plus the layers LGA and CMA chose, whose test split is "
                     f"edited by the edit_choice jobs); 95% percentile bootstrap over test cases ({args.n_boot} "
                     f"resamples, seed {args.seed}); *_n: test cases scored. {TIE_RULE} Flags: few-cases "
                     f"(< {args.min_cases} cases processed, analysis.min_cases), no-cases, all-negative (LGA: every "
                     f"kept S_L < 0), no-corruption-effect (CMA: mean p_clean - p_corrupt <= 0), not run. "
                     f"n_failed: failed edit rows of the cell. Locators in this run: {', '.join(present) or 'none'} "
                     f"(plus BF).")
    write_table(paired, out / "lga_vs_cma", formats=("csv", "md", "tex", "parquet"), metadata=meta,
                title="LGA against CMA: paired over test cases",
                note="lga_minus_cma = mean over test cases of (score at LGA's layer - score at CMA's layer), "
                     "95% bootstrap interval; two-sided Wilcoxon signed-rank test, zero differences dropped "
                     "(p = 1 when every difference is zero); p_holm: Holm's correction over the rows of one editor "
                     "(the cells of its Fig. 3). " + TIE_RULE)
    transfer = transfer_matrix(golden, layer_scores(evaluated, failed=args.failed), lga, cma, seed=args.seed)
    write_table(transfer, out / "transfer", formats=("csv", "parquet"), metadata=meta)
    write_table(transfer[transfer["locator"] == "bf"][
        ["model", "editor", "metric", "source", "target", "source_ties", "test_score", "n", "n_failed",
         "target_own_score", "target_optimum", "regret"]], out / "transfer", formats=("md",),
        title="Cross-dataset transfer of brute-force golden layers (source proxy -> target test)", note=TIE_RULE)
    runtime = runtime_table(cases, lga, cma, reference_editor=args.reference_editor, num_layers=args.num_layers,
                            lga_cases=lga_cases, cma_cases=cma_cases)
    write_table(runtime, out / "runtime", formats=("csv", "md", "tex", "parquet"), digits=2, metadata=meta,
                title="Runtime of golden-layer search: seconds per case processed, on the same cases",
                note="BF = a proxy case's seconds summed over the grid layers with the reference editor "
                     "(each edit's seconds include its share of the value optimisation; the pre-edit predictions, "
                     "made once per case for every layer and editor, about 1-2 s per case on SmolLM2, are not "
                     "counted) (*_all_layers: x num_layers / n_grid_layers); LGA, CMA = a processed case's own seconds "
                     "(lga_cases / cma_cases). Speed-ups are ratios of mean seconds per case over the cases both "
                     "sides processed (*_n_common). Missing times say why (*_missing).")
    lga_test_cases = read_locator_cases(args.lga_test_cases, "lga")
    own_layer, per_case = per_case_layer_table(cases, evaluated, regret, per_case, lga_test_cases, k=args.tukey_k,
                                               method=args.quantile_method, n_boot=args.n_boot, seed=args.seed,
                                               failed=args.failed)
    own_note = (f"Beyond the paper: each test case edited at its own LGA layer (LGA on the test split, the golden "
                f"layer's Tukey rule on that case's contributions alone: fences over all layers, k = "
                f"{args.tukey_k:g}, {args.quantile_method} quantiles, argmax over the kept layers; lga_per_case_grid: "
                f"argmax within the sweep grid), beside the fixed golden layers (bf: brute force on proxy; lga: LGA's "
                f"own choice) and the sample-wise optimum (each case's best evaluated layer). A case whose own layer "
                f"was not edited has no score (covered / test: test cases whose own layer has an edit, of the test "
                f"cases); n: cases scored. minus BF, minus LGA: the row's score minus the fixed layer's, regret: the "
                f"optimum minus the row's score, each paired over the cases both have; "
                f"95% percentile bootstrap over test cases ({args.n_boot} resamples, seed {args.seed}). "
                f"layers: the fixed layer(s), or each chosen layer with its number of cases. {TIE_RULE}")
    write_table(own_layer, out / "per_case_layer", formats=("csv", "parquet"), metadata=meta)
    write_table(markdown_view(own_layer), out / "per_case_layer", formats=("md",), note=own_note,
                title="Each case's own LGA layer against the fixed golden layer and the sample-wise optimum")
    sens = proxy_size_sensitivity(cases, golden, lga_cases, cma_cases, repeats=args.repeats, seed=args.seed,
                                  tukey_k=args.tukey_k, quantile_method=args.quantile_method, failed=args.failed)
    write_table(sens, out / "proxy_size", formats=("csv", "parquet"), metadata={**meta, "repeats": args.repeats})
    claims = claims_table(per_case, transfer, runtime, args.reference_editor, metric=args.claims_metric,
                          margin=args.claims_margin, n_boot=args.n_boot, seed=args.seed,
                          min_cases=args.min_cases)
    write_table(claims, out / "claims", formats=("csv", "md", "parquet"), metadata=meta,
                title="Claims of the paper against this run",
                note=f"Verdicts follow the rule in each row, from the 95% interval alone (seeded bootstrap, "
                     f"{args.n_boot} resamples) and n: fewer than min_n cases ({args.min_cases}, analysis.min_cases) "
                     f"or datasets/pairs is inconclusive; margin for 'close' (C1-C3): {args.claims_margin:g} "
                     f"(analysis.claims_margin); metric: {args.claims_metric}; reference editor: "
                     f"{args.reference_editor}. {TIE_RULE}")
    for row in claims.itertuples(index=False):
        log.info("claim %s: %s (figure %s, CI [%s, %s], n %d)", row.claim, row.verdict, row.figure, row.ci_low,
                 row.ci_high, row.n)
    log.info("analysis tables written to %s", out)
