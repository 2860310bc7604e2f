"""lga: score every layer with Layer Gradient Analysis on a proxy split (one row per layer, one per case x layer)."""

from __future__ import annotations

from ..locate.options import OLD_ANSWER_MODES, PARAM_MODES
from ._locate import add_locator_arguments, run_locator

NAME = "lga"
HELP = "Layer Gradient Analysis: per-layer signed inner product of old- and new-answer gradients, Tukey-filtered"


def add_arguments(parser):
    add_locator_arguments(parser)
    parser.add_argument("--params", choices=PARAM_MODES, default="rewritten_weight",
                        help="theta_L: the weight the editor rewrites, or every parameter of the layer's MLP")
    parser.add_argument("--tukey-k", type=float, default=1.0, help="Tukey fence factor k (1.0: the paper's v3)")
    parser.add_argument("--quantile-method", default="linear", help="numpy quantile method of the Tukey fences")
    parser.add_argument("--old-answer", choices=OLD_ANSWER_MODES, default="ground_truth_else_greedy",
                        help="the old answer K_i: the ground truth where the dataset has one, else the model's greedy answer")


def run(args):
    from ..locate.lga import run_lga

    def locate(model, tokenizer, layout, cases, grid):
        return run_lga(model, tokenizer, layout, cases, grid=grid, params=args.params, tukey_k=args.tukey_k,
                       quantile_method=args.quantile_method, old_answer_mode=args.old_answer)

    run_locator(
        args, "lga", locate, lambda result, _tokenizer: result.case_frame(),
        seconds="wall time of the LGA computation (old answers, gradients, scores) after loading; load_seconds: "
                "reading the cases and loading the model",
        score="sum over proxy cases of <grad CE(query + old answer), grad CE(query + new answer)> w.r.t. theta_L; "
              "CE = mean over answer tokens, teacher forced",
    )
