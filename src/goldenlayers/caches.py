"""Damaged caches found before any job runs, so that a rerun never loops on them.

The workflow's caches (target values, covariance statistics, context prefixes) are written atomically, so
a killed job leaves none half-written. A cache damaged afterwards (truncated by a full disk or a copy, edited
by hand) still looks complete to Snakemake, and every job that reads it would fail the same way on every
rerun, after Snakemake has already removed that job's earlier, good outputs. :func:`damaged_caches` finds
such files cheaply (a safetensors header against the file size, a prefix file's JSON) and the workflow stops
before any job, naming each file to remove; the rerun then rebuilds it. The readers
(:class:`~goldenlayers.editors.values.ValueStore`, the statistics reader, the prefix reader) say the same
when they meet damage the scan cannot see.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# (folder under the working directory, file pattern, the rule that rebuilds it, kind)
CACHES = (
    ("results/values", "**/*.safetensors", "target_values", "safetensors"),
    ("results/stats", "**/*.safetensors", "layer_stats", "safetensors"),
    ("results/prefixes", "*.json", "context_prefixes", "prefixes"),
)


def safetensors_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with a safetensors file's framing (None if its header and size agree)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"truncated: {size} bytes, shorter than a safetensors header"
        n_header = int.from_bytes(head, "little")
        if n_header > size - 8:
            return f"truncated: {size} bytes, the header alone claims {n_header + 8}"
        try:
            header = json.loads(handle.read(n_header))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return "damaged safetensors header"
    if 8 + n_header + end != size:
        return f"truncated or padded: {size} bytes, its header describes {8 + n_header + end}"
    return None


def prefixes_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with a context-prefix file (None if it is JSON with ``by_length``)."""
    try:
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    except (ValueError, UnicodeDecodeError) as err:
        return f"not valid JSON ({err})"
    if not isinstance(stored, dict) or not isinstance(stored.get("by_length"), dict):
        return "not a context-prefix file (no 'by_length' mapping)"
    return None


def cache_problem(path: str | os.PathLike, kind: str) -> str | None:
    return safetensors_problem(path) if kind == "safetensors" else prefixes_problem(path)


def damaged_caches(root: str | os.PathLike = ".") -> list[tuple[Path, str, str]]:
    """(file, problem, rule that rebuilds it) of every damaged cache file under ``root``."""
    root = Path(root)
    found = []
    for folder, pattern, rule, kind in CACHES:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.glob(pattern)):
            if path.name.startswith("."):  # an atomic write in progress (".<name>.<random>.part")
                continue
            try:
                problem = cache_problem(path, kind)
            except OSError as err:
                problem = f"cannot read: {err.strerror or err}"
            if problem:
                found.append((path, problem, rule))
    return found


def damaged_message(found: list[tuple[Path, str, str]]) -> str:
    """One line naming every damaged file, what is wrong and the command that removes them."""
    parts = [f"{path} ({problem}; rule {rule} rebuilds it)" for path, problem, rule in found]
    return (f"{len(found)} damaged cache file(s): " + "; ".join(parts)
            + ". Remove them and rerun: rm " + " ".join(str(path) for path, _, _ in found))
