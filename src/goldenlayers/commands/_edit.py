"""Arguments the ``edit`` and ``edit-choice`` subcommands share: the model, the editor and its settings, and
how cases are evaluated."""

from __future__ import annotations

from ._common import add_device_arguments, json_arg


def stats_arg(text: str) -> tuple[int, str]:
    """``--stats LAYER=PATH``."""
    layer, _, path = text.partition("=")
    return int(layer), path


def add_edit_arguments(parser) -> None:
    """Model, editor, hyperparameters, context prefixes, statistics, evaluation limits, seed and device."""
    parser.add_argument("--model-dir", required=True, help="a prepared model folder (resources/models/{model})")
    parser.add_argument("--model-name", required=True, help="the model's config name (written into every row)")
    parser.add_argument("--dataset", required=True, help="dataset name (written into every row)")
    parser.add_argument("--editor", required=True, help="rome, r-rome, memit or emmet")
    parser.add_argument("--hparams", required=True, help="the editor's YAML file for this model family")
    parser.add_argument("--overrides", type=json_arg, default={}, help="JSON: hyperparameter overrides from the config")
    parser.add_argument("--templates", required=True, help="context prefixes JSON of this model")
    parser.add_argument("--stats", type=stats_arg, action="append", default=[], metavar="LAYER=PATH",
                        help="covariance statistics of a layer (repeat per layer; editors that need them)")
    parser.add_argument("--eval-limits", type=json_arg, default={},
                        help='JSON {"max_rephrase", "max_locality", "max_portability"}: prompts scored per case')
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the job")
    add_device_arguments(parser)
