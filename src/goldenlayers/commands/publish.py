"""``goldenlayers publish``: bundle results (figures, tables, Parquet, report) into one archive with a manifest."""

from __future__ import annotations

import json
import logging


NAME = "publish"
HELP = "bundle result files into goldenlayers-<run_name>.tar.gz with MANIFEST.json (sha256, config, versions, git)"
log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("--files", nargs="+", required=True, help="files or folders to publish")
    parser.add_argument("--config-json", required=True, type=json.loads, help="the resolved config as JSON")
    parser.add_argument("--run-name", required=True, help="names the archive: goldenlayers-<run name>")
    parser.add_argument("--root", default=".", help="project root: archive paths are relative to it")
    parser.add_argument("--out", required=True, help="the archive (.tar.gz)")


def run(args) -> None:
    from ..publish import publish

    manifest = publish(args.files, args.out, config=args.config_json, run_name=args.run_name, root=args.root)
    log.info("published %d files to %s (git %s)", len(manifest["files"]), args.out, manifest["git"].get("commit"))
