"""pre-edit: the unedited model's predictions of every case of a dataset, once, for every edit job to read."""

from ._common import add_device_arguments, json_arg, set_threads

NAME = "pre-edit"
HELP = "evaluate a dataset's cases on the unedited model (locality's reference argmaxes, pre-edit accuracies)"


def add_arguments(parser):
    parser.add_argument("--model-dir", required=True, help="a prepared model folder (resources/models/{model})")
    parser.add_argument("--cases", nargs="+", required=True, help="the split files (proxy.parquet, test.parquet)")
    parser.add_argument("--split", nargs="+", required=True, help="the split names, in the order of --cases")
    parser.add_argument("--eval-limits", type=json_arg, default={},
                        help='JSON {"max_rephrase", "max_locality", "max_portability"}: prompts scored per case '
                        "(the edit jobs must use the same)")
    add_device_arguments(parser)
    parser.add_argument("--out", required=True, help="the pre-edit Parquet file")


def run(args):
    from ..errors import ConfigError
    from ..evaluate.edit_job import EvalLimits
    from ..evaluate.pre_edit import run_pre_edit_job

    if len(args.cases) != len(args.split):
        raise ConfigError("--cases and --split need one value per split each", field="split")
    set_threads(args.threads)
    run_pre_edit_job(model_dir=args.model_dir, cases_paths=args.cases, splits=args.split,
                     limits=EvalLimits(**args.eval_limits), out=args.out, device=args.device, dtype=args.dtype)
