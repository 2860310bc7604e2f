"""values: the value optimisation (ROME's v*, MEMIT's z) of every case of a dataset at a chunk of sites, the
model loaded once; shared by every editor with the same value hyperparameters."""

from ._common import add_device_arguments, json_arg, set_threads

NAME = "values"
HELP = "optimise the target values of a dataset's cases at a chunk of sites (mlp0-9, block8_18) and store them"


def add_arguments(parser):
    parser.add_argument("--model-dir", required=True, help="a prepared model folder (resources/models/{model})")
    parser.add_argument("--cases", nargs="+", required=True, help="the dataset's split files (proxy, test)")
    parser.add_argument("--sites", required=True, help="a kind and a chunk of layers: mlp0-9 (ROME, R-ROME: the MLPs "
                        "of layers 0 to 9) or block8_18 (MEMIT, EMMET: block outputs); one site is mlp8")
    parser.add_argument("--value-hparams", type=json_arg, required=True,
                        help="JSON: the value hyperparameters (editors.values.VALUE_KEYS)")
    parser.add_argument("--templates", required=True, help="context prefixes JSON of this model")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the job")
    add_device_arguments(parser)
    parser.add_argument("--batch-tokens", type=int, default=1024,
                        help="cases optimised side by side up to this many tokens per batch (1: one at a time)")
    parser.add_argument("--out", required=True, help="the values file (.safetensors)")


def run(args):
    from ..editors.values import run_values_job

    set_threads(args.threads)
    run_values_job(model_dir=args.model_dir, cases_paths=args.cases, sites=args.sites, hparams=args.value_hparams,
                   templates_path=args.templates, out=args.out, seed=args.seed, device=args.device, dtype=args.dtype,
                   batch_tokens=args.batch_tokens)
