"""edit: edit every case of a dataset's splits at each layer of a chunk with one editor (the model loaded once),
evaluate, write one Parquet row per case and layer."""

from ._common import set_threads
from ._edit import add_edit_arguments

NAME = "edit"
HELP = "run single-fact edits of one (model, editor, dataset) at a chunk of layers and evaluate them, per split"


def add_arguments(parser):
    add_edit_arguments(parser)
    parser.add_argument("--cases", nargs="+", required=True, help="the split files (proxy.parquet, test.parquet)")
    parser.add_argument("--split", nargs="+", required=True, help="the split names, in the order of --cases")
    parser.add_argument("--layers", required=True, help="the layers edited, as a chunk name: 0-9, 8_18_28 or 5 "
                        "(MEMIT/EMMET: where each window ends or is centred)")
    parser.add_argument("--values", help="the target values of these layers' sites (rule target_values); without "
                        "it the job optimises them itself")
    parser.add_argument("--pre-edit", help="the unedited predictions of the dataset (rule pre_edit); without it the "
                        "job computes them itself")
    parser.add_argument("--out", nargs="+", required=True, help="one Parquet table per split")
    parser.add_argument("--out-hparams", help="the resolved hyperparameters and each layer's edited layers (JSON)")


def run(args):
    from ..chunks import parse_chunk
    from ..editors.hparams import load_hparams, log_family_fallback
    from ..errors import ConfigError
    from ..evaluate.edit_job import EvalLimits, SplitOutput, run_edit_jobs

    if len({len(args.cases), len(args.split), len(args.out)}) != 1:
        raise ConfigError("--cases, --split and --out need one value per split each", field="split")
    set_threads(args.threads)
    hparams = load_hparams(args.hparams, args.editor, args.overrides)
    log_family_fallback(args.hparams, args.model_dir)
    run_edit_jobs(
        model_dir=args.model_dir, model_name=args.model_name, editor_name=args.editor,
        splits=[SplitOutput(*parts) for parts in zip(args.split, args.cases, args.out)],
        hparams=hparams, layers=parse_chunk(args.layers), out_hparams=args.out_hparams, pre_edit_path=args.pre_edit, templates_path=args.templates, dataset=args.dataset, seed=args.seed,
        device=args.device, dtype=args.dtype, limits=EvalLimits(**args.eval_limits),
        stats_paths=dict(args.stats), values_path=args.values,
    )
