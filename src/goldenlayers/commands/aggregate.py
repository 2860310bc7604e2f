"""``goldenlayers aggregate``: per-layer scores and the brute-force golden layers (proxy -> test)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..analysis import FAILED_MODES
from ..errors import InputError

NAME = "aggregate"
HELP = "layer scores (mean, SEM) and golden layers per (model, editor, dataset, metric) from case-score tables"
log = logging.getLogger(__name__)

GOLDEN_NOTE = (
    "Golden layer = argmax over the layer grid of the proxy-split mean. Test scores are means (SEM) over test "
    "cases. sample_wise_optimum = mean over test cases of each case's best score over the grid. "
    "overall = per-case mean of the metrics the case has. n_failed counts failed edit rows (a cell whose cases "
    "all failed is a row with missing scores). "
)


def read_cases(paths):
    import pandas as pd

    frames = [pd.read_parquet(p) for p in paths]
    if not frames:
        raise InputError("no case-score tables given")
    frame = pd.concat(frames, ignore_index=True)
    frame["case_id"] = frame["case_id"].astype(str)
    frame["layer"] = frame["layer"].astype("int64")
    return frame


def add_arguments(parser) -> None:
    parser.add_argument("--cases", nargs="+", required=True, help="case-score tables from collect-edits")
    parser.add_argument("--out-dir", required=True, help="results/tables")
    parser.add_argument("--failed", choices=FAILED_MODES, default="drop",
                        help="failed edits: left out of the means (drop), scored 0 (zero), or scored as the "
                             "unedited model (unedited: needs --pre-edit)")
    parser.add_argument("--pre-edit", nargs="*", default=[],
                        help="the pre-edit files results/pre_edit/{model}/{dataset}.parquet (for --failed unedited)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tie draw that names one tied layer")
    parser.add_argument("--max-failed-fraction", type=float, default=None,
                        help="fail when more than this fraction of all edits failed (default: never)")


def failure_cells(cases):
    """(model, editor, dataset, layer) cells with failed edits: (cell, failed, total) sorted."""
    failed = cases["status"].astype(str) == "failed"
    counts = cases.assign(_f=failed).groupby(["model", "editor", "dataset", "layer"])["_f"].agg(["sum", "size"])
    counts = counts[counts["sum"] > 0]
    return [(key, int(row["sum"]), int(row["size"])) for key, row in counts.iterrows()]


def check_failures(cases, max_fraction, source: str = "aggregate") -> None:
    """Warn naming every (model, editor, dataset, layer) cell with failed edits; raise when the failed fraction
    of all edits exceeds ``max_fraction`` (None: never)."""
    cells = failure_cells(cases)
    n_failed, n_total = sum(c[1] for c in cells), len(cases)
    for (model, editor, dataset, layer), n, total in cells:
        log.warning("failed edits: %s / %s / %s / layer %s: %d of %d", model, editor, dataset, layer, n, total)
    if cells:
        log.warning("%d of %d edits failed in %d (model, editor, dataset, layer) cells (status: failed; reasons "
                    "in failure_reason of results/edits)", n_failed, n_total, len(cells))
    if max_fraction is not None and n_total and n_failed / n_total > max_fraction:
        raise InputError(f"{n_failed} of {n_total} edits failed ({n_failed / n_total:.1%}), more than "
                         f"analysis.max_failed_fraction = {max_fraction:g}; cells: "
                         + ", ".join(f"{e}/{d}/layer {l}" for (_, e, d, l), _, _ in cells[:20]), field="status")


def run(args) -> None:
    from ..analysis.golden import golden_layers
    from ..analysis.scores import layer_scores, read_unedited_scores, with_pre_edit
    from ..analysis.tables import write_table
    from ..io import write_parquet

    from ..analysis.ties import TIE_RULE

    cases = read_cases(args.cases)
    if args.failed == "unedited":
        cases = with_pre_edit(cases, read_unedited_scores(args.pre_edit))
    check_failures(cases, args.max_failed_fraction)
    out = Path(args.out_dir)
    scores = layer_scores(cases, failed=args.failed)
    write_parquet(out / "layer_scores.parquet", scores, metadata={"failed": args.failed})
    golden = golden_layers(cases, scores, failed=args.failed, seed=args.seed)
    write_table(golden, out / "golden_layers", formats=("csv", "md", "tex", "parquet"),
                title="Golden layers: brute force on the proxy split, evaluated on the test split",
                note=GOLDEN_NOTE + TIE_RULE + f" Failed edits: {args.failed}.",
                metadata={"failed": args.failed, "tie_rule": TIE_RULE})
    log.info("golden layers for %d (model, editor, dataset, metric) rows -> %s", len(golden), out)
