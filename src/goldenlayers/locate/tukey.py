"""Tukey's fences and the argmax the locators take over the layers that survive them.

A layer is kept when its score lies inside ``[Q1 - k * IQR, Q3 + k * IQR]``, with Q1 and Q3 numpy quantiles
computed with ``method`` (the paper, v3: k = 1 and 'linear'). Non-finite scores are never kept and do not
enter the quantiles. The golden layer is the argmax over the kept layers (optionally restricted to a
subset, e.g. the sweep grid); every tied layer is reported (``ties``, marked ``is_golden`` in the locator
files). The analysis scores a tie by the one tie rule of :mod:`goldenlayers.analysis.ties` (the mean over
the tied layers); ``Golden.layer`` (the lowest tied layer) only names the tie in logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import ConfigError

QUANTILE_METHODS = (
    "inverted_cdf", "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
    "hazen", "weibull", "linear", "median_unbiased", "normal_unbiased", "lower", "higher", "midpoint", "nearest",
)


@dataclass(frozen=True)
class Fences:
    q1: float
    q3: float
    lower: float
    upper: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


@dataclass(frozen=True)
class Golden:
    """The argmax over a set of layers: ``layer`` (None if no candidate) and every layer tied with it."""

    layer: int | None
    ties: tuple[int, ...] = field(default_factory=tuple)

    @property
    def tied(self) -> bool:
        return len(self.ties) > 1


def fences(scores: Sequence[float], k: float = 1.0, method: str = "linear") -> Fences:
    """Tukey's fences of the finite ``scores``; NaN fences if there are none."""
    if k < 0:
        raise ConfigError(f"the Tukey k must be >= 0, got {k}", field="lga.tukey_k")
    if method not in QUANTILE_METHODS:
        raise ConfigError(f"unknown numpy quantile method {method!r} (one of {', '.join(QUANTILE_METHODS)})",
                          field="lga.quantile_method")
    values = np.asarray(scores, dtype="float64")
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Fences(np.nan, np.nan, np.nan, np.nan)
    q1, q3 = np.quantile(values, [0.25, 0.75], method=method)
    iqr = q3 - q1
    return Fences(float(q1), float(q3), float(q1 - k * iqr), float(q3 + k * iqr))


def keep_mask(scores: Sequence[float], bounds: Fences) -> np.ndarray:
    """True where a score is finite and inside the (closed) fences."""
    values = np.asarray(scores, dtype="float64")
    finite = np.isfinite(values)
    inside = np.zeros(values.shape, dtype=bool)
    inside[finite] = (values[finite] >= bounds.lower) & (values[finite] <= bounds.upper)
    return inside


def argmax_layers(layers: Sequence[int], scores: Sequence[float], mask: Sequence[bool] | None = None) -> Golden:
    """Argmax of ``scores`` over the ``layers`` where ``mask`` is true (and the score finite).

    Exact ties all go into ``ties`` (ascending); ``layer`` is the lowest of them, a name for logs only.
    """
    layers = np.asarray(layers, dtype="int64")
    values = np.asarray(scores, dtype="float64")
    ok = np.isfinite(values) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(values))
    if not ok.any():
        return Golden(None, ())
    best = values[ok].max()
    tied = sorted(int(layer) for layer in layers[ok & (values == best)])
    return Golden(tied[0], tuple(tied))


@dataclass(frozen=True)
class TukeyResult:
    fences: Fences
    kept: np.ndarray
    golden: Golden


def tukey_golden(layers: Sequence[int], scores: Sequence[float], k: float = 1.0, method: str = "linear",
                 among: Sequence[int] | None = None) -> TukeyResult:
    """Fences over all ``scores``, keep flags, and the argmax over the kept layers (within ``among`` if given)."""
    bounds = fences(scores, k, method)
    kept = keep_mask(scores, bounds)
    mask = kept if among is None else kept & np.isin(np.asarray(layers), np.asarray(list(among), dtype="int64"))
    return TukeyResult(bounds, kept, argmax_layers(layers, scores, mask))
