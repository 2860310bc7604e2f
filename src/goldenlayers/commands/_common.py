"""Argument helpers shared by the subcommands.

Command modules are imported to build ``goldenlayers --help``: keep their top level light and import
torch, transformers, pandas, pyarrow and the heavy package modules inside ``run()`` (tests/test_imports.py
checks that building the parser imports none of them).
"""

from __future__ import annotations

import json

from ..errors import ConfigError


def json_arg(text: str):
    """argparse type: a JSON value given on the command line (rules pass structured params this way)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"not valid JSON on the command line: {err}: {text[:200]}") from err


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads to what the rule was given."""
    import torch

    if threads and threads > 0:
        torch.set_num_threads(threads)
