"""Runtime of the three golden-layer searches per (model, dataset), and the speed-ups of LGA.

- LGA, CMA: the ``seconds`` of the locator job (wall time of the whole job, repeated on every row of
  ``lga.parquet`` / ``cma.parquet``).
- BF: brute force has to edit and evaluate every proxy case at every layer with the reference editor
  (R-ROME); its time is the sum of the per-case ``seconds`` of the proxy edit results over the layer grid.
  When the grid is sparser than the model, ``bf_seconds_all_layers`` extrapolates linearly to every layer
  (mean seconds per grid layer x number of layers), the search the paper times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RUNTIME_COLUMNS = [
    "model", "dataset", "bf_editor", "n_proxy", "mean_query_tokens", "lga_seconds", "cma_seconds", "bf_seconds",
    "n_grid_layers", "num_layers", "bf_seconds_all_layers", "speedup_lga_vs_bf", "speedup_lga_vs_bf_all_layers",
    "speedup_lga_vs_cma", "speedup_cma_vs_bf_all_layers",
]


def _first(frame: pd.DataFrame, model: str, dataset: str, column: str) -> float:
    if frame is None or frame.empty or column not in frame.columns:
        return np.nan
    sel = frame.loc[(frame["model"] == model) & (frame["dataset"] == dataset), column]
    return float(sel.iloc[0]) if len(sel) else np.nan


def runtime_table(cases: pd.DataFrame, lga: pd.DataFrame | None, cma: pd.DataFrame | None,
                  reference_editor: str = "r-rome", num_layers: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per (model, dataset) that has proxy edits or a locator result."""
    num_layers = dict(num_layers or {})
    pairs = set(map(tuple, cases[["model", "dataset"]].drop_duplicates().to_numpy()))
    for frame in (lga, cma):
        if frame is not None and not frame.empty:
            pairs |= set(map(tuple, frame[["model", "dataset"]].drop_duplicates().to_numpy()))
    editors = sorted(cases["editor"].unique())
    editor = reference_editor if reference_editor in editors else (editors[0] if editors else None)
    rows = []
    for model, dataset in sorted(pairs):
        proxy = cases[(cases["model"] == model) & (cases["dataset"] == dataset) & (cases["editor"] == editor)
                      & (cases["split"] == "proxy")]
        has_bf = not proxy.empty and "seconds" in proxy.columns
        bf = float(proxy["seconds"].sum()) if has_bf else np.nan
        n_grid = int(proxy["layer"].nunique()) if has_bf else 0
        n_layers = num_layers.get(model)
        if n_layers is None:
            for frame in (lga, cma):
                if frame is not None and not frame.empty:
                    sel = frame[(frame["model"] == model) & (frame["dataset"] == dataset)]
                    if len(sel):
                        n_layers = int(sel["layer"].nunique())
                        break
        bf_all = bf / n_grid * n_layers if (has_bf and n_grid and n_layers) else np.nan
        lga_s, cma_s = _first(lga, model, dataset, "seconds"), _first(cma, model, dataset, "seconds")
        tokens = _first(lga, model, dataset, "mean_query_tokens")
        if np.isnan(tokens):
            tokens = _first(cma, model, dataset, "mean_query_tokens")
        n_proxy = _first(lga, model, dataset, "n_cases")
        if np.isnan(n_proxy):
            n_proxy = float(proxy["case_id"].nunique()) if has_bf else _first(cma, model, dataset, "n_cases")
        rows.append({
            "model": model, "dataset": dataset, "bf_editor": editor if has_bf else None,
            "n_proxy": n_proxy, "mean_query_tokens": tokens,
            "lga_seconds": lga_s, "cma_seconds": cma_s, "bf_seconds": bf, "n_grid_layers": n_grid,
            "num_layers": n_layers if n_layers is not None else pd.NA, "bf_seconds_all_layers": bf_all,
            "speedup_lga_vs_bf": _ratio(bf, lga_s), "speedup_lga_vs_bf_all_layers": _ratio(bf_all, lga_s),
            "speedup_lga_vs_cma": _ratio(cma_s, lga_s), "speedup_cma_vs_bf_all_layers": _ratio(bf_all, cma_s),
        })
    out = pd.DataFrame(rows, columns=RUNTIME_COLUMNS)
    out["n_proxy"] = out["n_proxy"].astype("Float64").round().astype("Int64")
    out["num_layers"] = out["num_layers"].astype("Int64")
    return out


def _ratio(num: float, den: float) -> float:
    if np.isnan(num) or np.isnan(den) or den <= 0:
        return np.nan
    return float(num / den)
