"""Seeded proxy/test split of a dataset's cases.

The golden layer is chosen on the proxy split and scored on the test split, so the two are disjoint. The
cases are shuffled once with ``numpy.random.default_rng(seed)``; the proxy split is the first
``proxy_size`` cases of that order, the test split the next ``test_size`` (all the rest by default). Each
split is returned in source-file order. The same cases and seed give the same split on every machine.

Proxy size: ``proxy_size`` if given, else ``max(proxy_min, round(proxy_fraction * n))`` (rounding half
up). It must leave at least one test case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class SplitPlan:
    n_cases: int
    proxy_size: int
    test_size: int
    seed: int

    def as_metadata(self) -> dict[str, int]:
        return {"n_cases": self.n_cases, "proxy_size": self.proxy_size, "test_size": self.test_size, "seed": self.seed}


def proxy_size_for(n: int, *, proxy_size: int | None = None, proxy_fraction: float = 0.1, proxy_min: int = 10) -> int:
    """How many of ``n`` cases go to the proxy split (see the module docstring)."""
    if proxy_size is not None:
        if proxy_size < 1:
            raise InputError(f"must be at least 1, got {proxy_size}", field="split.proxy_size")
        size, how = proxy_size, f"split.proxy_size = {proxy_size}"
    else:
        if not 0.0 < proxy_fraction < 1.0:
            raise InputError(f"must be in (0, 1), got {proxy_fraction}", field="split.proxy_fraction")
        if proxy_min < 1:
            raise InputError(f"must be at least 1, got {proxy_min}", field="split.proxy_min")
        size = max(proxy_min, math.floor(proxy_fraction * n + 0.5))
        how = f"max(split.proxy_min = {proxy_min}, round(split.proxy_fraction = {proxy_fraction} x {n}))"
    if size >= n:
        raise InputError(
            f"proxy size {size} ({how}) leaves no test cases: the dataset has only {n} cases",
            field="split.proxy_size",
        )
    return size


def split_indices(
    n: int,
    *,
    seed: int,
    proxy_size: int | None = None,
    proxy_fraction: float = 0.1,
    proxy_min: int = 10,
    test_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray, SplitPlan]:
    """Positions (into the list of ``n`` cases, ascending) of the proxy and test cases, and the plan."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"must be a non-negative integer, got {seed!r}", field="split.seed")
    if test_size is not None and test_size < 1:
        raise InputError(f"must be at least 1 (or null for all the rest), got {test_size}", field="split.test_size")
    k = proxy_size_for(n, proxy_size=proxy_size, proxy_fraction=proxy_fraction, proxy_min=proxy_min)
    order = np.random.default_rng(seed).permutation(n)
    rest = order[k:] if test_size is None else order[k:k + test_size]
    proxy, test = np.sort(order[:k]), np.sort(rest)
    return proxy, test, SplitPlan(n_cases=n, proxy_size=len(proxy), test_size=len(test), seed=seed)
