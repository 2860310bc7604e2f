"""Command-line entry point: ``goldenlayers <subcommand>``, one subcommand per workflow rule.

Each module in :mod:`goldenlayers.commands` defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args)``; they are found here, so adding a rule's command means adding one file.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import logging
import os
import pkgutil
import signal
import sys

from . import __version__, commands
from .errors import GoldenLayersError


def _command_modules(only: str | None = None):
    """Import the command modules; only the one named ``only`` when given (fast start-up for a rule)."""
    names = [i.name for i in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name) if not i.name.startswith("_")]
    if only is not None and only.replace("-", "_") in names:
        names = [only.replace("-", "_")]
    for name in names:
        yield importlib.import_module(f"{commands.__name__}.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="goldenlayers",
        description="Golden layers for knowledge editing: one subcommand per workflow rule, plus find-layer "
                    "(which layer to edit for a model and facts) and slurm-profile (cluster set-up). "
                    "'goldenlayers <subcommand> --help' describes each.")
    parser.add_argument("--version", action="version", version=f"goldenlayers {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<subcommand>")
    for module in _command_modules(only):
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent (the rule's shell, or Snakemake) dies.

    A job killed through its shell wrapper must not leave a python process that goes on and writes outputs
    a later run would accept. Elsewhere (macOS) a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Called without ``argv`` it is the process's entry point (``goldenlayers ...``)
    and ties the process's life to its parent's (:func:`die_with_parent`)."""
    if argv is None:
        die_with_parent()
    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(only=first).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args._run(args)
    except GoldenLayersError as err:
        print(f"goldenlayers {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
