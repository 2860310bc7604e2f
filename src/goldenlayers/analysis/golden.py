"""Golden layers by brute force: the best layer on the proxy split, judged on the test split.

For one (model, editor, dataset, metric):

- proxy golden layer: argmax over the layer grid of the proxy mean; every layer within 1e-12 of the maximum
  is a tie (``proxy_ties``, ``;``-separated) and the lowest tied layer is the one reported and evaluated;
- its test score (mean and SEM over test cases);
- the test-best layer (with its ties) and score: the best one fixed layer could do on test;
- the sample-wise optimum: the mean over test cases of each case's best score over the layer grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .scores import (KEYS, METRICS, argmax_ties, case_matrix, groups, metrics_present, sample_wise_optimum,
                     sem)

TIE_SEP = ";"

GOLDEN_COLUMNS = [
    "model", "editor", "dataset", "metric",
    "proxy_golden_layer", "proxy_ties", "proxy_golden_score",
    "test_score_at_proxy_golden", "test_sem_at_proxy_golden",
    "test_best_layer", "test_best_ties", "test_best_score", "test_best_sem",
    "sample_wise_optimum", "sample_wise_optimum_sem",
    "n_layers", "n_proxy", "n_test", "n_failed", "n_failed_proxy", "n_failed_test",
]


def format_ties(layers: list[int]) -> str:
    return TIE_SEP.join(str(layer) for layer in layers)


def parse_ties(text: str) -> list[int]:
    return [int(part) for part in str(text).split(TIE_SEP) if part.strip() not in ("", "nan", "<NA>")]


def _score_at(layer_scores: pd.DataFrame, key: tuple, split: str, metric: str, layer) -> tuple[float, float]:
    if layer is None or (isinstance(layer, float) and np.isnan(layer)):
        return float("nan"), float("nan")
    row = layer_scores[
        (layer_scores["model"] == key[0]) & (layer_scores["editor"] == key[1]) & (layer_scores["dataset"] == key[2])
        & (layer_scores["split"] == split) & (layer_scores["metric"] == metric) & (layer_scores["layer"] == layer)
    ]
    if row.empty:
        return float("nan"), float("nan")
    return float(row["mean"].iloc[0]), float(row["sem"].iloc[0])


def split_means(layer_scores: pd.DataFrame, key: tuple, split: str, metric: str) -> pd.Series:
    """Mean score per layer (index: layer) of one group on one split."""
    sel = layer_scores[
        (layer_scores["model"] == key[0]) & (layer_scores["editor"] == key[1]) & (layer_scores["dataset"] == key[2])
        & (layer_scores["split"] == split) & (layer_scores["metric"] == metric)
    ]
    return sel.set_index("layer")["mean"].sort_index()


def golden_layers(cases: pd.DataFrame, layer_scores: pd.DataFrame, failed: str = "drop") -> pd.DataFrame:
    """The golden-layer table (docs/SCHEMAS.md, ``golden_layers``): one row per group and present metric."""
    rows = []
    for key in groups(cases):
        sel = cases[(cases["model"] == key[0]) & (cases["editor"] == key[1]) & (cases["dataset"] == key[2])]
        status_failed = sel["status"].astype(str) == "failed"
        counts = {
            "n_layers": int(sel["layer"].nunique()),
            "n_proxy": int(sel.loc[sel["split"] == "proxy", "case_id"].nunique()),
            "n_test": int(sel.loc[sel["split"] == "test", "case_id"].nunique()),
            "n_failed": int(status_failed.sum()),
            "n_failed_proxy": int((status_failed & (sel["split"] == "proxy")).sum()),
            "n_failed_test": int((status_failed & (sel["split"] == "test")).sum()),
        }
        for metric in metrics_present(cases, *key, split="proxy"):
            ties = argmax_ties(split_means(layer_scores, key, "proxy", metric))
            golden = ties[0] if ties else None
            test_means = split_means(layer_scores, key, "test", metric)
            test_ties = argmax_ties(test_means)
            best = test_ties[0] if test_ties else None
            optimum = sample_wise_optimum(case_matrix(cases, *key, "test", metric, failed))
            at_golden = _score_at(layer_scores, key, "test", metric, golden)
            at_best = _score_at(layer_scores, key, "test", metric, best)
            rows.append({
                **dict(zip(KEYS, key)), "metric": metric,
                "proxy_golden_layer": golden, "proxy_ties": format_ties(ties),
                "proxy_golden_score": _score_at(layer_scores, key, "proxy", metric, golden)[0],
                "test_score_at_proxy_golden": at_golden[0], "test_sem_at_proxy_golden": at_golden[1],
                "test_best_layer": best, "test_best_ties": format_ties(test_ties),
                "test_best_score": at_best[0], "test_best_sem": at_best[1],
                "sample_wise_optimum": float(optimum.mean()) if len(optimum) else float("nan"),
                "sample_wise_optimum_sem": sem(optimum.to_numpy()),
                **counts,
            })
    out = pd.DataFrame(rows, columns=GOLDEN_COLUMNS)
    out["metric"] = pd.Categorical(out["metric"], categories=list(METRICS), ordered=True)
    out = out.sort_values(["model", "editor", "dataset", "metric"]).reset_index(drop=True)
    out["metric"] = out["metric"].astype(str)
    for column in ("proxy_golden_layer", "test_best_layer"):
        out[column] = out[column].astype("Int64")
    return out
