"""R-ROME (Gupta et al., 2024, "Rebuilding ROME"): ROME with the key used consistently.

ROME computes u from the key averaged over context prefixes but divides by the bare prompt's key, which
can blow the update up ("model collapse"). R-ROME uses one key k and its output v on both sides:
dW = (v* - v) u^T / (k . u) with v* = target_init + delta, so the edited weight maps k to v*. The key is the
average over the context prefixes (``enable_random_prefix_keys: true``, R-ROME's default) or the bare
prompt's own key (``false``).
"""

from __future__ import annotations

import torch

from .keys import bare_prompt_io, inverse_second_moment_times
from .request import EditContext, EditRequest
from .rome import ROME, left_vector
from .target_value import value_info
from .values import optimize_target


def prompt_left_vector(ctx: EditContext, request: EditRequest,
                       layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(u, key, projection output) from the bare prompt alone (no context prefixes)."""
    key_in, key_out = bare_prompt_io(ctx, request, layer)
    key = key_in.float()
    u = inverse_second_moment_times(ctx, layer, key.unsqueeze(0))[0] if ctx.hparams["mom2_adjustment"] else key
    return u / u.norm(), key, key_out.float()


class RROME(ROME):
    name = "r-rome"

    def compute_deltas(self, ctx: EditContext, request: EditRequest, layer: int) -> tuple[dict[int, torch.Tensor], dict]:
        keys = left_vector if ctx.hparams.get("enable_random_prefix_keys", True) else prompt_left_vector
        u, key, output = keys(ctx, request, layer)
        value = optimize_target(ctx, request, self.value_site(layer, ctx.layout.n_layers, ctx.hparams).module(ctx.layout))
        target = value.target_init + value.delta
        right = (target - output) / torch.dot(key, u)
        return {layer: torch.outer(right, u)}, value_info(value)
