"""cma: ROME causal tracing of every layer on a proxy split (one row per layer, one per case x layer)."""

from __future__ import annotations

from ..locate.options import CASE_MODES, RESTORE_KINDS
from ._locate import add_locator_arguments, run_locator

NAME = "cma"
HELP = "causal mediation analysis (ROME causal tracing): restored probability of the clean answer per layer"


def add_arguments(parser):
    add_locator_arguments(parser)
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
    from ..locate.cma import run_cma

    def locate(model, tokenizer, layout, cases, grid):
        return run_cma(model, tokenizer, layout, cases, grid=grid, noise_scale=args.noise_scale, samples=args.samples,
                       window=args.window, seed=args.seed, restore=args.restore, max_batch=args.max_batch,
                       cases_mode=args.trace_cases)

    run_locator(
        args, "cma", locate, lambda result, tokenizer: result.case_frame(tokenizer), seed=args.seed,
        seconds="wall time of the causal tracing after loading; load_seconds: reading the cases and loading the model",
        mean_effect="mean over traced cases of p_restored, the probability of the clean model's greedy first answer "
                    "token with the subject embeddings corrupted and the clean states restored in the window",
    )
