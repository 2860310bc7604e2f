"""``goldenlayers verify-publish``: recompute a publish archive's manifest and fail on any mismatch."""

from __future__ import annotations

import logging


NAME = "verify-publish"
HELP = "check every file of a publish archive against its MANIFEST.json (sha256, size, nothing missing or extra)"
log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("archive", help="goldenlayers-<run_name>.tar.gz")
    parser.add_argument("--receipt", help="write the verification summary (JSON) here")
    parser.add_argument("--manifest", help="after a successful check, write the archive's MANIFEST.json (its exact "
                        "bytes) here, to be read beside the archive")


def run(args) -> None:
    from ..io import write_bytes, write_json
    from ..publish import verify_with_manifest

    summary, manifest = verify_with_manifest(args.archive)
    if args.receipt:
        write_json(args.receipt, summary)
    if args.manifest:
        write_bytes(args.manifest, manifest)
    log.info("%s: %d files match the manifest", args.archive, summary["files"])
