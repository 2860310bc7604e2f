"""``goldenlayers plot <figure>``: draw one figure from the analysis tables, as PDF and PNG."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from ..errors import InputError

NAME = "plot"
HELP = "draw one figure (a module of goldenlayers.plots) from results/tables into <out>.pdf and <out>.png"
log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    from ..plots import FIGURES

    parser.add_argument("figure", choices=FIGURES, help="figure module")
    parser.add_argument("--tables", nargs="+", required=True,
                        help="table files (Parquet); each is known by its file stem, e.g. golden_layers")
    parser.add_argument("--model", help="model (figures per model)")
    parser.add_argument("--editor", help="editor (figures per editor)")
    parser.add_argument("--metric", default=None, help="metric, for figures drawn for one metric")
    parser.add_argument("--out", required=True, help="output path without extension")


def run(args) -> None:
    import pandas as pd

    module = importlib.import_module(f"goldenlayers.plots.{args.figure}")
    tables = {}
    for path in args.tables:
        tables[Path(path).name.split(".")[0]] = pd.read_parquet(path)
    missing = [name for name in module.INPUTS if name not in tables]
    if missing:
        raise InputError(f"figure {args.figure} needs table(s) {missing}; given {sorted(tables)}", field="--tables")
    scope = {}
    if "model" in module.SCOPE:
        scope["model"] = args.model
    if "editor" in module.SCOPE:
        scope["editor"] = args.editor
    if any(v is None for v in scope.values()):
        raise InputError(f"figure {args.figure} is drawn per {module.SCOPE}: give --model/--editor")
    if args.metric and "metric" in module.draw.__code__.co_varnames:
        scope["metric"] = args.metric
    from ..plots._style import save_figure

    paths = save_figure(module.draw(tables, **scope), args.out)
    log.info("wrote %s", ", ".join(map(str, paths)))
