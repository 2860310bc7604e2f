"""The one tie rule of the analysis: BF, LGA, CMA, transfer, proxy-size sensitivity and the figures use it.

Layers whose score is within ``TIE_ATOL`` of the maximum are *tied*. A tied choice is scored as the mean over
its tied layers, per case and in every mean: the expected score of a uniform random pick among them, which
favours neither shallow nor deep layers. Where a table or figure must name one layer (``*_layer`` columns,
bar labels), it is one tied layer drawn uniformly with a seed fixed by the run's seed and the cell
(:func:`draw_tied`); the full tie set is always listed beside it (``*_ties``) and no number depends on the draw.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .stats import rng_for

TIE_ATOL = 1e-12
TIE_SEP = ";"
TIE_RULE = (f"Ties: layers within {TIE_ATOL:g} of the maximum are tied; a tied choice is scored as the mean "
            "over its tied layers (the expected score of a uniform random pick among them, per case), so no "
            "depth is favoured; the *_layer column names one tied layer drawn with the run's seed (labels only), "
            "*_ties lists them all.")


def tied_layers(scores: pd.Series, atol: float = TIE_ATOL) -> list[int]:
    """Every index (layer) whose finite value is within ``atol`` of the maximum, ascending; [] if none is finite."""
    scores = pd.Series(scores, dtype="float64") if not isinstance(scores, pd.Series) else scores.astype("float64")
    finite = scores[np.isfinite(scores.to_numpy())]
    if finite.empty:
        return []
    best = finite.max()
    return sorted(int(i) for i in finite.index[finite >= best - atol])


def draw_tied(ties: Sequence[int], seed: int, *key: object) -> int | None:
    """One of ``ties`` drawn uniformly, seeded by ``seed`` and ``key`` (None if there is none)."""
    ties = sorted(int(t) for t in ties)
    if not ties:
        return None
    if len(ties) == 1:
        return ties[0]
    return ties[int(rng_for(seed, "tie", *key).integers(len(ties)))]


def tie_mean(by_layer: pd.Series, ties: Sequence[int]) -> float:
    """The mean of ``by_layer`` (indexed by layer) over the tied layers that have a finite value; NaN if none."""
    values = pd.Series(by_layer, dtype="float64").reindex([int(t) for t in ties]).to_numpy(dtype="float64")
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def tie_case_scores(matrix: pd.DataFrame, ties: Sequence[int]) -> pd.Series:
    """Per case (row of a cases x layers matrix) the mean score over the tied layers it has; NaN where it has
    none of them (or the tie set is empty, or a tied layer was not evaluated at all)."""
    ties = [int(t) for t in ties]
    if matrix.empty or not ties or any(t not in matrix.columns for t in ties):
        return pd.Series(np.nan, index=matrix.index, dtype="float64")
    return matrix[ties].mean(axis=1, skipna=True).astype("float64")


def format_ties(layers: Sequence[int]) -> str:
    return TIE_SEP.join(str(int(layer)) for layer in layers)


def parse_ties(text) -> list[int]:
    if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text)):
        return []
    return [int(part) for part in str(text).split(TIE_SEP) if part.strip() not in ("", "nan", "<NA>", "None")]
