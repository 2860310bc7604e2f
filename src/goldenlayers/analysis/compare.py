"""Locators judged on the test split, each at the layer it chose: scores, regret with bootstrap intervals, LGA vs CMA.

For one (model, editor, dataset, metric) and a locator that picks the tie set T (usually one layer):

- ``test_mean``/``test_sem``: mean (SEM) over test cases of the case's score at T (the mean over T's layers:
  the tie rule of :mod:`goldenlayers.analysis.ties`);
- ``regret``: the mean over test cases of (case's best score over the *evaluated layers*) - (score at T), i.e.
  the sample-wise optimum minus what the locator achieves, with a seeded percentile bootstrap interval;
- the evaluated layers are the editor's sweep grid (on this dataset) plus every layer a locator chose for this
  (model, dataset) (the ``edit_choice`` jobs edit the test split there); they are listed in ``evaluated_layers``;
- ``test_best``'s label is drawn from its ties with the seed and key :func:`goldenlayers.analysis.golden.golden_layers`
  uses, so both tables name the same layer where the evaluated layers tie as the grid's do;
- locators: ``bf`` (brute-force golden layer on the proxy split, over the grid), ``lga``, ``cma`` (each over
  every layer), and the oracle ``test_best`` (the best fixed evaluated layer on test itself).

LGA against CMA: per-case test scores at their choices, paired by case, Wilcoxon signed-rank, with Holm's
correction over the rows of one editor (the cells of its Fig. 3).
A locator that was not run (its file absent) simply has no rows; its columns in the wide table are empty.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .locators import Choice, choice, diagnostics
from .scores import KEYS, METRICS, case_matrix, sem
from .stats import bootstrap_mean_ci, holm, wilcoxon_paired
from .ties import draw_tied, format_ties, parse_ties, tie_case_scores, tied_layers

log = logging.getLogger(__name__)

LOCATOR_ORDER = ("bf", "lga", "cma", "test_best")
REGRET_COLUMNS = [
    "model", "editor", "dataset", "metric", "locator", "layer", "ties", "grid_ties", "test_mean", "test_sem",
    "n", "n_failed", "optimum", "regret", "regret_low", "regret_high", "evaluated_layers", "note",
]
PAIRED_COLUMNS = [
    "model", "editor", "dataset", "metric", "lga_layer", "cma_layer", "lga_ties", "cma_ties", "lga_score",
    "cma_score", "lga_minus_cma", "diff_low", "diff_high", "wilcoxon_stat", "p_value", "p_holm", "n_pairs",
    "n_nonzero", "n_failed", "note",
]


def _locator_ties(golden_row: pd.Series, picks: dict[str, Choice | None], test_ties: list[int],
                  seed: int) -> dict[str, tuple]:
    """locator -> (label layer, tie set, grid tie set). The test-best label is drawn from its ties as
    :func:`goldenlayers.analysis.golden.golden_layers` draws it (same seed and key), so where the evaluated layers
    are the grid's the two tables name the same layer."""
    out: dict[str, tuple] = {}
    bf = parse_ties(golden_row["proxy_ties"])
    label = golden_row["proxy_golden_layer"]
    out["bf"] = (None if pd.isna(label) else int(label), bf, bf)
    for kind, pick in picks.items():
        if pick is not None:
            out[kind] = (pick.layer, list(pick.ties), list(pick.grid_ties))
    key = (golden_row["model"], golden_row["editor"], golden_row["dataset"], golden_row["metric"])
    out["test_best"] = (draw_tied(test_ties, seed, *key, "test_best"), test_ties, [])
    return out


def evaluated_layers(cases: pd.DataFrame, model: str, editor: str, dataset: str) -> list[int]:
    """The layers with test edits of (model, editor, dataset): the editor's grid plus the locators' own choices."""
    sel = cases[(cases["model"] == model) & (cases["editor"] == editor) & (cases["dataset"] == dataset)
                & (cases["split"] == "test")]
    return sorted(int(layer) for layer in sel["layer"].unique())


def compare_locators(cases: pd.DataFrame, golden: pd.DataFrame, lga: pd.DataFrame, cma: pd.DataFrame,
                     n_boot: int = 2000, seed: int = 0,
                     failed: str = "drop") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return (``regret`` long table, ``lga_vs_cma`` paired-test table, per-case scores). ``cases`` holds the
    grid edits of both splits plus the test edits at the locators' chosen layers. The per-case frame has one
    row per (model, editor, dataset, metric, test case): ``optimum`` and the score at each locator's choice."""
    regret_rows, paired_rows, case_frames = [], [], []
    for (model, editor, dataset), group in golden.groupby(list(KEYS), sort=True):
        evaluated = evaluated_layers(cases, model, editor, dataset)
        picks = {"lga": choice(lga, "lga", model, dataset, None, seed) if len(lga) else None,
                 "cma": choice(cma, "cma", model, dataset, None, seed) if len(cma) else None}
        cell = cases[(cases["model"] == model) & (cases["editor"] == editor) & (cases["dataset"] == dataset)
                     & (cases["split"] == "test")]
        failed_rows = cell[cell["status"].astype(str) == "failed"]
        for _, row in group.iterrows():
            metric = row["metric"]
            matrix = case_matrix(cases, model, editor, dataset, "test", metric, failed)
            best = matrix.max(axis=1, skipna=True) if not matrix.empty else pd.Series(dtype="float64")
            test_ties = tied_layers(matrix.mean(axis=0, skipna=True)) if not matrix.empty else []
            per_case: dict[str, pd.Series] = {}
            for locator, (label, ties, grid_ties) in _locator_ties(row, picks, test_ties, seed).items():
                base = {"model": model, "editor": editor, "dataset": dataset, "metric": metric, "locator": locator,
                        "layer": label, "ties": format_ties(ties), "grid_ties": format_ties(grid_ties),
                        "n_failed": int(failed_rows["layer"].isin(ties).sum()),
                        "evaluated_layers": format_ties(evaluated)}
                missing = [t for t in ties if t not in matrix.columns]
                if not ties or missing:
                    note = ("no layer chosen" if not ties else
                            f"layer(s) {format_ties(missing)} not evaluated" + (" (every case failed)"
                                                                                if base["n_failed"] else ""))
                    regret_rows.append({**base, "n": 0, "note": note})
                    continue
                achieved = tie_case_scores(matrix, ties)
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
                    "note": "" if values.size else "every case failed",
                })
            if len(best):
                case_frames.append(pd.DataFrame({"model": model, "editor": editor, "dataset": dataset,
                                                 "metric": metric, "case_id": best.index.astype(str),
                                                 "optimum": best.to_numpy(dtype="float64"),
                                                 **{k: v.reindex(best.index).to_numpy(dtype="float64")
                                                    for k, v in per_case.items()}}))
            if "lga" in per_case and "cma" in per_case:
                paired_rows.append(_paired_row((model, editor, dataset, metric), per_case, picks, failed_rows,
                                               n_boot, seed))
    return _finish(regret_rows, paired_rows, case_frames)


def _paired_row(key: tuple, per_case: dict, picks: dict, failed_rows: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """One row of ``lga_vs_cma``: LGA's and CMA's per-case scores of one (model, editor, dataset, metric),
    paired over the test cases both have."""
    model, editor, dataset, metric = key
    x, y = per_case["lga"].to_numpy(), per_case["cma"].to_numpy()
    test = wilcoxon_paired(x, y)
    ok = np.isfinite(x) & np.isfinite(y)
    diff = bootstrap_mean_ci((x - y)[ok], n_boot=n_boot, seed=seed, key=(model, editor, dataset, metric, "lga-cma"))
    return {
        "model": model, "editor": editor, "dataset": dataset, "metric": metric,
        "lga_layer": picks["lga"].layer, "cma_layer": picks["cma"].layer,
        "lga_ties": format_ties(picks["lga"].ties), "cma_ties": format_ties(picks["cma"].ties),
        "lga_score": float(np.nanmean(x[ok])) if ok.any() else np.nan,
        "cma_score": float(np.nanmean(y[ok])) if ok.any() else np.nan,
        "lga_minus_cma": test.mean_difference, "diff_low": diff.low, "diff_high": diff.high,
        "wilcoxon_stat": test.statistic, "p_value": test.p_value, "n_pairs": test.n_pairs,
        "n_nonzero": test.n_nonzero, "note": test.note,
        "n_failed": int(failed_rows["layer"].isin(set(picks["lga"].ties) | set(picks["cma"].ties)).sum()),
    }


def _finish(regret_rows: list, paired_rows: list, case_frames: list) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three frames of :func:`compare_locators` from its rows: column order, dtypes, Holm's correction."""
    regret = pd.DataFrame(regret_rows, columns=REGRET_COLUMNS)
    regret = _order(regret, "locator", LOCATOR_ORDER)
    regret["layer"] = regret["layer"].astype("Int64")
    regret["n"] = regret["n"].fillna(0).astype("int64")
    regret["n_failed"] = regret["n_failed"].fillna(0).astype("int64")
    regret["note"] = regret["note"].fillna("")
    paired = pd.DataFrame(paired_rows, columns=PAIRED_COLUMNS)
    paired = _order(paired, None, ())
    if len(paired):
        paired["p_holm"] = paired.groupby("editor")["p_value"].transform(lambda p: pd.Series(holm(p.to_numpy()),
                                                                                              index=p.index))
    for column in ("lga_layer", "cma_layer"):
        paired[column] = paired[column].astype("Int64")
    per_case_columns = ["model", "editor", "dataset", "metric", "case_id", "optimum", *LOCATOR_ORDER]
    per_case_frame = (pd.concat(case_frames, ignore_index=True) if case_frames else pd.DataFrame())
    per_case_frame = per_case_frame.reindex(columns=per_case_columns)
    return regret, paired, per_case_frame


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


def wide_locators(golden: pd.DataFrame, regret: pd.DataFrame, paired: pd.DataFrame, lga: pd.DataFrame,
                  cma: pd.DataFrame, min_cases: int = 1) -> pd.DataFrame:
    """One row per (model, editor, dataset, metric): each locator's layer, test score, regret and n side by side,
    the failures of the cell, and what LGA's and CMA's choices rest on (cases processed, diagnostics, flags)."""
    base = golden[[*KEYS, "metric", "n_test", "n_failed"]].copy()
    best = regret[regret["locator"] == "test_best"][[*KEYS, "metric", "layer", "ties", "test_mean", "optimum",
                                                     "evaluated_layers"]]
    base = base.merge(best.rename(columns={"layer": "test_best_layer", "ties": "test_best_ties",
                                           "test_mean": "test_best_score", "optimum": "sample_wise_optimum"}),
                      on=[*KEYS, "metric"], how="left")
    for locator in ("bf", "lga", "cma"):
        sel = regret[regret["locator"] == locator]
        cols = {"layer": f"{locator}_layer", "ties": f"{locator}_ties", "test_mean": f"{locator}_score",
                "test_sem": f"{locator}_sem", "n": f"{locator}_n", "regret": f"{locator}_regret",
                "regret_low": f"{locator}_regret_low", "regret_high": f"{locator}_regret_high"}
        part = sel[[*KEYS, "metric", *cols]].rename(columns=cols)
        base = base.merge(part, on=[*KEYS, "metric"], how="left")
        base[f"{locator}_layer"] = base[f"{locator}_layer"].astype("Int64")
        base[f"{locator}_n"] = base[f"{locator}_n"].astype("Int64")
    for kind, frame in (("lga", lga), ("cma", cma)):
        diag = pd.DataFrame([{"model": m, "dataset": d, **diagnostics(frame, kind, m, d, min_cases)}
                             for m, d in base[["model", "dataset"]].drop_duplicates().itertuples(index=False)])
        if len(diag):
            base = base.merge(diag, on=["model", "dataset"], how="left")
    if len(paired):
        base = base.merge(paired[[*KEYS, "metric", "lga_minus_cma", "p_value", "p_holm", "n_pairs"]],
                          on=[*KEYS, "metric"], how="left")
    else:
        base["lga_minus_cma"] = np.nan
        base["p_value"] = np.nan
        base["p_holm"] = np.nan
        base["n_pairs"] = pd.array([pd.NA] * len(base), dtype="Int64")
    return base
