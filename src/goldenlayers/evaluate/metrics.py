"""EasyEdit's teacher-forced metrics (the protocol KnowEdit numbers use).

- accuracy (rewrite, rephrase, portability): feed query + answer; the fraction of answer tokens at which
  the argmax of the preceding position's logits equals the answer token.
- locality: feed locality prompt + its answer; the fraction of those positions whose post-edit argmax
  equals the pre-edit argmax (unchanged, not correct).

The argmax tokens come from :func:`predict`: on the fast path (default) one padded batch with logits only
at the answer positions; on the reference path (``GOLDENLAYERS_EDIT_PATH=reference``) one forward per query
with the full logits, as the common frameworks do. Both give the same tokens (``tests/test_fastpath.py``).
"""

from __future__ import annotations

import math

import torch

from ..editors.fastpath import get_mode, predicted_tokens_shared
from ..models.tokens import QA, answer_logits

METRIC_PROTOCOL = {
    "rewrite_acc": "teacher-forced token accuracy of target_new after the edit prompt (EasyEdit)",
    "rephrase_acc": "teacher-forced token accuracy of target_new after each rephrase prompt, mean over prompts",
    "portability": "teacher-forced token accuracy of each portability answer after its prompt, mean over prompts",
    "locality": "fraction of locality-answer positions whose post-edit argmax equals the pre-edit argmax, mean over prompts",
}


@torch.no_grad()
def predicted_tokens(model, qas: list[QA], pad_id: int, batch_size: int = 32) -> list[torch.Tensor]:
    """For each (query, answer), the argmax token at each answer position (teacher forced)."""
    out: list[torch.Tensor] = []
    for start in range(0, len(qas), batch_size):
        chunk = qas[start : start + batch_size]
        logits, rows, _ = answer_logits(model, chunk, pad_id)
        argmax = logits.argmax(-1).cpu()
        for row in range(len(chunk)):
            out.append(argmax[rows == row])
    return out


@torch.no_grad()
def predicted_tokens_reference(model, qas: list[QA]) -> list[torch.Tensor]:
    """One forward per query with the full logits at every position; argmax at the answer positions."""
    device = next(model.parameters()).device
    out = []
    for qa in qas:
        ids = torch.tensor([qa.ids], device=device)
        logits = model(input_ids=ids).logits[0]
        positions = torch.arange(qa.n_query - 1, len(qa.ids) - 1, device=device)
        out.append(logits[positions].argmax(-1).cpu())
    return out


def predict(model, qas: list[QA], pad_id: int) -> list[torch.Tensor]:
    """Teacher-forced argmax tokens at the answer positions, through the selected compute path (inside a layer
    sweep's case_cache scope the fast path skips the blocks below the edited layer: the same tokens)."""
    if get_mode() == "reference":
        return predicted_tokens_reference(model, qas)
    shared = predicted_tokens_shared(model, qas, pad_id)
    return shared if shared is not None else predicted_tokens(model, qas, pad_id)


def token_accuracy(predicted: torch.Tensor, qa: QA) -> float:
    """Fraction of answer tokens predicted exactly."""
    target = torch.tensor(qa.ids[qa.n_query :])
    return float((predicted == target).float().mean())


def unchanged_fraction(before: torch.Tensor, after: torch.Tensor) -> float:
    """Fraction of positions whose argmax did not change."""
    return float((before == after).float().mean())


def mean_or_nan(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan
