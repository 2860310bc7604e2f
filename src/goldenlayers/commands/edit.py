"""edit: edit every case of a dataset's splits at one layer with one editor, evaluate, write one Parquet row per case."""

from ._common import set_threads
from ._edit import add_edit_arguments

NAME = "edit"
HELP = "run single-fact edits of one (model, editor, dataset) at one layer and evaluate them, per split"


def add_arguments(parser):
    add_edit_arguments(parser)
    parser.add_argument("--cases", nargs="+", required=True, help="the split files (proxy.parquet, test.parquet)")
    parser.add_argument("--split", nargs="+", required=True, help="the split names, in the order of --cases")
    parser.add_argument("--layer", type=int, required=True, help="the layer edited (MEMIT/EMMET: where the window ends or is centred)")
    parser.add_argument("--values", help="the target values of this site (rule target_values); without it the "
                        "job optimises them itself")
    parser.add_argument("--out", nargs="+", required=True, help="one Parquet table per split")
    parser.add_argument("--out-hparams", nargs="+", required=True, help="one resolved-hparams JSON per split")


def run(args):
    from ..editors.hparams import load_hparams, log_family_fallback
    from ..errors import ConfigError
    from ..evaluate.edit_job import EvalLimits, SplitOutput, run_edit_jobs

    lengths = {len(args.cases), len(args.split), len(args.out), len(args.out_hparams)}
    if len(lengths) != 1:
        raise ConfigError("--cases, --split, --out and --out-hparams need one value per split each", field="split")
    set_threads(args.threads)
    hparams = load_hparams(args.hparams, args.editor, args.overrides)
    log_family_fallback(args.hparams, args.model_dir)
    run_edit_jobs(
        model_dir=args.model_dir, model_name=args.model_name, editor_name=args.editor,
        splits=[SplitOutput(*parts) for parts in zip(args.split, args.cases, args.out, args.out_hparams)],
        hparams=hparams, layer=args.layer, templates_path=args.templates, dataset=args.dataset, seed=args.seed,
        device=args.device, dtype=args.dtype, limits=EvalLimits(**args.eval_limits),
        stats_paths=dict(args.stats), values_path=args.values,
    )
