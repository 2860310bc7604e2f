"""The locators' proxy set: the edit jobs' proxy split, topped up with further cases of the dataset.

LGA and CMA cost a few forward/backward passes per case, far less than brute force's edit of every case at
every layer, so they can rest on more cases. Their set is the proxy split first (so brute force and the
locators share those cases, and runtimes can be compared on the same cases), then a seeded draw from the
dataset's other cases that are in neither split, up to ``size`` cases in all. Never a test case.
"""

from __future__ import annotations

import numpy as np


def locator_proxy(proxy: list, pool: list, exclude_ids, size: int | None, seed: int = 0) -> list:
    """``proxy`` plus up to ``size - len(proxy)`` cases of ``pool`` not in ``proxy`` nor ``exclude_ids``
    (drawn with ``seed``, in a fixed order); ``size`` None or <= len(proxy): the proxy split alone."""
    if size is None or size <= len(proxy):
        return list(proxy)
    taken = {str(c.case_id) for c in proxy} | {str(i) for i in exclude_ids}
    rest = sorted((c for c in pool if str(c.case_id) not in taken), key=lambda c: str(c.case_id))
    order = np.random.default_rng([int(seed), 7]).permutation(len(rest))
    return list(proxy) + [rest[i] for i in order[: size - len(proxy)]]
