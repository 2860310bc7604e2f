"""cma: ROME causal tracing of every layer on a proxy split (one row per layer, one per case x layer)."""

from __future__ import annotations

import logging
import time

from ..data.context_length import read_cases_for_model
from ..io import provenance, write_parquet
from ..locate.cma import CASE_MODES, RESTORE_KINDS, run_cma
from ..models.load import load_model
from ._common import set_threads
from .lga import add_common_arguments, dataset_name, grid_arg, locator_cases

log = logging.getLogger(__name__)

NAME = "cma"
HELP = "causal mediation analysis (ROME causal tracing): restored probability of the clean answer per layer"


def add_arguments(parser):
    add_common_arguments(parser)
    parser.add_argument("--noise-scale", type=float, default=3.0, help="noise std in units of the subject-embedding std")
    parser.add_argument("--samples", type=int, default=10, help="corrupted copies per case")
    parser.add_argument("--window", type=int, default=10, help="layers restored, centred on the scored layer")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--restore", choices=RESTORE_KINDS, default="mlp",
                        help="restore the MLP output (ROME's MLP trace) or the whole block output")
    parser.add_argument("--max-batch", type=int, default=64, help="rows (windows x samples) per forward pass")
    parser.add_argument("--trace-cases", choices=CASE_MODES, default="prediction",
                        help="prediction: trace every case's own clean prediction; known: only cases whose ground "
                             "truth is that prediction")


def run(args):
    set_threads(args.threads)
    begin = time.perf_counter()
    model, tokenizer, layout, info = load_model(args.model_dir, device=args.device, dtype=args.dtype)
    fitting = read_cases_for_model(args.cases, tokenizer, model)
    cases = locator_cases(args, fitting.cases, tokenizer, model)
    load_seconds = time.perf_counter() - begin
    grid = grid_arg(args.grid, layout)
    result = run_cma(model, tokenizer, layout, cases, grid=grid, noise_scale=args.noise_scale, samples=args.samples,
                     window=args.window, seed=args.seed, restore=args.restore, max_batch=args.max_batch,
                     cases_mode=args.trace_cases)
    model_name, dataset = info["name"], dataset_name(args, cases)
    layers = result.layer_frame(model_name, dataset)
    layers["load_seconds"] = load_seconds
    per_case = result.case_frame(tokenizer)
    meta = provenance(
        locator="cma", model=model_name, model_revision=info.get("revision"), dataset=dataset,
        cases_file=str(args.cases), device=str(next(model.parameters()).device), dtype=args.dtype,
        threads=args.threads, config=result.settings, seed=args.seed,
        **fitting.metadata(),
        golden_layer=result.golden.layer, golden_ties=list(result.golden.ties),
        golden_layer_all=result.golden_all.layer, golden_ties_all=list(result.golden_all.ties),
        seconds="wall time of the causal tracing after loading; load_seconds: reading the cases and loading the model",
        mean_effect="mean over traced cases of p_restored, the probability of the clean model's greedy first answer "
                    "token with the subject embeddings corrupted and the clean states restored in the window",
        cases_used=len(cases),
    )
    write_parquet(args.out_cases, per_case, metadata=meta)
    write_parquet(args.out, layers, metadata=meta)
    log.info("CMA on %d cases (%d skipped) in %.1f s: golden layer %s over the grid, %s over all layers",
             result.n_cases, result.n_skipped, result.seconds, result.golden.layer, result.golden_all.layer)
