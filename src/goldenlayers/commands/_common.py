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


def add_device_arguments(parser) -> None:
    """--device, --dtype and --threads: where and how a job that loads a model runs."""
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="model weights dtype; auto: float32 on the CPU, bfloat16 on a GPU for models of 1B parameters or more")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for this job")


def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads to what the rule was given."""
    import torch

    if threads and threads > 0:
        torch.set_num_threads(threads)
