"""The layer each locator picks, as the analysis sees it.

LGA and CMA score every layer of a model; the edits that judge them exist only on the config's layer grid.
A locator's choice is therefore its argmax over the grid layers (for LGA: over the grid layers inside its Tukey
fences), which is what the locate stage marks ``is_golden`` when it is given the grid; it is recomputed here
so that files made without the grid give the same answer. The argmax over every layer (``is_golden_all``)
is reported as ``unrestricted_layer``; with ``layers: all`` the two coincide.

The per-case files (``lga_cases``, ``cma_cases``) let the proxy-size analysis recompute a locator's choice
from a subset of the proxy cases: :func:`lga_choice_from_cases`, :func:`cma_choice_from_cases`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..io import read_table

log = logging.getLogger(__name__)

LOCATORS = ("lga", "cma")
LGA_REQUIRED = ("model", "dataset", "layer", "score", "kept", "is_golden", "n_cases", "seconds", "mean_query_tokens")
CMA_REQUIRED = ("model", "dataset", "layer", "mean_effect", "is_golden", "n_cases", "seconds", "mean_query_tokens")


@dataclass(frozen=True)
class Choice:
    layer: int | None            # argmax over the grid (what the analysis evaluates)
    unrestricted_layer: int | None  # the locator's own golden layer over all its layers (is_golden_all)


def read_locator(paths: Iterable[str], kind: str) -> pd.DataFrame:
    """Concatenate ``lga.parquet`` or ``cma.parquet`` files (one per model and dataset); empty if none."""
    required = {"lga": LGA_REQUIRED, "cma": CMA_REQUIRED}[kind]
    frames = [read_table(path, required, "Locators") for path in paths]
    if not frames:
        return pd.DataFrame(columns=list(required))
    out = pd.concat(frames, ignore_index=True)
    out["layer"] = out["layer"].astype("int64")
    return out


def read_locator_cases(paths: Iterable[str], kind: str) -> pd.DataFrame:
    """Concatenate per-case locator files; the model and dataset come from the matching summary file's folder
    (``results/locate/{model}/{dataset}/{kind}_cases.parquet``) unless the file has those columns."""
    value = {"lga": "contribution", "cma": "p_restored"}[kind]
    frames = []
    for path in paths:
        frame = read_table(path, ("case_id", "layer", value), "Locators")
        parts = str(path).replace("\\", "/").split("/")
        if "model" not in frame.columns:
            frame["model"] = parts[-3]
        if "dataset" not in frame.columns:
            frame["dataset"] = parts[-2]
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["model", "dataset", "case_id", "layer", value])
    out = pd.concat(frames, ignore_index=True)
    out["case_id"] = out["case_id"].astype(str)
    out["layer"] = out["layer"].astype("int64")
    return out


def _argmax(series: pd.Series) -> int | None:
    series = series.astype("float64")
    series = series[np.isfinite(series.to_numpy())]
    if series.empty:
        return None
    best = series.max()
    return int(min(series.index[series >= best - 1e-12]))


def choice(frame: pd.DataFrame, kind: str, model: str, dataset: str, grid: Sequence[int] | None) -> Choice | None:
    """The layer ``kind`` picks for (model, dataset), restricted to ``grid``; None if the locator has no rows."""
    sel = frame[(frame["model"] == model) & (frame["dataset"] == dataset)] if len(frame) else frame
    if sel is None or sel.empty:
        return None
    sel = sel.set_index("layer").sort_index()
    flag = "is_golden_all" if "is_golden_all" in sel.columns else "is_golden"  # the locate stage's all-layer argmax
    golden = sel.index[sel[flag].astype(bool)]
    unrestricted = int(golden[0]) if len(golden) else None
    if kind == "lga":
        candidates = sel[sel["kept"].astype(bool)]["score"]
    else:
        candidates = sel["mean_effect"]
    if grid is not None:
        candidates = candidates[candidates.index.isin(list(grid))]
    return Choice(layer=_argmax(candidates), unrestricted_layer=unrestricted)


def tukey_keep(scores: np.ndarray, k: float = 1.0, method: str = "linear") -> np.ndarray:
    """True for the finite scores inside Tukey's fences (the locate stage's own implementation)."""
    from ..locate.tukey import fences, keep_mask

    return keep_mask(scores, fences(scores, k, method))


def lga_choice_from_cases(cases: pd.DataFrame, case_ids: Sequence[str], grid: Sequence[int] | None,
                          k: float = 1.0, method: str = "linear") -> int | None:
    """LGA's choice from the given proxy cases only: sum contributions, Tukey-filter all layers, argmax on grid.

    Cases the locator skipped (every contribution NaN) are left out, as the locate stage does."""
    sel = cases[cases["case_id"].isin(list(case_ids))]
    used = sel.groupby("case_id")["contribution"].transform(lambda v: np.isfinite(v.to_numpy()).any())
    sel = sel[used.astype(bool)]
    if sel.empty:
        return None
    scores = sel.groupby("layer")["contribution"].sum(min_count=1).sort_index()
    kept = scores[tukey_keep(scores.to_numpy(), k, method)]
    if grid is not None:
        kept = kept[kept.index.isin(list(grid))]
    return _argmax(kept)


def cma_choice_from_cases(cases: pd.DataFrame, case_ids: Sequence[str], grid: Sequence[int] | None) -> int | None:
    """CMA's choice from the given proxy cases only: mean restored probability per layer, argmax on grid.

    Cases the clean model answers wrongly are left out where the file marks them (a boolean ``kept`` or
    ``skipped`` column)."""
    sel = cases[cases["case_id"].isin(list(case_ids))]
    if "kept" in sel.columns:
        sel = sel[sel["kept"].astype(bool)]
    elif "skipped" in sel.columns:
        sel = sel[~sel["skipped"].astype(bool)]
    if sel.empty:
        return None
    scores = sel.groupby("layer")["p_restored"].mean().sort_index()
    if grid is not None:
        scores = scores[scores.index.isin(list(grid))]
    return _argmax(scores)
