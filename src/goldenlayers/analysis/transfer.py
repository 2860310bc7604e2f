"""Cross-dataset transfer: the golden layer found on dataset A's proxy split, scored on dataset B's test split.

One row per (model, editor, metric, locator, source A, target B). The diagonal (A = B) is the ordinary
proxy-to-test transfer. ``regret`` is B's sample-wise optimum minus the score; ``gap_to_own`` is what
B's own choice (same locator, B's proxy) scores minus the transferred layer's score (positive: B's own
layer is better). ``bf`` choices depend on the metric; LGA's and CMA's do not (one layer per model and
dataset), so their rows repeat the same layer across metrics. Ties follow the one tie rule
(:mod:`goldenlayers.analysis.ties`): a tied choice scores the mean over its tied layers. A layer without test
edits on the target (a locator's off-grid choice for another dataset, or a layer outside the target's own grid,
``datasets.<name>.layers``: a source tie that includes one such layer) is missing, never 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .locators import choice
from .ties import format_ties, parse_ties, tie_mean

TRANSFER_COLUMNS = [
    "model", "editor", "metric", "locator", "source", "target", "source_layer", "source_ties", "test_score",
    "test_sem", "n", "n_failed",
    "target_own_layer", "target_own_score", "target_best_score", "target_optimum", "regret", "gap_to_own",
]


def transfer_matrix(golden: pd.DataFrame, layer_scores: pd.DataFrame, lga: pd.DataFrame | None = None,
                    cma: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    test = layer_scores[layer_scores["split"] == "test"].set_index(["model", "editor", "dataset", "metric", "layer"])
    rows = []
    for (model, editor, metric), group in golden.groupby(["model", "editor", "metric"], sort=True):
        datasets = sorted(group["dataset"])
        chosen: dict[str, dict[str, tuple[int | None, list[int]]]] = {"bf": {}}
        for _, row in group.iterrows():
            label = row["proxy_golden_layer"]
            chosen["bf"][row["dataset"]] = (None if pd.isna(label) else int(label), parse_ties(row["proxy_ties"]))
        for kind, frame in (("lga", lga), ("cma", cma)):
            if frame is None or frame.empty:
                continue
            picks = {d: choice(frame, kind, model, d, None, seed) for d in datasets}
            if any(p is not None for p in picks.values()):
                chosen[kind] = {d: ((p.layer, list(p.ties)) if p is not None else (None, [])) for d, p in picks.items()}
        info = group.set_index("dataset")
        for locator, layers in chosen.items():
            for source in datasets:
                for target in datasets:
                    label, ties = layers.get(source, (None, []))
                    own = layers.get(target, (None, []))[1]
                    score, err, n, n_failed = _lookup(test, model, editor, target, metric, ties)
                    own_score = _lookup(test, model, editor, target, metric, own)[0]
                    optimum = float(info.loc[target, "sample_wise_optimum"])
                    rows.append({
                        "model": model, "editor": editor, "metric": metric, "locator": locator, "source": source,
                        "target": target, "source_layer": label, "source_ties": format_ties(ties),
                        "test_score": score, "test_sem": err, "n": n, "n_failed": n_failed,
                        "target_own_layer": layers.get(target, (None, []))[0], "target_own_score": own_score,
                        "target_best_score": float(info.loc[target, "test_best_score"]), "target_optimum": optimum,
                        "regret": optimum - score, "gap_to_own": own_score - score,
                    })
    out = pd.DataFrame(rows, columns=TRANSFER_COLUMNS)
    for column in ("source_layer", "target_own_layer"):
        out[column] = out[column].astype("Int64")
    out["n"] = out["n"].astype("int64")
    out["n_failed"] = out["n_failed"].astype("int64")
    return out


def _lookup(test: pd.DataFrame, model, editor, dataset, metric, ties) -> tuple[float, float, int, int]:
    """Tie-mean test score, SEM (of a single layer; NaN for a tie), n (smallest over the tied layers) and
    failures over the tied layers; NaN scores if a tied layer has no test edits."""
    if not ties:
        return np.nan, np.nan, 0, 0
    try:
        rows = [test.loc[(model, editor, dataset, metric, int(layer))] for layer in ties]
    except KeyError:
        return np.nan, np.nan, 0, 0
    means = pd.Series([float(r["mean"]) for r in rows], index=list(ties))
    n_failed = int(sum(int(r["n_failed"]) for r in rows))
    sem = float(rows[0]["sem"]) if len(rows) == 1 else np.nan
    return tie_mean(means, list(ties)), sem, int(min(int(r["n"]) for r in rows)), n_failed
