"""EasyEdit's teacher-forced metrics (the protocol KnowEdit numbers use).

- accuracy (rewrite, rephrase, portability): feed query + answer; the fraction of answer tokens at which
  the argmax of the preceding position's logits equals the answer token.
- locality: feed locality prompt + its answer; the fraction of those positions whose post-edit argmax
  equals the pre-edit argmax (unchanged, not correct).
"""

from __future__ import annotations

import math

import torch

from .tokens import QA, answer_logits

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


def token_accuracy(predicted: torch.Tensor, qa: QA) -> float:
    """Fraction of answer tokens predicted exactly."""
    target = torch.tensor(qa.ids[qa.n_query :])
    return float((predicted == target).float().mean())


def unchanged_fraction(before: torch.Tensor, after: torch.Tensor) -> float:
    """Fraction of positions whose argmax did not change."""
    return float((before == after).float().mean())


def mean_or_nan(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan
