"""lga: score every layer with Layer Gradient Analysis on a proxy split (one row per layer, one per case x layer)."""

from __future__ import annotations

import logging
import time

from ..data.context_length import read_cases_for_model
from ..data.schema import read_cases
from ..errors import InputError
from ..io import provenance, write_parquet
from ..locate.lga import PARAM_MODES, run_lga
from ..locate.old_answer import OLD_ANSWER_MODES
from ..models.load import load_model
from ._common import set_threads

log = logging.getLogger(__name__)

NAME = "lga"
HELP = "Layer Gradient Analysis: per-layer signed inner product of old- and new-answer gradients, Tukey-filtered"


def add_common_arguments(parser):
    """Arguments the lga and cma subcommands share."""
    parser.add_argument("--model-dir", required=True, help="a prepared model folder (resources/models/{model})")
    parser.add_argument("--cases", required=True, help="EditCase Parquet file (results/data/{dataset}/proxy.parquet)")
    parser.add_argument("--grid", default="all",
                        help="comma-separated sweep-grid layers where is_golden is taken (default: all layers); "
                             "every layer is scored either way")
    parser.add_argument("--dataset", default=None, help="dataset name for the rows (default: from the cases)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="model weights dtype; auto: float32 on the CPU, bfloat16 on a GPU for models of 1B parameters or more")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for this job")
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


def add_arguments(parser):
    add_common_arguments(parser)
    parser.add_argument("--params", choices=PARAM_MODES, default="rewritten_weight",
                        help="theta_L: the weight the editor rewrites, or every parameter of the layer's MLP")
    parser.add_argument("--tukey-k", type=float, default=1.0, help="Tukey fence factor k (1.0: the paper's v3)")
    parser.add_argument("--quantile-method", default="linear", help="numpy quantile method of the Tukey fences")
    parser.add_argument("--old-answer", choices=OLD_ANSWER_MODES, default="ground_truth_else_greedy",
                        help="the old answer K_i: the ground truth where the dataset has one, else the model's greedy answer")


def run(args):
    set_threads(args.threads)
    begin = time.perf_counter()
    model, tokenizer, layout, info = load_model(args.model_dir, device=args.device, dtype=args.dtype)
    fitting = read_cases_for_model(args.cases, tokenizer, model)
    cases = locator_cases(args, fitting.cases, tokenizer, model)
    load_seconds = time.perf_counter() - begin
    grid = grid_arg(args.grid, layout)
    result = run_lga(model, tokenizer, layout, cases, grid=grid, params=args.params, tukey_k=args.tukey_k,
                     quantile_method=args.quantile_method, old_answer_mode=args.old_answer)
    model_name, dataset = info["name"], dataset_name(args, cases)
    layers = result.layer_frame(model_name, dataset)
    layers["load_seconds"] = load_seconds
    per_case = result.case_frame()
    meta = provenance(
        locator="lga", model=model_name, model_revision=info.get("revision"), dataset=dataset,
        cases_file=str(args.cases), device=str(next(model.parameters()).device), dtype=args.dtype,
        threads=args.threads, config=result.settings,
        **fitting.metadata(),
        golden_layer=result.golden.layer, golden_ties=list(result.golden.ties),
        golden_layer_all=result.golden_all.layer, golden_ties_all=list(result.golden_all.ties),
        seconds="wall time of the LGA computation (old answers, gradients, scores) after loading; load_seconds: "
                "reading the cases and loading the model",
        cases_used=len(cases),
        score="sum over proxy cases of <grad CE(query + old answer), grad CE(query + new answer)> w.r.t. theta_L; "
              "CE = mean over answer tokens, teacher forced",
    )
    write_parquet(args.out_cases, per_case, metadata=meta)
    write_parquet(args.out, layers, metadata=meta)
    log.info("LGA on %d cases (%d skipped) in %.1f s: golden layer %s over the grid, %s over all layers",
             result.n_cases, result.n_skipped, result.seconds, result.golden.layer, result.golden_all.layer)
