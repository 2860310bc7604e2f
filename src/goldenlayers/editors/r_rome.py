"""R-ROME (Gupta et al., 2024, "Rebuilding ROME"): ROME with the key used consistently.

ROME computes u from the key averaged over context prefixes but divides by the bare prompt's key, which
can blow the update up ("model collapse"). R-ROME uses the prefix-averaged key k and output v on both
sides: dW = (v* - v) u^T / (k . u) with v* = target_init + delta, so the edited weight maps k to v*.
"""

from __future__ import annotations

import torch

from .request import EditContext, EditRequest
from .rome import ROME, left_vector
from .target_value import value_info
from .values import optimize_target


class RROME(ROME):
    name = "r-rome"

    def compute_deltas(self, ctx: EditContext, request: EditRequest, layer: int) -> tuple[dict[int, torch.Tensor], dict]:
        u, key, output = left_vector(ctx, request, layer)
        value = optimize_target(ctx, request, self.value_site(layer, ctx.layout.n_layers, ctx.hparams).module(ctx.layout))
        target = value.target_init + value.delta
        right = (target - output) / torch.dot(key, u)
        return {layer: torch.outer(right, u)}, value_info(value)
