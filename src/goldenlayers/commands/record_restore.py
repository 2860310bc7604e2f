"""record-restore: put a record folder's saved outputs back under results/ (step 1 of resuming a run)."""

NAME = "record-restore"
HELP = "copy a record folder's saved outputs that results/ lacks into it and list them (for snakemake --touch)"


def add_arguments(parser):
    parser.add_argument("--record", required=True, help="the record folder (e.g. record/smollm2-135m)")
    parser.add_argument("--workdir", default=".", help="the workflow folder to restore into")
    parser.add_argument("--list", required=True, help="write the restored paths here, one per line")


def run(args):
    from ..record import restore

    restored = restore(args.record, args.workdir, args.list)
    print(f"{len(restored)} saved files in place; list in {args.list}")
