"""load-dataset: read one benchmark file into results/data/{dataset}/cases.parquet (EditCase rows)."""

from __future__ import annotations

from pathlib import Path

NAME = "load-dataset"
HELP = "read a benchmark file (one of the source formats) into EditCase rows"


def add_arguments(parser):
    parser.add_argument("--dataset", required=True, help="dataset name (a key of the config's datasets:)")
    parser.add_argument("--format", default=None,
                        help="source format (default: the dataset's default format; an unknown one is an error "
                             "that lists the known ones)")
    parser.add_argument("--input", required=True, help="the source JSON file")
    parser.add_argument("--output", required=True, help="cases.parquet")
    parser.add_argument("--sha256", default=None,
                        help="expected sha256 of the input (a user's local file pinned in the config); a mismatch "
                             "fails and names the config key to set to accept the new file")
    parser.add_argument("--source-name", default=None,
                        help="how the Parquet metadata names the source file (default: the --input path); the "
                             "workflow names a shipped sample by its path in the repository when the job reads a "
                             "copy (a deployed workflow reads Snakemake's cached copy)")
    parser.add_argument("--skip-bad-records", action="store_true",
                        help="leave out invalid records (logged, listed in the Parquet metadata) instead of failing")


def run(args):
    from .. import __version__
    from ..data.loaders import load_cases
    from ..data.schema import cases_to_table
    from ..data.sources import resolve_source
    from ..errors import InputError
    from ..io import sha256_file, write_parquet

    fmt = args.format or resolve_source(args.dataset).format
    source = Path(args.input)
    if not source.is_file():
        raise InputError("file not found", file=source, field=f"datasets.{args.dataset}.path")
    actual = sha256_file(source)
    if args.sha256 and actual != args.sha256.lower():
        raise InputError(f"the file's sha256 is {actual}, the config pins {args.sha256.lower()}; if the changed "
                         f"file is the one you want, set datasets.{args.dataset}.sha256: {actual} (or remove the key)",
                         file=source, field=f"datasets.{args.dataset}.sha256")
    result = load_cases(source, fmt, args.dataset, skip_bad_records=args.skip_bad_records)
    metadata = {
        "dataset": args.dataset,
        "format": fmt,
        "source_file": args.source_name or str(source),
        "source_sha256": actual,
        "package_version": __version__,
        "skip_bad_records": args.skip_bad_records,  # model jobs skip cases too long for the model alike
        **result.metadata(),
    }
    write_parquet(args.output, cases_to_table(result.cases), metadata)
