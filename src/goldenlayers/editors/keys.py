"""Keys: the input of the rewritten MLP projection at the subject's last token, and C^{-1} k.

- :func:`subject_last_index`: the token where the fact is looked up (the subject's last, or the prompt's last
  with ``fact_token: last``);
- :func:`projection_io_at`: inputs and outputs of the rewritten projection at given positions (the forward
  pass stops right after it);
- :func:`keys_over_templates`: those at the subject's last token of the prompt under each context prefix;
- :func:`inverse_second_moment_times`: C^{-1} k, C = E[k k^T] over a corpus (:mod:`goldenlayers.stats.covariance`).
"""

from __future__ import annotations

import torch

from ..models.hooks import forward_until, hooks, main_output
from ..models.tokens import pad_batch
from . import case_cache
from .request import EditContext, EditRequest
from .weights import applied_layers


def fill(template: str, subject: str) -> str:
    return template.replace("{}", subject, 1)


def subject_last_index(tokenizer, template: str, subject: str, fact_token: str = "subject_last") -> int:
    """Index of the token where the fact is looked up: the subject's last token (or the prompt's last)."""
    if fact_token == "last":
        return len(tokenizer(fill(template, subject)).input_ids) - 1
    prefix = template[: template.index("{}")]
    return len(tokenizer(prefix + subject).input_ids) - 1


def projection_io_at(ctx: EditContext, layer: int, texts: list[str], positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, outputs) of the rewritten projection of ``layer`` at ``positions`` of each text.

    The forward pass stops right after that module, so upper layers cost nothing. Inside a layer sweep's
    :func:`~goldenlayers.editors.case_cache.case_cache` the same batch runs once through every block instead,
    and every layer's inputs/outputs are kept for the other layers' edits of the case (the same operations on
    the same batch, so the same numbers bit for bit).
    """
    ids, mask = pad_batch([tuple(ctx.tokenizer(t).input_ids) for t in texts], ctx.tokenizer.pad_token_id, ctx.device)
    if case_cache.active() and not applied_layers(ctx.model):  # (MEMIT reads keys with its own updates in place)
        key = ("projection_io", id(ctx.model), ids.tolist(), list(positions))
        every = case_cache.shared("projection_io", key, ctx.layout,
                                  lambda: _projection_io(ctx, range(ctx.layout.n_layers), ids, mask, positions))
        return every[layer]
    return _projection_io(ctx, [layer], ids, mask, positions)[layer]


def _projection_io(ctx: EditContext, layers, ids: torch.Tensor, mask: torch.Tensor,
                   positions: list[int]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """layer -> (inputs, outputs) of its rewritten projection at ``positions``; the forward stops after the
    highest of ``layers``."""
    rows = torch.arange(len(positions))
    captured: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def capture(layer):
        def hook(_module, inputs, output):
            captured[layer] = (inputs[0][rows, positions].detach(), main_output(output)[rows, positions].detach())
        return hook

    layers = list(layers)
    with torch.no_grad(), hooks([(ctx.layout.rewrite_module(l), capture(l)) for l in layers]):
        forward_until(ctx.layout.rewrite_module(max(layers)),
                      lambda: ctx.model.base_model(input_ids=ids, attention_mask=mask))
    return captured


def keys_over_templates(ctx: EditContext, request: EditRequest, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Projection inputs/outputs at the subject's last token of the prompt under each context template."""
    texts, positions = [], []
    for template in ctx.templates:
        prompt_template = request.under(template)
        texts.append(fill(prompt_template, request.subject))
        positions.append(subject_last_index(ctx.tokenizer, prompt_template, request.subject, ctx.hparams["fact_token"]))
    return projection_io_at(ctx, layer, texts, positions)


def bare_prompt_io(ctx: EditContext, request: EditRequest, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Projection input and output at the subject's last token of the bare prompt (no context prefix)."""
    position = subject_last_index(ctx.tokenizer, request.prompt_template, request.subject, ctx.hparams["fact_token"])
    key_in, key_out = projection_io_at(ctx, layer, [fill(request.prompt_template, request.subject)], [position])
    return key_in[0], key_out[0]


def inverse_second_moment_times(ctx: EditContext, layer: int, keys: torch.Tensor) -> torch.Tensor:
    """C^{-1} k for each row k of ``keys`` (C = second moment of the projection inputs at ``layer``)."""
    second = ctx.second_moment(layer).to(device=keys.device, dtype=torch.float64)
    solved = torch.linalg.solve(second, keys.to(torch.float64).T).T
    return solved.to(keys.dtype)
