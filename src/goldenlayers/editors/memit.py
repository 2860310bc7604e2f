"""MEMIT (Meng et al., 2023, "Mass-Editing Memory in a Transformer"), one fact at a time.

The edit is spread over a window of layers ``R`` (config ``multi_layer.window``, ``align`` end|center,
clipped at the model's ends) that ends at (or is centred on) the job's layer:

1. z = h + delta: the residual stream (the output of block ``max(R)``) at the subject's last token, with
   ``delta`` optimised by the shared core (:func:`~goldenlayers.editors.values.optimize_target` on
   ``layout.block(max(R))``); h is the bare prompt's residual there.
2. For each layer l in R, ascending: k_l = the projection input at the subject's last token, averaged as
   MEMIT's ``compute_ks`` does: the mean of (the bare prompt's key) and (the mean key over the prefixed
   prompts); the residual still missing at the top of the window, recomputed with the earlier layers'
   updates in place, r_l = (z - h_now) / (number of layers left, this one included); and the update

       dW_l = r_l k_l^T (lambda C_l + k_l k_l^T)^{-1}      (MEMIT's closed form; rank one for one fact)

   with C_l = E[k k^T] over a text corpus (:mod:`goldenlayers.stats.covariance`) and lambda =
   ``mom2_update_weight``. The update is applied before the next layer's keys are read (as MEMIT does).
3. The weights are restored (:class:`~goldenlayers.editors.weights.AppliedEdit`): :meth:`compute_deltas`
   returns the deltas and leaves the model as it found it.

``mom2_update_weight`` is either a number (the anchors' absolute value, tuned for their model) or the
relative form ``"<x>*d"``: lambda = x * d_in, where d_in is the projection's input width. Why: for
C = E[k k^T] the mean over corpus tokens of the Mahalanobis norm k^T C^{-1} k is exactly d_in
(tr(C^{-1} C)), so the part of the residual a layer writes for a typical key, q / (1 + q) with
q = k^T (lambda C)^{-1} k ~ d_in / lambda, stays what the anchors tuned only if lambda grows with d_in.
EasyEdit's LLaMA-7B value 15000 for d_in = 11008 becomes "1.3627*d" (2093 for SmolLM2's d_in = 1536, whose
absolute 15000 writes only ~10 % per layer and hardly edits). C is a mean, so the corpus size does not
enter (beyond the estimate's noise). See docs/editors.md.
"""

from __future__ import annotations

import re

import torch

from ..errors import ConfigError
from ..models.hooks import forward_until, hooks, main_output
from .keys import fill, keys_over_templates, subject_last_index
from .request import EditContext, EditRequest
from .target_value import value_info
from .values import ValueSite, optimize_target
from .weights import AppliedEdit

_RELATIVE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*d\s*$")


def edit_window(layer: int, n_layers: int, window: int, align: str) -> list[int]:
    """The edited layers: ``window`` layers ending at (align=end) or centred on (align=center) ``layer``,
    clipped at 0 and ``n_layers - 1`` (a clipped window is shorter, not shifted)."""
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}", field="multi_layer.window")
    if align == "end":
        first, last = layer - window + 1, layer
    elif align == "center":
        first = layer - (window - 1) // 2
        last = first + window - 1
    else:
        raise ConfigError(f"align must be 'end' or 'center', got {align!r}", field="multi_layer.align")
    return list(range(max(first, 0), min(last, n_layers - 1) + 1))


def resolve_update_weight(value, d_in: int) -> float:
    """lambda from ``mom2_update_weight``: a number as is, or ``"<x>*d"`` -> x * d_in (see module docstring)."""
    if isinstance(value, bool):
        raise ConfigError("mom2_update_weight must be a number or '<x>*d'", field="mom2_update_weight")
    if isinstance(value, (int, float)):
        weight = float(value)
    else:
        match = _RELATIVE.match(str(value))
        if not match:
            raise ConfigError(f"mom2_update_weight must be a number or '<x>*d' (x per key dimension), got {value!r}",
                              field="mom2_update_weight")
        weight = float(match.group(1)) * d_in
    if weight < 0:
        raise ConfigError(f"mom2_update_weight must be >= 0, got {value!r}", field="mom2_update_weight")
    return weight


def memit_key(ctx: EditContext, request: EditRequest, layer: int) -> torch.Tensor:
    """The projection input at the subject's last token, averaged as MEMIT's compute_ks: the mean over the
    template groups {bare prompt} and {prefixed prompts} of the mean key within each group."""
    keys, _ = keys_over_templates(ctx, request, layer)
    keys = keys.to(torch.float64)
    bare = torch.tensor([t == "{}" for t in ctx.templates], device=keys.device)
    groups = [keys[bare], keys[~bare]]
    return torch.stack([g.mean(0) for g in groups if len(g)]).mean(0)


def residual_at(ctx: EditContext, request: EditRequest, layer: int) -> torch.Tensor:
    """The output of block ``layer`` (the residual stream) at the subject's last token of the bare prompt."""
    position = subject_last_index(ctx.tokenizer, request.prompt_template, request.subject, ctx.hparams["fact_token"])
    ids = torch.tensor([ctx.tokenizer(fill(request.prompt_template, request.subject)).input_ids], device=ctx.device)
    block = ctx.layout.block(layer)
    captured: dict[str, torch.Tensor] = {}

    def capture(_module, _inputs, output):
        captured["h"] = main_output(output)[0, position].detach()

    with torch.no_grad(), hooks([(block, capture)]):
        forward_until(block, lambda: ctx.model.base_model(input_ids=ids))
    return captured["h"].to(torch.float64)


class MEMIT:
    name = "memit"

    def needs_stats(self, hparams) -> bool:
        return True

    def edited_layers(self, layer: int, n_layers: int, hparams) -> list[int]:
        return edit_window(layer, n_layers, int(hparams.get("window", 5)), str(hparams.get("align", "end")))

    def value_site(self, layer: int, n_layers: int, hparams) -> ValueSite:
        """Where z is optimised: the output of the window's top block (the residual stream)."""
        return ValueSite("block", self.edited_layers(layer, n_layers, hparams)[-1])

    def solve(self, key: torch.Tensor, residual: torch.Tensor, second_moment: torch.Tensor, hparams) -> tuple[torch.Tensor, dict]:
        """MEMIT's closed form for one key: dW = r (lambda C + k k^T)^{-1} k, as an (out, in) matrix."""
        weight = resolve_update_weight(hparams["mom2_update_weight"], second_moment.shape[0])
        system = weight * second_moment + torch.outer(key, key)
        adjusted = torch.linalg.solve(system, key)
        return torch.outer(residual, adjusted), {"lambda": weight, "written": float(key @ adjusted)}

    def compute_deltas(self, ctx: EditContext, request: EditRequest, layer: int) -> tuple[dict[int, torch.Tensor], dict]:
        hp, layout = ctx.hparams, ctx.layout
        layers = self.edited_layers(layer, layout.n_layers, hp)
        top = layers[-1]
        value = optimize_target(ctx, request, self.value_site(layer, layout.n_layers, hp).module(layout))
        z = (value.target_init + value.delta).to(torch.float64)
        info: dict = value_info(value)
        deltas: dict[int, torch.Tensor] = {}
        written: list[float] = []  # per layer: the share of its residual the update writes for this key
        with AppliedEdit(layout) as applied:  # each layer's keys are read with the earlier layers' updates in place
            for i, l in enumerate(layers):
                key = memit_key(ctx, request, l)
                residual = (z - residual_at(ctx, request, top)) / (len(layers) - i)
                if i == 0:
                    info["z_error_before"] = float(residual.norm() * len(layers))
                second = ctx.second_moment(l).to(device=key.device, dtype=torch.float64)
                delta, solve_info = self.solve(key, residual, second, hp)
                info["lambda"] = solve_info["lambda"]
                written.append(solve_info["written"])
                delta = delta.to(torch.float32)
                applied.add(l, delta)
                deltas[l] = delta
            info["z_error_after"] = float((z - residual_at(ctx, request, top)).norm())
            info["written_mean"] = sum(written) / len(written)
        return deltas, info
