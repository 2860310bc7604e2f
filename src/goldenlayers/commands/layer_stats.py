"""layer-stats: second moment E[k k^T] of the rewritten projection's inputs of one (or more) layers of a model."""

from ._common import set_threads

NAME = "layer-stats"
HELP = "compute the covariance statistics (second moment of the MLP output projection's inputs) of model layers"


def _layer_out(text: str) -> tuple[int, str]:
    layer, sep, path = text.partition("=")
    if not sep or not layer.strip().isdigit() or not path:
        import argparse

        raise argparse.ArgumentTypeError(f"must be LAYER=PATH, got {text!r}")
    return int(layer), path


def add_arguments(parser):
    parser.add_argument("--model-dir", required=True, help="a prepared model folder (resources/models/{model})")
    parser.add_argument("--corpus", required=True, help="corpus name (recorded in the file)")
    parser.add_argument("--corpus-file", required=True, help="resources/corpus/{corpus}.jsonl")
    parser.add_argument("--n-samples", type=int, required=True, help="use the first N texts of the corpus file")
    parser.add_argument("--max-length", type=int, default=256, help="tokens per text (longer texts are truncated)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="storage dtype")
    parser.add_argument("--model-dtype", default="auto", help="model weights dtype; auto: float32 on the CPU, bfloat16 on a GPU for models of 1B parameters or more")
    parser.add_argument("--max-batch-tokens", type=int, default=4096, help="padded tokens per forward batch")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for this job")
    parser.add_argument("--out", type=_layer_out, action="append", required=True, metavar="LAYER=PATH",
                        help="one per layer; several layers share one forward pass")


def run(args):
    from ..stats.covariance import layer_stats

    set_threads(args.threads)
    outs = dict(args.out)
    layer_stats(args.model_dir, args.corpus_file, sorted(outs), outs, corpus=args.corpus, n_samples=args.n_samples,
                max_length=args.max_length, dtype=args.dtype, device=args.device, model_dtype=args.model_dtype,
                max_batch_tokens=args.max_batch_tokens)
