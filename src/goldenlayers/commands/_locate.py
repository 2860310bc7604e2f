"""What the ``lga`` and ``cma`` subcommands share: their common arguments and the run around a locator
(load the model, read the proxy cases and top them up from the pool, locate, write the per-layer and
per-case tables with provenance)."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ..errors import InputError
from ._common import add_device_arguments, set_threads

log = logging.getLogger(__name__)


def add_locator_arguments(parser) -> None:
    """Arguments the lga and cma subcommands share."""
    parser.add_argument("--model-dir", required=True, help="a prepared model folder (resources/models/{model})")
    parser.add_argument("--cases", required=True,
                        help="EditCase Parquet file (results/data/{dataset}/proxy.parquet; test.parquet for "
                             "rule lga_test)")
    parser.add_argument("--grid", default="all",
                        help="comma-separated sweep-grid layers where is_golden is taken (default: all layers); "
                             "every layer is scored either way")
    parser.add_argument("--dataset", default=None, help="dataset name for the rows (default: from the cases)")
    add_device_arguments(parser)
    parser.add_argument("--out", required=True, help="one row per layer")
    parser.add_argument("--out-cases", required=True, help="one row per (case, layer)")
    parser.add_argument("--pool", default=None,
                        help="all cases of the dataset (cases.parquet): tops the proxy set up to --proxy-size")
    parser.add_argument("--exclude", default=None, help="cases never used (test.parquet)")
    parser.add_argument("--proxy-size", type=int, default=None,
                        help="the locator's proxy set size (default: the --cases file alone)")
    parser.add_argument("--pool-seed", type=int, default=0, help="seed of the draw from --pool")


def locator_cases(args, proxy: list, tokenizer, model) -> list:
    """The cases a locator scores: the proxy cases (those of --cases that fit the model's context), topped up
    from --pool (minus --exclude; only cases that fit) to --proxy-size."""
    from ..data.context_length import read_cases_for_model
    from ..data.schema import read_cases
    from ..locate.proxy_cases import locator_proxy

    if args.proxy_size is None or args.pool is None:
        return proxy
    excluded = [c.case_id for c in read_cases(args.exclude)] if args.exclude else []
    pool = read_cases_for_model(args.pool, tokenizer, model).cases
    cases = locator_proxy(proxy, pool, excluded, args.proxy_size, args.pool_seed)
    log.info("locator proxy set: %d cases (%d from the proxy split, %d more from %s)", len(cases), len(proxy),
             len(cases) - len(proxy), args.pool)
    return cases


def grid_arg(text: str, layout) -> list[int] | None:
    """``--grid``: "all" (None) or comma-separated layer indices, checked against the model."""
    if text.strip() in ("", "all"):
        return None
    try:
        layers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"not a comma-separated list of layers: {text!r}", field="--grid") from None
    return [layout.check_layer(layer, field="--grid") for layer in layers]


def dataset_name(args, cases) -> str:
    if args.dataset:
        return args.dataset
    names = sorted({case.dataset for case in cases})
    if len(names) != 1:
        raise InputError(f"the cases come from {len(names)} datasets {names}; pass --dataset", file=args.cases)
    return names[0]


def run_locator(args, locator: str, locate: Callable, case_frame: Callable, **described: Any) -> None:
    """Run ``locate(model, tokenizer, layout, cases, grid)`` on the proxy cases and write its tables.

    ``case_frame(result, tokenizer)`` gives the per-case table; ``described`` goes into the Parquet metadata
    beside the provenance (what the ``seconds`` and score columns mean, the seed).
    """
    from ..data.context_length import read_cases_for_model
    from ..io import provenance, write_parquet
    from ..models.load import load_model

    set_threads(args.threads)
    begin = time.perf_counter()
    model, tokenizer, layout, info = load_model(args.model_dir, device=args.device, dtype=args.dtype)
    fitting = read_cases_for_model(args.cases, tokenizer, model)  # cases longer than the model's context: left out
    cases = locator_cases(args, fitting.cases, tokenizer, model)
    load_seconds = time.perf_counter() - begin
    result = locate(model, tokenizer, layout, cases, grid_arg(args.grid, layout))
    model_name, dataset = info["name"], dataset_name(args, cases)
    layers = result.layer_frame(model_name, dataset)
    layers["load_seconds"] = load_seconds
    meta = provenance(
        locator=locator, model=model_name, model_revision=info.get("revision"), dataset=dataset,
        cases_file=str(args.cases), device=str(next(model.parameters()).device), dtype=args.dtype,
        threads=args.threads, config=result.settings, **fitting.metadata(),
        golden_layer=result.golden.layer, golden_ties=list(result.golden.ties),
        golden_layer_all=result.golden_all.layer, golden_ties_all=list(result.golden_all.ties),
        cases_used=len(cases), **described,
    )
    write_parquet(args.out_cases, case_frame(result, tokenizer), metadata=meta)
    write_parquet(args.out, layers, metadata=meta)
    log.info("%s on %d cases (%d skipped) in %.1f s: golden layer %s over the grid, %s over all layers",
             locator.upper(), result.n_cases, result.n_skipped, result.seconds, result.golden.layer,
             result.golden_all.layer)
