"""context-prefixes: sample ROME's context prefixes once per model, seeded, and store them."""

from ._common import add_device_arguments, json_arg, set_threads

NAME = "context-prefixes"
HELP = "sample the seeded context prefixes (ROME's random-prefix templates) of one model"


def add_arguments(parser):
    parser.add_argument("--model-dir", required=True, help="a prepared model folder (resources/models/{model})")
    parser.add_argument("--length-params", type=json_arg, default=[[5, 10], [10, 10]],
                        help="JSON list of [tokens, count] pairs (the union over the configured editors)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed of the prefixes")
    add_device_arguments(parser)
    parser.add_argument("--out", required=True, help="the prefixes JSON (results/prefixes/{model}.json)")


def run(args):
    from ..editors.context import generate_prefixes
    from ..io import write_json
    from ..models.load import load_model

    set_threads(args.threads)
    model, tokenizer, _, info = load_model(args.model_dir, device=args.device, dtype=args.dtype)
    by_length = generate_prefixes(model, tokenizer, args.length_params, args.seed)
    write_json(args.out, {"by_length": by_length, "seed": args.seed, "length_params": args.length_params,
                          "model_revision": info["revision"]})
