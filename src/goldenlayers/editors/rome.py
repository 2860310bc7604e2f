"""ROME (Meng et al., 2022): a rank-one update of one MLP projection.

u = C^{-1} k / ||C^{-1} k|| (C^{-1} only with ``mom2_adjustment``), with k the key averaged over the
context prefixes; v* from the value optimisation at the MLP output; and, as in the original code, the
update divides by the key of the bare prompt: dW = (v* - v) u^T / (k_prompt . u), where v is the
projection's output on the bare prompt.
"""

from __future__ import annotations

import torch

from .keys import bare_prompt_io, inverse_second_moment_times, keys_over_templates
from .request import EditContext, EditRequest
from .target_value import value_info
from .values import ValueSite, optimize_target


def left_vector(ctx: EditContext, request: EditRequest, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(u, mean key over prefixes, mean projection output over prefixes) at ``layer``."""
    keys, outputs = keys_over_templates(ctx, request, layer)
    key = keys.float().mean(0)
    u = inverse_second_moment_times(ctx, layer, key.unsqueeze(0))[0] if ctx.hparams["mom2_adjustment"] else key
    return u / u.norm(), key, outputs.float().mean(0)


class ROME:
    name = "rome"

    def needs_stats(self, hparams) -> bool:
        return bool(hparams["mom2_adjustment"])

    def edited_layers(self, layer: int, n_layers: int, hparams) -> list[int]:
        return [layer]

    def value_site(self, layer: int, n_layers: int, hparams) -> ValueSite:
        """Where v* is optimised: the output of the MLP of the edited layer."""
        return ValueSite("mlp", layer)

    def compute_deltas(self, ctx: EditContext, request: EditRequest, layer: int) -> tuple[dict[int, torch.Tensor], dict]:
        u, _, _ = left_vector(ctx, request, layer)
        value = optimize_target(ctx, request, self.value_site(layer, ctx.layout.n_layers, ctx.hparams).module(ctx.layout))
        key_in, key_out = bare_prompt_io(ctx, request, layer)
        key_in, key_out = key_in.float(), key_out.float()
        target = key_out + value.delta
        right = (target - key_out) / torch.dot(key_in, u)
        return {layer: torch.outer(right, u)}, value_info(value)
