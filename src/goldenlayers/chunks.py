"""Chunks of layers: one edit or target-values job covers several layers, so the model is loaded once per chunk.

A chunk is named by its layers, so the name alone says what a file holds and a changed grid renames (and so
reruns) only the chunks whose layers changed. Runs of consecutive layers are written ``first-last``, other
layers joined by ``_``: ``[0..9]`` is ``0-9``, ``[8, 18, 28]`` is ``8_18_28``, ``[0, 1, 2, 5]`` is ``0-2_5``.
"""

from __future__ import annotations

import re
from typing import Iterable

from .errors import ConfigError

CHUNK_PATTERN = r"\d+(?:-\d+)?(?:_\d+(?:-\d+)?)*"
_CHUNK = re.compile(rf"^{CHUNK_PATTERN}$")


def split_into_chunks(layers: Iterable[int], size: int) -> list[list[int]]:
    """The sorted grid cut into consecutive groups of at most ``size`` layers (the last may be smaller)."""
    if size < 1:
        raise ConfigError(f"a chunk needs at least one layer, got {size}", field="layers_per_job")
    ordered = sorted(set(int(layer) for layer in layers))
    return [ordered[i: i + size] for i in range(0, len(ordered), size)]


def chunk_name(layers: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2_5"`` (see the module docstring)."""
    ordered = sorted(set(int(layer) for layer in layers))
    if not ordered:
        raise ConfigError("an empty chunk of layers has no name", field="layers")
    runs: list[list[int]] = [[ordered[0], ordered[0]]]
    for layer in ordered[1:]:
        if layer == runs[-1][1] + 1:
            runs[-1][1] = layer
        else:
            runs.append([layer, layer])
    return "_".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def parse_chunk(name: str, field: str = "layers") -> list[int]:
    """``"0-2_5"`` -> ``[0, 1, 2, 5]``; a malformed name raises naming ``field``."""
    if not _CHUNK.match(name):
        raise ConfigError(f"not a chunk of layers: {name!r} (expected e.g. 0-9 or 8_18_28)", field=field)
    layers: list[int] = []
    for part in name.split("_"):
        first, _, last = part.partition("-")
        start, stop = int(first), int(last or first)
        if stop < start:
            raise ConfigError(f"not a chunk of layers: {name!r} ({part} runs backwards)", field=field)
        layers.extend(range(start, stop + 1))
    if len(set(layers)) != len(layers) or layers != sorted(layers):
        raise ConfigError(f"not a chunk of layers: {name!r} (layers repeat or are out of order)", field=field)
    return layers
