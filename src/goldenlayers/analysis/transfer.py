"""Cross-dataset transfer: the golden layer found on dataset A's proxy split, scored on dataset B's test split.

One row per (model, editor, metric, locator, source A, target B). The diagonal (A = B) is the ordinary
proxy-to-test transfer. ``regret`` is B's sample-wise optimum minus the score; ``gap_to_own`` is what
B's own choice (same locator, B's proxy) scores minus the transferred layer's score (positive: B's own
layer is better). ``bf`` choices depend on the metric; LGA's and CMA's do not (one layer per model and
dataset), so their rows repeat the same layer across metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .locators import choice

TRANSFER_COLUMNS = [
    "model", "editor", "metric", "locator", "source", "target", "source_layer", "test_score", "test_sem", "n",
    "target_own_layer", "target_own_score", "target_best_score", "target_optimum", "regret", "gap_to_own",
]


def transfer_matrix(golden: pd.DataFrame, layer_scores: pd.DataFrame, lga: pd.DataFrame | None = None,
                    cma: pd.DataFrame | None = None) -> pd.DataFrame:
    test = layer_scores[layer_scores["split"] == "test"].set_index(["model", "editor", "dataset", "metric", "layer"])
    rows = []
    for (model, editor, metric), group in golden.groupby(["model", "editor", "metric"], sort=True):
        datasets = sorted(group["dataset"])
        grid = sorted(layer_scores.loc[layer_scores["model"] == model, "layer"].unique())
        chosen: dict[str, dict[str, int | None]] = {"bf": {}}
        for _, row in group.iterrows():
            layer = row["proxy_golden_layer"]
            chosen["bf"][row["dataset"]] = None if pd.isna(layer) else int(layer)
        for kind, frame in (("lga", lga), ("cma", cma)):
            if frame is None or frame.empty:
                continue
            picks = {d: choice(frame, kind, model, d, grid) for d in datasets}
            if any(p is not None for p in picks.values()):
                chosen[kind] = {d: (p.layer if p is not None else None) for d, p in picks.items()}
        info = group.set_index("dataset")
        for locator, layers in chosen.items():
            for source in datasets:
                for target in datasets:
                    layer = layers.get(source)
                    own = layers.get(target)
                    score, err, n = _lookup(test, model, editor, target, metric, layer)
                    own_score = _lookup(test, model, editor, target, metric, own)[0]
                    optimum = float(info.loc[target, "sample_wise_optimum"])
                    rows.append({
                        "model": model, "editor": editor, "metric": metric, "locator": locator, "source": source,
                        "target": target, "source_layer": layer, "test_score": score, "test_sem": err, "n": n,
                        "target_own_layer": own, "target_own_score": own_score,
                        "target_best_score": float(info.loc[target, "test_best_score"]), "target_optimum": optimum,
                        "regret": optimum - score, "gap_to_own": own_score - score,
                    })
    out = pd.DataFrame(rows, columns=TRANSFER_COLUMNS)
    for column in ("source_layer", "target_own_layer"):
        out[column] = out[column].astype("Int64")
    out["n"] = out["n"].astype("int64")
    return out


def _lookup(test: pd.DataFrame, model, editor, dataset, metric, layer) -> tuple[float, float, int]:
    if layer is None:
        return np.nan, np.nan, 0
    try:
        row = test.loc[(model, editor, dataset, metric, int(layer))]
    except KeyError:
        return np.nan, np.nan, 0
    return float(row["mean"]), float(row["sem"]), int(row["n"])
