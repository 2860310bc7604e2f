"""Golden layers by brute force: the best layer on the proxy split, judged on the test split.

For one (model, editor, dataset, metric):

- proxy golden layer: argmax over the layer grid of the proxy mean, ties by the one tie rule
  (:mod:`goldenlayers.analysis.ties`: scored as the mean over the tied layers, ``proxy_ties`` lists them);
- its test score (mean and SEM over test cases of each case's tie-mean score);
- the test-best layer (with its ties) and score: the best one fixed layer could do on test;
- the sample-wise optimum: the mean over test cases of each case's best score over the layer grid.
"""

from __future__ import annotations

import pandas as pd

from .scores import KEYS, METRICS, case_matrix, group_metrics, groups, sample_wise_optimum, sem
from .ties import draw_tied, format_ties, parse_ties, tie_case_scores, tie_mean, tied_layers

__all__ = ["GOLDEN_COLUMNS", "golden_layers", "format_ties", "parse_ties", "split_means"]

GOLDEN_COLUMNS = [
    "model", "editor", "dataset", "metric",
    "proxy_golden_layer", "proxy_ties", "proxy_golden_score",
    "test_score_at_proxy_golden", "test_sem_at_proxy_golden", "n_at_proxy_golden",
    "test_best_layer", "test_best_ties", "test_best_score", "test_best_sem", "n_at_test_best",
    "sample_wise_optimum", "sample_wise_optimum_sem",
    "n_layers", "n_proxy", "n_test", "n_failed", "n_failed_proxy", "n_failed_test",
]


def split_means(layer_scores: pd.DataFrame, key: tuple, split: str, metric: str) -> pd.Series:
    """Mean score per layer (index: layer) of one group on one split."""
    sel = layer_scores[
        (layer_scores["model"] == key[0]) & (layer_scores["editor"] == key[1]) & (layer_scores["dataset"] == key[2])
        & (layer_scores["split"] == split) & (layer_scores["metric"] == metric)
    ]
    return sel.set_index("layer")["mean"].sort_index()


def golden_layers(cases: pd.DataFrame, layer_scores: pd.DataFrame, failed: str = "drop",
                  seed: int = 0) -> pd.DataFrame:
    """The golden-layer table (docs/SCHEMAS.md, ``golden_layers``): one row per group and metric. A group whose
    cases all failed still has its rows (scores missing, ``n_failed`` counted; under ``failed="unedited"`` scored
    as the unedited model)."""
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
        for metric in group_metrics(cases, *key):
            ties = tied_layers(split_means(layer_scores, key, "proxy", metric))
            test = case_matrix(cases, *key, "test", metric, failed)
            test_ties = tied_layers(split_means(layer_scores, key, "test", metric))
            at_golden = tie_case_scores(test, ties).dropna()
            at_best = tie_case_scores(test, test_ties).dropna()
            optimum = sample_wise_optimum(test)
            rows.append({
                **dict(zip(KEYS, key)), "metric": metric,
                "proxy_golden_layer": draw_tied(ties, seed, *key, metric, "bf"), "proxy_ties": format_ties(ties),
                "proxy_golden_score": tie_mean(split_means(layer_scores, key, "proxy", metric), ties),
                "test_score_at_proxy_golden": float(at_golden.mean()) if len(at_golden) else float("nan"),
                "test_sem_at_proxy_golden": sem(at_golden.to_numpy()), "n_at_proxy_golden": len(at_golden),
                "test_best_layer": draw_tied(test_ties, seed, *key, metric, "test_best"),
                "test_best_ties": format_ties(test_ties),
                "test_best_score": float(at_best.mean()) if len(at_best) else float("nan"),
                "test_best_sem": sem(at_best.to_numpy()), "n_at_test_best": len(at_best),
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
