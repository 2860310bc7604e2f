"""The one place edits are written into a model's weights, and restored bit-exactly.

Single-fact editing: every edit is applied, used (evaluated, or, inside MEMIT, the next layer's keys read
with it in place) and undone before the next. The originals are saved and copied back, not subtracted, so
no rounding accumulates over thousands of edits.
"""

from __future__ import annotations

import torch

_applied: dict[int, list["AppliedEdit"]] = {}  # id(model) -> the AppliedEdit blocks open on it now


def applied_layers(model) -> set[int]:
    """The layers whose rewritten weights an open :class:`AppliedEdit` block has changed (empty: none)."""
    return {layer for edit in _applied.get(id(model), []) for layer in edit.saved}


class AppliedEdit:
    """Context manager: add (out, in) deltas to the rewritten weights; the originals come back on exit.

    ``deltas`` are applied on entry; :meth:`add` applies more inside the block (MEMIT's layer after layer).
    """

    def __init__(self, layout, deltas: dict[int, torch.Tensor] | None = None):
        self.layout, self.deltas, self.saved = layout, dict(deltas or {}), {}

    def add(self, layer: int, delta: torch.Tensor) -> None:
        if layer not in self.saved:
            self.saved[layer] = self.layout.rewrite_weight(layer).detach().clone()
        self.layout.add_to_weight(layer, delta)

    def __enter__(self):
        _applied.setdefault(id(self.layout.model), []).append(self)
        for layer, delta in self.deltas.items():
            self.add(layer, delta)
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for layer, original in self.saved.items():
                self.layout.rewrite_weight(layer).copy_(original)
        open_edits = _applied.get(id(self.layout.model), [])
        if self in open_edits:
            open_edits.remove(self)
        if not open_edits:
            _applied.pop(id(self.layout.model), None)
        return False
