"""The layer each locator picks, as the analysis sees it.

LGA and CMA score every layer of a model. A locator's choice is its argmax over every layer (for LGA: over the
layers inside its Tukey fences), as a user would apply it; the workflow edits the test split at that layer
even when it is off the sweep grid (rule ``edit_choice``), so each locator is judged at its own choice. Ties
follow the one tie rule (:mod:`goldenlayers.analysis.ties`). The argmax within the grid is kept for reference
(``grid_ties``). Diagnostics (how many cases a locator processed, LGA's negative scores, CMA's corruption
effect) come from the locator files' columns (:func:`diagnostics`).

The per-case files (``lga_cases``, ``cma_cases``) let the proxy-size analysis recompute a locator's choice
from a subset of the proxy cases: :func:`lga_choice_from_cases`, :func:`cma_choice_from_cases`; and each case's own
LGA layer (the same rule on one case's contributions, beyond the paper): :func:`lga_case_choices`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..io import read_table
from .ties import draw_tied, tied_layers

log = logging.getLogger(__name__)

LOCATORS = ("lga", "cma")
LGA_REQUIRED = ("model", "dataset", "layer", "score", "kept", "is_golden", "n_cases", "seconds", "mean_query_tokens")
CMA_REQUIRED = ("model", "dataset", "layer", "mean_effect", "is_golden", "n_cases", "seconds", "mean_query_tokens")


@dataclass(frozen=True)
class Choice:
    ties: tuple[int, ...]        # the locator's choice over every layer (the tie set; judged by the tie mean)
    grid_ties: tuple[int, ...]   # its choice within the sweep grid (reference only)
    layer: int | None            # one tied layer drawn with the seed (labels only)


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


def _ties(series: pd.Series) -> list[int]:
    return tied_layers(series)


def choice(frame: pd.DataFrame, kind: str, model: str, dataset: str, grid: Sequence[int] | None = None,
           seed: int = 0) -> Choice | None:
    """The layer(s) ``kind`` picks for (model, dataset) over every layer it scored (LGA: inside its fences),
    and within ``grid``; None if the locator has no rows for (model, dataset)."""
    sel = frame[(frame["model"] == model) & (frame["dataset"] == dataset)] if len(frame) else frame
    if sel is None or sel.empty:
        return None
    sel = sel.set_index("layer").sort_index()
    if kind == "lga":
        candidates = sel[sel["kept"].astype(bool)]["score"]
    else:
        candidates = sel["mean_effect"]
    ties = _ties(candidates)
    on_grid = candidates[candidates.index.isin(list(grid))] if grid is not None else candidates
    return Choice(ties=tuple(ties), grid_ties=tuple(_ties(on_grid)),
                  layer=draw_tied(ties, seed, model, dataset, kind))


def _first(sel: pd.DataFrame, column: str, default=np.nan):
    return sel[column].iloc[0] if column in sel.columns and len(sel) else default


def diagnostics(frame: pd.DataFrame, kind: str, model: str, dataset: str, min_cases: int = 1) -> dict:
    """What a locator's choice rests on, for the tables: ``{kind}_n_processed`` (cases that entered its
    scores), and ``{kind}_flag`` (empty when sound). LGA: ``lga_n_old_is_greedy`` (cases whose old answer is the
    model's own greedy answer), ``lga_frac_negative`` (fraction of kept layers with S_L < 0), flag
    ``all-negative`` when every kept layer is negative. CMA: ``cma_corruption_effect`` (mean over traced cases
    of p_clean - p_corrupt), flag ``no-corruption-effect`` when it is not positive. Both: flag
    ``few-cases`` when fewer than ``min_cases`` cases were processed, ``no-cases`` when none was."""
    sel = frame[(frame["model"] == model) & (frame["dataset"] == dataset)] if len(frame) else frame
    out: dict = {f"{kind}_n_processed": pd.NA, f"{kind}_flag": "not run"}
    if sel is None or sel.empty:
        return out
    flags = []
    if kind == "lga":
        n = int(_first(sel, "n_cases", 0)) - int(_first(sel, "n_skipped", 0))
        kept = sel[sel["kept"].astype(bool)]["score"].to_numpy(dtype="float64")
        kept = kept[np.isfinite(kept)]
        frac = float((kept < 0).mean()) if kept.size else np.nan
        greedy = _first(sel, "n_old_is_greedy", pd.NA)
        out.update({"lga_n_old_is_greedy": greedy if greedy is pd.NA else int(greedy), "lga_frac_negative": frac})
        if kept.size and (kept < 0).all():
            flags.append("all-negative")
    else:
        n = int(_first(sel, "n_kept", _first(sel, "n_cases", 0)))
        effect = float(_first(sel, "mean_corruption_effect",
                              _first(sel, "mean_p_clean", np.nan) - _first(sel, "mean_p_corrupt", np.nan)))
        out["cma_corruption_effect"] = effect
        if n and not (np.isfinite(effect) and effect > 0):
            flags.append("no-corruption-effect")
    out[f"{kind}_n_processed"] = n
    if n == 0:
        flags.append("no-cases")
    elif n < min_cases:
        flags.append("few-cases")
    out[f"{kind}_flag"] = ",".join(flags)
    return out


def tukey_keep(scores: np.ndarray, k: float = 1.0, method: str = "linear") -> np.ndarray:
    """True for the finite scores inside Tukey's fences (the locate stage's own implementation)."""
    from ..locate.tukey import fences, keep_mask

    return keep_mask(scores, fences(scores, k, method))


def lga_choice_from_cases(cases: pd.DataFrame, case_ids: Sequence[str], grid: Sequence[int] | None,
                          k: float = 1.0, method: str = "linear") -> list[int]:
    """LGA's choice (tie set) from the given proxy cases only: sum contributions, Tukey-filter all layers,
    argmax over the kept layers (within ``grid`` if given).

    Cases the locator skipped (every contribution NaN) are left out, as the locate stage does."""
    sel = cases[cases["case_id"].isin(list(case_ids))]
    used = sel.groupby("case_id")["contribution"].transform(lambda v: np.isfinite(v.to_numpy()).any())
    sel = sel[used.astype(bool)]
    if sel.empty:
        return []
    return lga_choice_from_scores(sel.groupby("layer")["contribution"].sum(min_count=1), grid, k, method)


def lga_choice_from_scores(scores: pd.Series, grid: Sequence[int] | None, k: float = 1.0,
                           method: str = "linear") -> list[int]:
    """LGA's rule on per-layer scores (index: layer): Tukey fences over every layer, then the tie set of the argmax
    over the kept layers (within ``grid`` if given). [] when no layer is kept."""
    scores = scores.astype("float64").sort_index()
    kept = scores[tukey_keep(scores.to_numpy(), k, method)]
    if grid is not None:
        kept = kept[kept.index.isin(list(grid))]
    return _ties(kept)


def lga_case_choices(cases: pd.DataFrame, grid: Sequence[int] | None = None, k: float = 1.0,
                     method: str = "linear") -> dict[str, tuple[int, ...]]:
    """Each case's own LGA layer (tie set): the golden layer's rule (:func:`lga_choice_from_scores`) on that case's
    contributions alone, for the cases of one (model, dataset) in ``cases`` (an ``lga_cases``-shaped frame).
    Cases the locator skipped (every contribution NaN) get no entry."""
    out: dict[str, tuple[int, ...]] = {}
    for case_id, group in cases.groupby("case_id", sort=True):
        scores = group.set_index("layer")["contribution"]
        if np.isfinite(scores.to_numpy(dtype="float64")).any():
            out[str(case_id)] = tuple(lga_choice_from_scores(scores, grid, k, method))
    return out


def cma_choice_from_cases(cases: pd.DataFrame, case_ids: Sequence[str], grid: Sequence[int] | None) -> list[int]:
    """CMA's choice (tie set) from the given proxy cases only: mean restored probability per layer, argmax
    (within ``grid`` if given).

    Cases the clean model answers wrongly are left out where the file marks them (a boolean ``kept`` or
    ``skipped`` column)."""
    sel = cases[cases["case_id"].isin(list(case_ids))]
    if "kept" in sel.columns:
        sel = sel[sel["kept"].astype(bool)]
    elif "skipped" in sel.columns:
        sel = sel[~sel["skipped"].astype(bool)]
    if sel.empty:
        return []
    scores = sel.groupby("layer")["p_restored"].mean().sort_index()
    if grid is not None:
        scores = scores[scores.index.isin(list(grid))]
    return _ties(scores)
