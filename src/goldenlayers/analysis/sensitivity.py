"""Proxy-size sensitivity: how the golden layer and its test regret behave as the proxy set grows.

For proxy size s (1 .. the full proxy split) draw ``repeats`` seeded subsets of s proxy cases without
replacement. The same subsets serve every locator and editor (paired design). On each subset:

- BF: argmax of the mean proxy score over the grid, per editor and metric;
- LGA: contributions summed over the subset, Tukey fences recomputed, argmax over kept grid layers;
- CMA: mean restored probability over the subset, argmax over the grid.

Choices are tie sets, scored by the one tie rule (mean over the tied layers). The sweep grid is where the
test split has edits for every choice a subset can make, so this analysis stays on the grid: each editor's own
grid (the layers of its proxy edits; MEMIT may be edited at every third layer where R-ROME is edited at all),
so LGA's and CMA's picks are made per editor grid and never land on a layer the editor was not edited at.

Per (model, editor, dataset, metric, locator, size): ``agreement_full`` is the fraction of subsets whose
tie set equals the choice on the whole proxy split; ``agreement_test_best`` the fraction whose tie set lies
within the test-best layers; subsets where the locator chose no layer are left out of both (``n_chosen``
counts the others; no choice at all gives NaN, not 0). ``regret`` is the mean over subsets of (sample-wise
optimum on test - test score at the choice), with the 2.5/97.5 percentiles over subsets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .locators import lga_choice_from_cases, cma_choice_from_cases
from .scores import case_matrix, metrics_present
from .stats import rng_for
from .ties import parse_ties, tie_mean, tied_layers

SENSITIVITY_COLUMNS = [
    "model", "editor", "dataset", "metric", "locator", "proxy_size", "n_draws", "n_chosen", "n_failed",
    "agreement_full",
    "agreement_test_best", "regret", "regret_low", "regret_high",
]


def proxy_sizes(n_proxy: int, max_points: int = 8) -> list[int]:
    """Roughly geometric sizes from 1 to ``n_proxy`` (always both ends), at most ``max_points`` of them."""
    if n_proxy < 1:
        return []
    sizes = np.unique(np.round(np.geomspace(1, n_proxy, num=min(max_points, n_proxy))).astype(int))
    return sorted(set(int(s) for s in sizes) | {1, n_proxy})


def _bf_pick(proxy: np.ndarray, layers: list[int], rows: np.ndarray) -> list[int]:
    with np.errstate(all="ignore"):
        sub = proxy[rows]
        counts = np.isfinite(sub).sum(axis=0)
        means = np.where(counts > 0, np.nansum(sub, axis=0) / np.maximum(counts, 1), np.nan)
    return tied_layers(pd.Series(means, index=layers))


def editor_grid(cases: pd.DataFrame, model: str, editor: str, dataset: str) -> list[int]:
    """The sweep grid of (model, editor, dataset): the layers of its proxy edits (every layer of its edits if it
    has no proxy edit). Test edits at a locator's off-grid choice are not part of it."""
    sel = cases[(cases["model"] == model) & (cases["editor"] == editor) & (cases["dataset"] == dataset)]
    proxy = sel[sel["split"] == "proxy"]
    return sorted(int(layer) for layer in (proxy if len(proxy) else sel)["layer"].unique())


def _locator_picks(locator_cases: dict, model: str, dataset: str, proxy_ids: list[str], draws: dict,
                   grid: list[int], tukey_k: float, quantile_method: str) -> tuple[dict, dict]:
    """LGA's and CMA's choices within ``grid``: (locator -> size -> tie set per draw, locator -> tie set on the
    whole proxy split). A locator without per-case rows for (model, dataset) is left out."""
    picks: dict[str, dict[int, list]] = {}
    full: dict[str, list[int]] = {}
    for kind, frame in locator_cases.items():
        if frame is None or frame.empty:
            continue
        frame = frame[(frame["model"] == model) & (frame["dataset"] == dataset)]
        if frame.empty:
            continue
        pick = ((lambda ids, f=frame: lga_choice_from_cases(f, ids, grid, tukey_k, quantile_method))
                if kind == "lga" else (lambda ids, f=frame: cma_choice_from_cases(f, ids, grid)))
        full[kind] = pick(proxy_ids)
        picks[kind] = {s: [pick([proxy_ids[i] for i in d]) for d in ds] for s, ds in draws.items()}
    return picks, full


def proxy_size_sensitivity(cases: pd.DataFrame, golden: pd.DataFrame, lga_cases: pd.DataFrame | None = None,
                           cma_cases: pd.DataFrame | None = None, repeats: int = 50, seed: int = 0,
                           tukey_k: float = 1.0, quantile_method: str = "linear", failed: str = "drop",
                           max_points: int = 8) -> pd.DataFrame:
    """The proxy-size table (module docstring): one row per (model, editor, dataset, metric, locator, size)."""
    rows = []
    locator_cases = {"lga": lga_cases, "cma": cma_cases}
    for (model, dataset), by_data in golden.groupby(["model", "dataset"], sort=True):
        proxy_ids = sorted(cases.loc[(cases["model"] == model) & (cases["dataset"] == dataset)
                                     & (cases["split"] == "proxy"), "case_id"].astype(str).unique())
        draws = {s: [np.sort(rng_for(seed, "proxy-size", model, dataset, s, r).choice(len(proxy_ids), s, replace=False))
                     for r in range(repeats if s < len(proxy_ids) else 1)]
                 for s in proxy_sizes(len(proxy_ids), max_points)}
        by_grid: dict[tuple, tuple[dict, dict]] = {}  # editors sharing a grid share the locators' picks
        for _, row in by_data.iterrows():
            editor, metric = row["editor"], row["metric"]
            grid = tuple(editor_grid(cases, model, editor, dataset))
            if grid not in by_grid:
                by_grid[grid] = _locator_picks(locator_cases, model, dataset, proxy_ids, draws, list(grid),
                                               tukey_k, quantile_method)
            locator_picks, locator_full = by_grid[grid]
            cell = cases[(cases["model"] == model) & (cases["editor"] == editor) & (cases["dataset"] == dataset)]
            n_failed = int((cell["status"].astype(str) == "failed").sum())
            if metric not in metrics_present(cases, model, editor, dataset, "test"):
                # nothing scored on test (e.g. every edit failed): a row with missing values and the count
                rows.append({"model": model, "editor": editor, "dataset": dataset, "metric": metric, "locator": "bf",
                             "proxy_size": len(proxy_ids), "n_draws": 0, "n_chosen": 0, "n_failed": n_failed,
                             "agreement_full": np.nan, "agreement_test_best": np.nan, "regret": np.nan,
                             "regret_low": np.nan, "regret_high": np.nan})
                continue
            test = case_matrix(cases, model, editor, dataset, "test", metric, failed)
            test_means = test.mean(axis=0, skipna=True)
            optimum = float(row["sample_wise_optimum"])
            best_ties = set(parse_ties(row["test_best_ties"]))
            proxy = case_matrix(cases, model, editor, dataset, "proxy", metric, failed).reindex(
                index=proxy_ids, columns=test.columns)
            layers = [int(c) for c in proxy.columns]
            proxy_arr = proxy.to_numpy(dtype="float64")
            picks = {"bf": {s: [_bf_pick(proxy_arr, layers, d) for d in ds] for s, ds in draws.items()},
                     **locator_picks}
            full = {"bf": set(parse_ties(row["proxy_ties"])), **{k: set(v) for k, v in locator_full.items()}}
            for locator, by_size in picks.items():
                for size, chosen in by_size.items():
                    valid = [c for c in chosen if c and all(layer in test_means.index for layer in c)]
                    regrets = np.array([optimum - tie_mean(test_means, c) for c in valid])
                    agree = [set(c) == full[locator] for c in valid] if full[locator] else []
                    rows.append({
                        "model": model, "editor": editor, "dataset": dataset, "metric": metric, "locator": locator,
                        "proxy_size": size, "n_draws": len(chosen), "n_chosen": len(valid), "n_failed": n_failed,
                        "agreement_full": float(np.mean(agree)) if agree else np.nan,
                        "agreement_test_best": (float(np.mean([set(c) <= best_ties for c in valid])) if valid
                                                else np.nan),
                        "regret": float(regrets.mean()) if regrets.size else np.nan,
                        "regret_low": float(np.quantile(regrets, 0.025)) if regrets.size else np.nan,
                        "regret_high": float(np.quantile(regrets, 0.975)) if regrets.size else np.nan,
                    })
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
