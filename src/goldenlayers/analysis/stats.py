"""Statistics the analysis reports: seeded bootstrap intervals and the paired Wilcoxon signed-rank test."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ..io import stable_hash


def rng_for(seed: int, *key: object) -> np.random.Generator:
    """A generator seeded by the global seed and a group key: the same group gets the same draws whatever
    else the run contains or the order it is computed in."""
    return np.random.default_rng([int(seed), int(stable_hash([str(k) for k in key], length=15), 16)])


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int


def bootstrap_mean_ci(values, n_boot: int = 2000, level: float = 0.95, seed: int = 0, key: tuple = ()) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (finite values only), resampling cases.

    One value gives a zero-width interval; none gives NaNs."""
    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    estimate = float(values.mean())
    if n == 1 or np.all(values == values[0]):
        return Interval(estimate, estimate, estimate, n)
    rng = rng_for(seed, *key)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)  # bounded memory for large test sets
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(estimate, float(low), float(high), n)


@dataclass(frozen=True)
class PairedTest:
    statistic: float
    p_value: float
    n_pairs: int
    n_nonzero: int
    mean_difference: float
    note: str


def wilcoxon_paired(x, y) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of x against y over the pairs where both are finite.

    Zero differences are dropped (Wilcoxon's original treatment). With no non-zero difference (both locators
    picked the same layer, or scored identically case by case) there is no evidence of a difference: the
    statistic is 0 and p = 1. With no pair at all, both are NaN."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    mask = np.isfinite(x) & np.isfinite(y)
    x, y = x[mask], y[mask]
    diff = x - y
    n = int(diff.size)
    nonzero = int(np.count_nonzero(diff))
    mean_diff = float(diff.mean()) if n else float("nan")
    if n == 0:
        return PairedTest(float("nan"), float("nan"), 0, 0, mean_diff, "no paired cases")
    if nonzero == 0:
        return PairedTest(0.0, 1.0, n, 0, mean_diff, "all differences zero")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sps.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    return PairedTest(float(result.statistic), float(result.pvalue), n, nonzero, mean_diff, "")


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error) of the finite entries; NaN stays NaN."""
    p = np.asarray(p_values, dtype="float64")
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out
