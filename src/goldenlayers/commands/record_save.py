"""record-save: copy a run's finished outputs into the repository's record folder, so a later sitting resumes it."""

NAME = "record-save"
HELP = "copy every finished output of results/ (except the rebuildable statistics) into a record folder"


def add_arguments(parser):
    parser.add_argument("--workdir", default=".", help="the workflow folder whose results/ is saved")
    parser.add_argument("--record", required=True, help="the record folder (e.g. record/smollm2-135m)")


def run(args):
    from ..record import save

    counts = save(args.workdir, args.record)
    print(f"{counts['copied']} files copied, {counts['unchanged']} unchanged, into {args.record}/results")
