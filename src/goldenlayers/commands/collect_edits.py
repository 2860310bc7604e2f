"""``goldenlayers collect-edits``: one (model, editor, dataset)'s edit results, all splits and layers, in one file."""

from __future__ import annotations

import logging

from ..errors import InputError

NAME = "collect-edits"
HELP = "concatenate the per-layer edit results of one (model, editor, dataset) into one case-score table"
log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("--inputs", nargs="+", required=True, help="edit-result Parquet files (every split and layer)")
    parser.add_argument("--output", required=True, help="case-score Parquet (results/tables/cases/...)")


def run(args) -> None:
    from ..analysis.scores import read_edit_results
    from ..io import write_parquet

    frame = read_edit_results(args.inputs)
    keys = frame[["model", "editor", "dataset"]].drop_duplicates()
    if len(keys) != 1:
        raise InputError(f"expected one (model, editor, dataset), found {len(keys)}: {keys.to_dict('records')}")
    write_parquet(args.output, frame, metadata={"inputs": len(args.inputs),
                                                "overall": "mean over the metrics present in the row"})
    log.info("collected %d rows from %d files into %s", len(frame), len(args.inputs), args.output)
