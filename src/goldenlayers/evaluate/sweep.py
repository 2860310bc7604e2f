"""A brute-force layer sweep of one case, through the fast or the reference compute path.

- ``fast`` (the workflow's path): the value optimisation runs on suffix tokens and upper blocks only
  (:mod:`goldenlayers.editors.fastpath`), its per-case forward is shared by all layers of the case
  (:func:`~goldenlayers.editors.fastpath.case_cache`); the pre-edit predictions are computed once per case
  (they do not depend on the layer); each evaluation is one padded batch with logits only at the answer
  positions.
- ``reference`` (what the common frameworks do): every optimisation step is a full forward with the full
  logits, and every evaluation query is its own forward pass with the full logits; the pre-edit predictions
  are recomputed for every layer, as a per-layer job does.

Both give the same per-case metrics (``tests/test_fastpath.py``, ``benchmarks/sweep_benchmark.py``).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Sequence

import torch

from ..editors import fastpath
from ..editors.core import EditContext, EditRequest
from .metrics import mean_or_nan, predicted_tokens, token_accuracy, unchanged_fraction
from .tokens import QA

METRICS = ("rewrite_acc", "rephrase_acc", "portability", "locality")


@torch.no_grad()
def predicted_tokens_reference(model, qas: list[QA], pad_id: int | None = None) -> list[torch.Tensor]:
    """One forward per query with the full logits at every position; argmax at the answer positions."""
    device = next(model.parameters()).device
    out = []
    for qa in qas:
        ids = torch.tensor([qa.ids], device=device)
        logits = model(input_ids=ids).logits[0]
        positions = torch.arange(qa.n_query - 1, len(qa.ids) - 1, device=device)
        out.append(logits[positions].argmax(-1).cpu())
    return out


def predict(model, qas: list[QA], pad_id: int, mode: str | None = None) -> list[torch.Tensor]:
    """Teacher-forced argmax tokens at the answer positions, through the selected compute path."""
    if (mode or fastpath.get_mode()) == "reference":
        return predicted_tokens_reference(model, qas, pad_id)
    return predicted_tokens(model, qas, pad_id)


def score(queries: dict[str, list[QA]], predicted: dict[str, list[torch.Tensor]],
          pre_locality: list[torch.Tensor]) -> dict[str, float]:
    def acc(name):
        return mean_or_nan([token_accuracy(p, qa) for p, qa in zip(predicted[name], queries[name])])

    return {
        "rewrite_acc": acc("rewrite"),
        "rephrase_acc": acc("rephrase"),
        "portability": acc("portability"),
        "locality": mean_or_nan([unchanged_fraction(b, p) for b, p in zip(pre_locality, predicted["locality"])]),
    }


def evaluate(model, tokenizer, queries: dict[str, list[QA]], pre_locality, mode: str | None = None) -> dict[str, float]:
    names = ["rewrite", "rephrase", "portability", "locality"]
    flat = [qa for name in names for qa in queries[name]]
    flat_predicted = predict(model, flat, tokenizer.pad_token_id, mode)
    predicted, start = {}, 0
    for name in names:
        predicted[name] = flat_predicted[start: start + len(queries[name])]
        start += len(queries[name])
    return score(queries, predicted, pre_locality)


def pre_edit(model, tokenizer, queries, mode: str | None = None) -> tuple[float, list[torch.Tensor]]:
    """(pre-edit rewrite accuracy, pre-edit argmax tokens of the locality queries)."""
    pre = predict(model, queries["rewrite"] + queries["locality"], tokenizer.pad_token_id, mode)
    return token_accuracy(pre[0], queries["rewrite"][0]), pre[1:]


def sweep_case(ctx: EditContext, editor, case, queries, layers: Sequence[int], mode: str) -> list[dict[str, Any]]:
    """Edit ``case`` at every layer of ``layers`` (one at a time, weights restored after each) and evaluate."""
    from .edit_job import AppliedEdit  # local: edit_job imports this module

    request = EditRequest(case.prompt, case.subject, case.target_new, case.case_id)
    rows = []
    scope = fastpath.case_cache() if mode == "fast" else contextlib.nullcontext()
    with fastpath.use_mode(mode), scope:
        shared_pre = pre_edit(ctx.model, ctx.tokenizer, queries, mode) if mode == "fast" else None
        for layer in layers:
            start = time.perf_counter()
            pre_rewrite, pre_locality = shared_pre or pre_edit(ctx.model, ctx.tokenizer, queries, mode)
            deltas, extra = editor.compute_deltas(ctx, request, layer)
            row: dict[str, Any] = {"case_id": case.case_id, "layer": layer, "pre_rewrite_acc": pre_rewrite}
            if all(bool(torch.isfinite(d).all()) for d in deltas.values()):
                with AppliedEdit(ctx.layout, deltas):
                    row.update(evaluate(ctx.model, ctx.tokenizer, queries, pre_locality, mode))
            else:
                row.update({name: math.nan for name in METRICS})
            row.update({f"edit_{k}": v for k, v in extra.items()})
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
    return rows
