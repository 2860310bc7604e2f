"""fetch-dataset: download a dataset's upstream file, sha256-checked, into resources/downloads/."""

from __future__ import annotations

from ..data.download import fetch
from ..data.sources import resolve_download

NAME = "fetch-dataset"
HELP = ("download a dataset's upstream file (pinned URL, sha256-checked, trust on first use when unknown; "
        "huggingface.co files through huggingface_hub)")


def add_arguments(parser):
    parser.add_argument("--dataset", required=True, help="dataset name (a key of the config's datasets:)")
    parser.add_argument("--format", default=None, help="source format (default: the dataset's default)")
    parser.add_argument("--url", default=None,
                        help="URL to fetch (http, https, file); default: the registry's pinned URL for the format")
    parser.add_argument("--sha256", default=None,
                        help="expected sha256; default: the registry's, for the registry URL only, else the "
                             "checksum recorded by an earlier fetch in OUTPUT.sha256, else trust on first use")
    parser.add_argument("--output", required=True, help="where the file goes")
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")


def run(args):
    entry = {"format": args.format, "url": args.url, "sha256": args.sha256}
    upstream = resolve_download(args.dataset, entry)
    fetch(upstream.url, args.output, upstream.sha256, timeout=args.timeout, key=f"datasets.{args.dataset}.sha256")
