"""Locators judged on the test split: scores at the chosen layers, regret with bootstrap intervals, LGA vs CMA.

For one (model, editor, dataset, metric) and a locator that picks layer l:

- ``test_mean``/``test_sem``: the mean (SEM) over test cases of the score of editing at l;
- ``regret``: the mean over test cases of (case's best score over the grid) - (score at l), i.e. the
  sample-wise optimum minus what the locator achieves, with a seeded percentile bootstrap interval over
  test cases;
- locators: ``bf`` (brute-force golden layer on the proxy split), ``lga``, ``cma``, and the oracle
  ``test_best`` (the best fixed layer on test itself: the floor any one-layer locator can reach).

LGA against CMA: the per-case test scores at their two layers, paired by case, Wilcoxon signed-rank.
A locator that was not run (its file absent) simply has no rows; its columns in the wide table are empty.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .golden import parse_ties
from .locators import Choice, choice
from .scores import KEYS, METRICS, case_matrix, metrics_present, sem
from .stats import bootstrap_mean_ci, wilcoxon_paired

log = logging.getLogger(__name__)

LOCATOR_ORDER = ("bf", "lga", "cma", "test_best")
REGRET_COLUMNS = [
    "model", "editor", "dataset", "metric", "locator", "layer", "unrestricted_layer", "test_mean", "test_sem",
    "n", "optimum", "regret", "regret_low", "regret_high",
]
PAIRED_COLUMNS = [
    "model", "editor", "dataset", "metric", "lga_layer", "cma_layer", "lga_score", "cma_score", "lga_minus_cma",
    "diff_low", "diff_high", "wilcoxon_stat", "p_value", "n_pairs", "n_nonzero", "note",
]


def _locator_layers(golden_row: pd.Series, lga: Choice | None, cma: Choice | None) -> dict[str, tuple]:
    layers: dict[str, tuple] = {}
    if pd.notna(golden_row["proxy_golden_layer"]):
        layers["bf"] = (int(golden_row["proxy_golden_layer"]), int(golden_row["proxy_golden_layer"]))
    if lga is not None:
        layers["lga"] = (lga.layer, lga.unrestricted_layer)
    if cma is not None:
        layers["cma"] = (cma.layer, cma.unrestricted_layer)
    ties = parse_ties(golden_row["test_best_ties"])
    if ties:
        layers["test_best"] = (ties[0], ties[0])
    return layers


def compare_locators(cases: pd.DataFrame, golden: pd.DataFrame, lga: pd.DataFrame, cma: pd.DataFrame,
                     n_boot: int = 2000, seed: int = 0, failed: str = "drop") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (``regret`` long table, ``lga_vs_cma`` paired-test table)."""
    regret_rows, paired_rows = [], []
    for (model, editor, dataset), group in golden.groupby(list(KEYS), sort=True):
        grid = sorted(cases.loc[(cases["model"] == model) & (cases["dataset"] == dataset), "layer"].unique())
        lga_choice = choice(lga, "lga", model, dataset, grid) if len(lga) else None
        cma_choice = choice(cma, "cma", model, dataset, grid) if len(cma) else None
        test_metrics = set(metrics_present(cases, model, editor, dataset, "test"))
        for _, row in group.iterrows():
            metric = row["metric"]
            if metric not in test_metrics:
                continue
            matrix = case_matrix(cases, model, editor, dataset, "test", metric, failed)
            best = matrix.max(axis=1, skipna=True)
            per_case: dict[str, pd.Series] = {}
            for locator, (layer, unrestricted) in _locator_layers(row, lga_choice, cma_choice).items():
                base = {"model": model, "editor": editor, "dataset": dataset, "metric": metric, "locator": locator,
                        "layer": layer, "unrestricted_layer": unrestricted}
                if layer is None or layer not in matrix.columns:
                    regret_rows.append({**base, "n": 0})
                    continue
                achieved = matrix[layer]
                per_case[locator] = achieved
                ok = np.isfinite(achieved.to_numpy()) & np.isfinite(best.to_numpy())
                # one key per group, not per locator: every locator sees the same resampled cases
                ci = bootstrap_mean_ci((best - achieved).to_numpy()[ok], n_boot=n_boot, seed=seed,
                                       key=(model, editor, dataset, metric))
                values = achieved.to_numpy()[np.isfinite(achieved.to_numpy())]
                regret_rows.append({
                    **base, "test_mean": float(values.mean()) if values.size else np.nan, "test_sem": sem(values),
                    "n": int(values.size), "optimum": float(best.to_numpy()[ok].mean()) if ok.any() else np.nan,
                    "regret": ci.estimate, "regret_low": ci.low, "regret_high": ci.high,
                })
            if "lga" in per_case and "cma" in per_case:
                x, y = per_case["lga"].to_numpy(), per_case["cma"].to_numpy()
                test = wilcoxon_paired(x, y)
                ok = np.isfinite(x) & np.isfinite(y)
                diff = bootstrap_mean_ci((x - y)[ok], n_boot=n_boot, seed=seed,
                                         key=(model, editor, dataset, metric, "lga-cma"))
                paired_rows.append({
                    "model": model, "editor": editor, "dataset": dataset, "metric": metric,
                    "lga_layer": lga_choice.layer, "cma_layer": cma_choice.layer,
                    "lga_score": float(np.nanmean(x[ok])) if ok.any() else np.nan,
                    "cma_score": float(np.nanmean(y[ok])) if ok.any() else np.nan,
                    "lga_minus_cma": test.mean_difference, "diff_low": diff.low, "diff_high": diff.high,
                    "wilcoxon_stat": test.statistic, "p_value": test.p_value, "n_pairs": test.n_pairs,
                    "n_nonzero": test.n_nonzero, "note": test.note,
                })
    regret = pd.DataFrame(regret_rows, columns=REGRET_COLUMNS)
    regret = _order(regret, "locator", LOCATOR_ORDER)
    for column in ("layer", "unrestricted_layer"):
        regret[column] = regret[column].astype("Int64")
    regret["n"] = regret["n"].fillna(0).astype("int64")
    paired = pd.DataFrame(paired_rows, columns=PAIRED_COLUMNS)
    paired = _order(paired, None, ())
    for column in ("lga_layer", "cma_layer"):
        paired[column] = paired[column].astype("Int64")
    return regret, paired


def _order(frame: pd.DataFrame, extra: str | None, extra_order) -> pd.DataFrame:
    if frame.empty:
        return frame.reset_index(drop=True)
    frame = frame.copy()
    frame["_m"] = frame["metric"].map({m: i for i, m in enumerate(METRICS)})
    by = ["model", "editor", "dataset", "_m"]
    if extra:
        frame["_x"] = frame[extra].map({m: i for i, m in enumerate(extra_order)})
        by.append("_x")
    frame = frame.sort_values(by).drop(columns=[c for c in ("_m", "_x") if c in frame.columns])
    return frame.reset_index(drop=True)


def wide_locators(golden: pd.DataFrame, regret: pd.DataFrame, paired: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, editor, dataset, metric): each locator's layer, test score and regret side by side."""
    base = golden[[*KEYS, "metric", "test_best_layer", "test_best_score", "sample_wise_optimum", "n_test"]].copy()
    for locator in ("bf", "lga", "cma"):
        sel = regret[regret["locator"] == locator]
        cols = {"layer": f"{locator}_layer", "test_mean": f"{locator}_score", "test_sem": f"{locator}_sem",
                "regret": f"{locator}_regret", "regret_low": f"{locator}_regret_low",
                "regret_high": f"{locator}_regret_high"}
        part = sel[[*KEYS, "metric", *cols]].rename(columns=cols)
        base = base.merge(part, on=[*KEYS, "metric"], how="left")
        if locator not in set(regret["locator"]):
            for column in cols.values():
                base[column] = pd.array([pd.NA] * len(base), dtype="Int64" if column.endswith("_layer") else "Float64")
    if len(paired):
        base = base.merge(paired[[*KEYS, "metric", "lga_minus_cma", "p_value", "n_pairs"]], on=[*KEYS, "metric"],
                          how="left")
    else:
        base["lga_minus_cma"] = np.nan
        base["p_value"] = np.nan
        base["n_pairs"] = pd.array([pd.NA] * len(base), dtype="Int64")
    return base
