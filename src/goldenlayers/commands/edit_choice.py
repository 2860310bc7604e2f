"""edit-choice: edit the test split at the layer a locator (LGA or CMA) chose over every layer, off the grid too."""

from __future__ import annotations

import logging
import re

from ._common import set_threads
from ._edit import add_edit_arguments

NAME = "edit-choice"
HELP = "edit and evaluate the test split at the layer(s) LGA or CMA chose (reusing the grid edit where it has one)"
log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument("--locator-file", required=True, help="lga.parquet or cma.parquet of (model, dataset)")
    parser.add_argument("--locator", required=True, choices=("lga", "cma"),
                        help="the locator whose chosen layer is edited (its golden layer from lga.parquet or cma.parquet)")
    parser.add_argument("--grid-results", nargs="*", default=[],
                        help="the test-split edit results on the grid (.../test/layers<chunk>.parquet), reused as they are")
    parser.add_argument("--pre-edit", help="the unedited predictions of the dataset (rule pre_edit)")
    add_edit_arguments(parser)
    parser.add_argument("--cases", required=True, help="the test split (test.parquet)")
    parser.add_argument("--out", required=True, help="one row per (test case, chosen layer)")


def grid_files(paths) -> dict[int, str]:
    """layer -> the grid file holding its rows (a file covers a chunk of layers, named by it)."""
    from ..chunks import CHUNK_PATTERN, parse_chunk

    out = {}
    for path in paths:
        match = re.search(rf"layers({CHUNK_PATTERN})\.parquet$", str(path))
        if match:
            out.update({layer: str(path) for layer in parse_chunk(match[1], field="grid-results")})
    return out


def run(args):
    import tempfile
    from pathlib import Path

    import pandas as pd

    from ..analysis.locators import choice, read_locator
    from ..analysis.scores import REQUIRED
    from ..analysis.ties import format_ties
    from ..editors.hparams import load_hparams
    from ..evaluate.edit_job import EvalLimits, SplitOutput, run_edit_jobs
    from ..io import write_parquet

    set_threads(args.threads)
    frame = read_locator([args.locator_file], args.locator)
    keys = frame[["model", "dataset"]].drop_duplicates()
    pick = choice(frame, args.locator, str(keys["model"].iloc[0]), str(keys["dataset"].iloc[0]), None, args.seed) \
        if len(keys) == 1 else None
    ties = list(pick.ties) if pick is not None else []
    on_grid = grid_files(args.grid_results)
    parts = []
    stats = dict(args.stats)
    for layer in ties:
        if layer in on_grid:
            log.info("%s chose layer %d: on the grid, reusing %s", args.locator, layer, on_grid[layer])
            grid = pd.read_parquet(on_grid[layer])
            parts.append(grid[grid["layer"] == layer])
            continue
        log.info("%s chose layer %d (off the grid): editing the test split there", args.locator, layer)
        with tempfile.TemporaryDirectory(dir=Path(args.out).parent) as tmp:
            out = str(Path(tmp) / f"layer{layer}.parquet")
            run_edit_jobs(
                model_dir=args.model_dir, model_name=args.model_name, editor_name=args.editor,
                splits=[SplitOutput("test", args.cases, out)],
                hparams=load_hparams(args.hparams, args.editor, args.overrides), layers=[layer],
                templates_path=args.templates, dataset=args.dataset, seed=args.seed, device=args.device,
                dtype=args.dtype, limits=EvalLimits(**args.eval_limits), stats_paths=stats, values_path=None,
                pre_edit_path=args.pre_edit,
            )
            parts.append(pd.read_parquet(out))
    result = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(REQUIRED))
    result["locator"] = args.locator
    reason = "" if ties else f"{args.locator} chose no layer (no case processed)"
    write_parquet(args.out, result, metadata={"locator": args.locator, "chosen_ties": format_ties(ties),
                                              "grid_layers": sorted(on_grid), "reason": reason})
    log.info("%s: %d rows at layer(s) %s%s", args.out, len(result), format_ties(ties) or "none",
             f" ({reason})" if reason else "")
