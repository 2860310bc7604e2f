"""Schema-correct synthetic inputs for the analysis stages, for the tests of the figure and table code.

Nothing here is a result. The numbers are drawn from smooth per-dataset layer profiles (a peak at a
dataset-dependent layer) plus case noise, so golden layers, ties, regret and transfer are all non-trivial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from goldenlayers.io import write_parquet

PORTABILITY_LESS = {"counterfact"}


def _peak(dataset: str, num_layers: int) -> float:
    return (0.25 + 0.5 * ((sum(map(ord, dataset)) % 7) / 6.0)) * (num_layers - 1)


def edit_results(model: str, editor: str, dataset: str, split: str, layer: int, n_cases: int, num_layers: int,
                 seed: int = 0, failed_every: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng([seed, layer, sum(map(ord, model + editor + dataset + split))])
    peak = _peak(dataset, num_layers) + (2 if editor != "r-rome" else 0)
    base = np.exp(-((layer - peak) / (0.35 * num_layers)) ** 2)
    ids = [f"{dataset}-{split}-{i}" for i in range(n_cases)]
    case_effect = np.random.default_rng([seed, sum(map(ord, dataset + split))]).normal(0, 0.1, n_cases)

    def metric(scale, offset=0.0):
        return np.clip(offset + scale * base + case_effect + rng.normal(0, 0.08, n_cases), 0, 1)

    frame = pd.DataFrame({
        "model": model, "model_revision": "synthetic", "editor": editor, "dataset": dataset, "split": split,
        "layer": np.int64(layer), "edited_layers": [[int(layer)] for _ in ids], "case_id": ids,
        "rewrite_acc": metric(0.9, 0.05), "rephrase_acc": metric(0.6, 0.05),
        "locality": np.clip(1 - 0.3 * base + rng.normal(0, 0.05, n_cases), 0, 1),
        "portability": np.nan if dataset in PORTABILITY_LESS else metric(0.3, 0.1),
        "pre_rewrite_acc": rng.uniform(0, 0.3, n_cases), "status": "ok", "failure_reason": None,
        "seconds": rng.uniform(0.5, 1.5, n_cases) * (1 + 0.02 * num_layers),
        "hparams_hash": "synthetic", "seed": np.int64(seed), "package_version": "synthetic",
    })
    frame["portability"] = frame["portability"].astype("float64")
    if failed_every:
        bad = np.arange(n_cases) % failed_every == failed_every - 1
        frame.loc[bad, ["rewrite_acc", "rephrase_acc", "locality", "portability"]] = np.nan
        frame.loc[bad, "status"] = "failed"
        frame.loc[bad, "failure_reason"] = "synthetic failure"
    return frame


def lga_tables(model: str, dataset: str, case_ids: Sequence[str], num_layers: int, seed: int = 0,
               k: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng([seed, 7, sum(map(ord, model + dataset))])
    layers = np.arange(num_layers)
    peak = _peak(dataset, num_layers) + rng.normal(0, 1.5)
    profile = np.exp(-((layers - peak) / (0.3 * num_layers)) ** 2)
    per_case = pd.DataFrame([
        {"case_id": cid, "layer": int(layer), "contribution": float(profile[layer] + rng.normal(0, 0.3))}
        for cid in case_ids for layer in layers])
    if num_layers > 2:  # one outlying layer, as the embedding-adjacent layers often are
        per_case.loc[per_case["layer"] == 0, "contribution"] += 3.0
    score = per_case.groupby("layer")["contribution"].sum().reindex(layers).to_numpy()
    q1, q3 = np.quantile(score, [0.25, 0.75])
    lo, hi = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    kept = (score >= lo) & (score <= hi)
    golden = int(layers[kept][np.argmax(score[kept])])
    summary = pd.DataFrame({
        "model": model, "dataset": dataset, "layer": layers.astype("int64"), "score": score, "kept": kept,
        "is_golden": layers == golden, "lower_fence": lo, "upper_fence": hi, "n_cases": np.int64(len(case_ids)),
        "seconds": float(0.4 * len(case_ids) * (1 + 0.05 * num_layers)),
        "mean_query_tokens": float(8 + (sum(map(ord, dataset)) % 9)),
    })
    return summary, per_case


def cma_tables(model: str, dataset: str, case_ids: Sequence[str], num_layers: int, seed: int = 0,
               window: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng([seed, 11, sum(map(ord, model + dataset))])
    layers = np.arange(num_layers)
    peak = 0.3 * (num_layers - 1) + rng.normal(0, 1.0)
    profile = 0.1 + 0.5 * np.exp(-((layers - peak) / (0.25 * num_layers)) ** 2)
    rows = []
    for cid in case_ids:
        p_clean, p_corrupt = float(rng.uniform(0.5, 0.9)), float(rng.uniform(0.0, 0.1))
        for layer in layers:
            rows.append({"case_id": cid, "layer": int(layer), "p_clean": p_clean, "p_corrupt": p_corrupt,
                         "p_restored": float(np.clip(p_corrupt + profile[layer] * p_clean + rng.normal(0, 0.05), 0, 1))})
    per_case = pd.DataFrame(rows)
    mean = per_case.groupby("layer")["p_restored"].mean().reindex(layers).to_numpy()
    summary = pd.DataFrame({
        "model": model, "dataset": dataset, "layer": layers.astype("int64"), "mean_effect": mean,
        "is_golden": layers == int(np.argmax(mean)), "n_cases": np.int64(len(case_ids)), "n_skipped": np.int64(0),
        "seconds": float(2.0 * len(case_ids) * (1 + 0.05 * num_layers)),
        "mean_query_tokens": float(8 + (sum(map(ord, dataset)) % 9)),
    })
    return summary, per_case


def write_tree(root: str | Path, models: dict[str, int], editors: Sequence[str], datasets: Sequence[str],
               layers: dict[str, Sequence[int]], n_proxy: int = 4, n_test: int = 6, seed: int = 0,
               lga: bool = True, cma: bool = True) -> dict[str, list[Path]]:
    """Write ``results/edits`` and ``results/locate`` files under ``root``; return the paths by kind. With ``lga``,
    also LGA on the test split (``lga_test``, ``lga_test_cases``: each test case's own contributions)."""
    root = Path(root)
    written: dict[str, list[Path]] = {"edits": [], "lga": [], "lga_cases": [], "cma": [], "cma_cases": [],
                                      "lga_test": [], "lga_test_cases": []}
    for model, num_layers in models.items():
        for dataset in datasets:
            for editor in editors:
                for split, n in (("proxy", n_proxy), ("test", n_test)):
                    for layer in layers[model]:
                        path = root / f"results/edits/{model}/{editor}/{dataset}/{split}/layers{layer}.parquet"
                        write_parquet(path, edit_results(model, editor, dataset, split, layer, n, num_layers, seed,
                                                         failed_every=5 if split == "test" else 0))
                        written["edits"].append(path)
            proxy_ids = [f"{dataset}-proxy-{i}" for i in range(n_proxy)]
            for kind, enabled, make in (("lga", lga, lga_tables), ("cma", cma, cma_tables)):
                if not enabled:
                    continue
                summary, per_case = make(model, dataset, proxy_ids, num_layers, seed)
                base = root / f"results/locate/{model}/{dataset}"
                write_parquet(base / f"{kind}.parquet", summary)
                write_parquet(base / f"{kind}_cases.parquet", per_case)
                written[kind].append(base / f"{kind}.parquet")
                written[f"{kind}_cases"].append(base / f"{kind}_cases.parquet")
            if lga:
                test_ids = [f"{dataset}-test-{i}" for i in range(n_test)]
                summary, per_case = lga_tables(model, dataset, test_ids, num_layers, seed + 1)
                base = root / f"results/locate/{model}/{dataset}"
                write_parquet(base / "lga_test.parquet", summary)
                write_parquet(base / "lga_test_cases.parquet", per_case)
                written["lga_test"].append(base / "lga_test.parquet")
                written["lga_test_cases"].append(base / "lga_test_cases.parquet")
    return written
