"""split-dataset: seeded, disjoint proxy and test splits of results/data/{dataset}/cases.parquet."""

from __future__ import annotations

import pyarrow.parquet as pq

from .. import __version__
from ..data.schema import table_to_cases
from ..data.split import split_indices
from ..errors import InputError
from ..io import read_parquet_metadata, sha256_file, write_parquet

NAME = "split-dataset"
HELP = "split cases.parquet into seeded, disjoint proxy and test sets"

_CARRIED = ("dataset", "format", "source_file", "source_sha256", "skip_bad_records")


def add_arguments(parser):
    parser.add_argument("--input", required=True, help="cases.parquet")
    parser.add_argument("--proxy-output", required=True, help="proxy.parquet")
    parser.add_argument("--test-output", required=True, help="test.parquet")
    parser.add_argument("--proxy-size", type=int, default=None, help="explicit proxy size (overrides the fraction)")
    parser.add_argument("--proxy-fraction", type=float, default=0.1, help="proxy share of the cases (default 0.1)")
    parser.add_argument("--proxy-min", type=int, default=10, help="smallest proxy size from the fraction (default 10)")
    parser.add_argument("--test-size", type=int, default=None, help="cap on the test size (default: all the rest)")
    parser.add_argument("--seed", type=int, required=True, help="seed of the split")


def run(args):
    try:
        table = pq.read_table(args.input)
    except FileNotFoundError:
        raise InputError("file not found", file=args.input) from None
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read Parquet: {err}", file=args.input) from None
    table_to_cases(table, file=args.input)  # checks it is an EditCase table with valid rows
    source_meta = read_parquet_metadata(args.input)
    try:
        proxy, test, plan = split_indices(
            table.num_rows,
            seed=args.seed,
            proxy_size=args.proxy_size,
            proxy_fraction=args.proxy_fraction,
            proxy_min=args.proxy_min,
            test_size=args.test_size,
        )
    except InputError as err:  # name the dataset and its file, not only the split setting
        dataset = source_meta.get("dataset", "?")
        raise InputError(f"dataset {dataset}: {err}", file=args.input) from None
    table = table.replace_schema_metadata(None)  # the splits carry only the provenance keys below
    common = {k: source_meta[k] for k in _CARRIED if k in source_meta}
    common.update({
        "cases_file": str(args.input),
        "cases_sha256": sha256_file(args.input),
        "split_plan": {**plan.as_metadata(), "requested": {
            "proxy_size": args.proxy_size, "proxy_fraction": args.proxy_fraction,
            "proxy_min": args.proxy_min, "test_size": args.test_size}},
        "package_version": __version__,
    })
    for name, indices, path in (("proxy", proxy, args.proxy_output), ("test", test, args.test_output)):
        write_parquet(path, table.take(indices), {**common, "split": name, "n_cases": len(indices)})
