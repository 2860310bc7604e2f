"""Runtime of the three golden-layer searches per (model, dataset), compared per case on the same cases.

- BF: brute force edits and evaluates every proxy case at every grid layer with the reference editor
  (R-ROME); a case's BF time is the sum of its per-case ``seconds`` over the grid layers, and
  ``bf_seconds_per_case_all_layers`` extrapolates it to every layer of the model (x num_layers / grid size),
  the search the paper times.
- LGA, CMA: each case's own ``seconds`` in ``lga_cases`` / ``cma_cases`` (its gradients, or its trace),
  counted only for the cases the locator actually processed (LGA: a case with an old answer; CMA: a traced
  case). The per-job overhead (loading, CMA's noise scale) is not in them.

Every speed-up is a ratio of mean seconds per case over the cases both sides processed (``*_n_common``).
A locator that processed no case (or no case in common) has missing times and speed-ups, with the reason in
``lga_missing`` / ``cma_missing``: never a time measured on nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RUNTIME_COLUMNS = [
    "model", "dataset", "bf_editor", "n_bf_cases", "n_failed", "n_grid_layers", "num_layers", "mean_query_tokens",
    "bf_seconds_per_case", "bf_seconds_per_case_all_layers",
    "lga_n_processed", "lga_seconds_per_case", "lga_n_common", "lga_missing",
    "cma_n_processed", "cma_seconds_per_case", "cma_n_common", "cma_missing",
    "speedup_lga_vs_bf", "speedup_lga_vs_bf_all_layers", "speedup_cma_vs_bf_all_layers", "speedup_lga_vs_cma",
    "n_lga_cma_common", "lga_seconds", "cma_seconds",
]


def _first(frame: pd.DataFrame | None, model: str, dataset: str, column: str) -> float:
    if frame is None or frame.empty or column not in frame.columns:
        return np.nan
    sel = frame.loc[(frame["model"] == model) & (frame["dataset"] == dataset), column]
    return float(sel.iloc[0]) if len(sel) else np.nan


def processed_seconds(per_case: pd.DataFrame | None, summary: pd.DataFrame | None, kind: str, model: str,
                      dataset: str) -> tuple[pd.Series, str]:
    """Seconds per processed case (index: case id) of one locator, and why it is empty when it is."""
    if summary is None or summary.empty or not ((summary["model"] == model) & (summary["dataset"] == dataset)).any():
        return pd.Series(dtype="float64"), f"{kind} not run"
    if per_case is None or per_case.empty:
        return pd.Series(dtype="float64"), f"no per-case {kind} file"
    sel = per_case[(per_case["model"] == model) & (per_case["dataset"] == dataset)]
    value = "contribution" if kind == "lga" else "p_restored"
    done = sel.groupby("case_id")[value].apply(lambda v: bool(np.isfinite(v.to_numpy(dtype="float64")).any()))
    done = done[done].index
    if len(done) == 0:
        return pd.Series(dtype="float64"), f"{kind} processed no case (see its n_skipped / skip_reason)"
    if "seconds" not in sel.columns:
        n = len(done)
        job = _first(summary, model, dataset, "seconds")
        return pd.Series(job / n, index=done, dtype="float64"), ""
    seconds = sel[sel["case_id"].isin(done)].groupby("case_id")["seconds"].first().astype("float64")
    return seconds, ""


def runtime_table(cases: pd.DataFrame, lga: pd.DataFrame | None, cma: pd.DataFrame | None,
                  reference_editor: str = "r-rome", num_layers: dict[str, int] | None = None,
                  lga_cases: pd.DataFrame | None = None, cma_cases: pd.DataFrame | None = None) -> pd.DataFrame:
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
        bf = proxy.groupby("case_id")["seconds"].sum().astype("float64") if has_bf else pd.Series(dtype="float64")
        n_grid = int(proxy["layer"].nunique()) if has_bf else 0
        n_layers = num_layers.get(model)
        scale = (n_layers / n_grid) if (n_grid and n_layers) else np.nan
        timed = {kind: processed_seconds(pc, summary, kind, model, dataset)
                 for kind, pc, summary in (("lga", lga_cases, lga), ("cma", cma_cases, cma))}
        row = {"model": model, "dataset": dataset, "bf_editor": editor if has_bf else None,
               "n_bf_cases": len(bf), "n_grid_layers": n_grid,
               "n_failed": int((proxy["status"].astype(str) == "failed").sum()) if has_bf else 0,
               "num_layers": n_layers if n_layers is not None else pd.NA,
               "bf_seconds_per_case": float(bf.mean()) if len(bf) else np.nan,
               "bf_seconds_per_case_all_layers": float(bf.mean() * scale) if len(bf) else np.nan,
               "lga_seconds": _first(lga, model, dataset, "seconds"),
               "cma_seconds": _first(cma, model, dataset, "seconds")}
        tokens = _first(lga, model, dataset, "mean_query_tokens")
        row["mean_query_tokens"] = tokens if np.isfinite(tokens) else _first(cma, model, dataset, "mean_query_tokens")
        for kind, (seconds, reason) in timed.items():
            common = seconds.index.intersection(bf.index)
            row[f"{kind}_n_processed"] = len(seconds)
            row[f"{kind}_seconds_per_case"] = float(seconds.mean()) if len(seconds) else np.nan
            row[f"{kind}_n_common"] = len(common)
            if not reason and not len(common):
                reason = f"no case processed by both {kind} and BF"
            row[f"{kind}_missing"] = reason
            ratio = _ratio(float(bf[common].mean()), float(seconds[common].mean())) if len(common) else np.nan
            if kind == "lga":
                row["speedup_lga_vs_bf"] = ratio
                row["speedup_lga_vs_bf_all_layers"] = ratio * scale if np.isfinite(ratio) else np.nan
            else:
                row["speedup_cma_vs_bf_all_layers"] = ratio * scale if np.isfinite(ratio) else np.nan
        both = timed["lga"][0].index.intersection(timed["cma"][0].index)
        row["n_lga_cma_common"] = len(both)
        row["speedup_lga_vs_cma"] = (_ratio(float(timed["cma"][0][both].mean()), float(timed["lga"][0][both].mean()))
                                     if len(both) else np.nan)
        rows.append(row)
    out = pd.DataFrame(rows, columns=RUNTIME_COLUMNS)
    for column in ("num_layers", "n_bf_cases", "n_failed", "lga_n_processed", "lga_n_common", "cma_n_processed", "cma_n_common",
                   "n_lga_cma_common"):
        out[column] = out[column].astype("Int64")
    return out


def _ratio(num: float, den: float) -> float:
    if not (np.isfinite(num) and np.isfinite(den)) or den <= 0:
        return np.nan
    return float(num / den)
