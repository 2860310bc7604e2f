"""``goldenlayers aggregate``: per-layer scores and the brute-force golden layers (proxy -> test)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InputError

NAME = "aggregate"
HELP = "layer scores (mean, SEM) and golden layers per (model, editor, dataset, metric) from case-score tables"
log = logging.getLogger(__name__)

GOLDEN_NOTE = (
    "Golden layer = argmax over the layer grid of the proxy-split mean (ties: every layer within 1e-12 of the "
    "maximum, listed in proxy_ties; the lowest is evaluated). Test scores are means (SEM) over test cases. "
    "sample_wise_optimum = mean over test cases of each case's best score over the grid. "
    "overall = per-case mean of the metrics the case has."
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
    parser.add_argument("--failed", choices=("drop", "zero"), default="drop",
                        help="failed edits: left out of the means (drop) or scored 0 (zero)")


def run(args) -> None:
    from ..analysis.golden import golden_layers
    from ..analysis.scores import layer_scores
    from ..analysis.tables import write_table
    from ..io import write_parquet

    cases = read_cases(args.cases)
    out = Path(args.out_dir)
    scores = layer_scores(cases, failed=args.failed)
    write_parquet(out / "layer_scores.parquet", scores, metadata={"failed": args.failed})
    golden = golden_layers(cases, scores, failed=args.failed)
    write_table(golden, out / "golden_layers", formats=("csv", "md", "tex", "parquet"),
                title="Golden layers: brute force on the proxy split, evaluated on the test split",
                note=GOLDEN_NOTE + f" Failed edits: {args.failed}.", metadata={"failed": args.failed})
    log.info("golden layers for %d (model, editor, dataset, metric) rows -> %s", len(golden), out)
