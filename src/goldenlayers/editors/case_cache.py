"""A layer sweep's per-case scope: what every layer's edit of one case can share, computed once.

Inside :func:`case_cache` (entered by a caller that edits one case at many layers, one layer at a time, with the
weights restored in between), a computation on the *unedited* model that does not depend on the edited layer is
done once per case instead of once per layer: the fast path's no-grad forward of the value problem
(:mod:`~goldenlayers.editors.fastpath`) and the keys and projection outputs of every layer
(:func:`~goldenlayers.editors.keys.projection_io_at`). A stored result is the very computation the edit would
have done (same batch, same operations), so the numbers are bit for bit those of recomputing it.

Each kind of result keeps one entry (the latest case), so memory stays bounded. The caller promises that the
weights are the unedited ones whenever an edit is computed; a fingerprint of the rewritten weights guards that
promise: an entry computed under other weights is computed again.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, TypeVar

import torch

T = TypeVar("T")
_scope: dict[str, tuple[Any, tuple[float, ...], Any]] | None = None


@contextlib.contextmanager
def case_cache() -> Iterator[None]:
    """Share the per-case computations across layers (and editors) inside this scope."""
    global _scope
    previous = _scope
    _scope = {}
    try:
        yield
    finally:
        _scope = previous


def active() -> bool:
    return _scope is not None


def weights_fingerprint(layout) -> tuple[float, ...]:
    """Per layer, the sum of the rewritten projection's weights (an edit changes it)."""
    with torch.no_grad():
        return tuple(float(layout.rewrite_weight(l).double().sum()) for l in range(layout.n_layers))


def entry(kind: str) -> Any:
    """The raw entry of ``kind`` in the open scope (None if there is none, or no scope is open)."""
    return None if _scope is None else _scope.get(kind)


def put(kind: str, value: Any) -> None:
    """Store ``value`` as the entry of ``kind`` in the open scope (a no-op outside one)."""
    if _scope is not None:
        _scope[kind] = value


def shared(kind: str, key: Any, layout, compute: Callable[[], T]) -> T:
    """``compute()``, or the stored result of the same ``kind`` and ``key`` computed under the same weights.

    Outside a :func:`case_cache` scope this is ``compute()``. A ``None`` result is not stored."""
    if _scope is None:
        return compute()
    fingerprint = weights_fingerprint(layout)
    entry = _scope.get(kind)
    if entry is not None and entry[0] == key and entry[1] == fingerprint:
        return entry[2]
    value = compute()
    if value is None:
        _scope.pop(kind, None)
    else:
        _scope[kind] = (key, fingerprint, value)  # one case per kind: replaces the previous case's entry
    return value
