"""Tokenising (query, answer) pairs and reading logits only where the loss and metrics look.

Convention (EasyEdit's): the answer follows the query after one space, ``query + " " + answer``; the
answer tokens are the tokens of that string after the query's own tokens. Where a tokenizer merges
across the boundary, the answer is tokenised on its own (with its leading space) and appended.
"""

from __future__ import annotations

import inspect

from dataclasses import dataclass

import torch

from .layout import text_config


@dataclass(frozen=True)
class QA:
    """Token ids of query + answer; the answer occupies the last ``n_answer`` positions."""

    ids: tuple[int, ...]
    n_answer: int

    @property
    def n_query(self) -> int:
        return len(self.ids) - self.n_answer


def encode_qa(tokenizer, query: str, answer: str) -> QA:
    query_ids = tokenizer(query).input_ids
    full_ids = tokenizer(f"{query} {answer}".rstrip() if answer else query).input_ids
    if answer and full_ids[: len(query_ids)] == query_ids and len(full_ids) > len(query_ids):
        return QA(tuple(full_ids), len(full_ids) - len(query_ids))
    answer_ids = tokenizer(" " + answer, add_special_tokens=False).input_ids
    if not answer_ids:
        raise ValueError(f"answer {answer!r} has no tokens")
    return QA(tuple(query_ids) + tuple(answer_ids), len(answer_ids))


def pad_batch(sequences: list[tuple[int, ...]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id sequences: (input_ids, attention_mask)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def answer_positions(qas: list[QA]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows, positions, targets): for every answer token, the row, the position whose logits predict it, and the token."""
    rows, positions, targets = [], [], []
    for row, qa in enumerate(qas):
        for offset in range(qa.n_answer):
            position = qa.n_query + offset
            rows.append(row)
            positions.append(position - 1)
            targets.append(qa.ids[position])
    return torch.tensor(rows), torch.tensor(positions), torch.tensor(targets)


def kv_cache_name(module: torch.nn.Module) -> str:
    """The name of the key/value-cache argument and output field of ``module``'s forward (a base model such as
    LlamaModel): ``cache`` since transformers 5.x renamed it (``past_key_values`` warns there and goes in
    5.40), ``past_key_values`` in the versions before."""
    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


def output_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """Apply the unembedding (and the final soft cap some families use) to final hidden states."""
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(text_config(model), "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def answer_logits(model, qas: list[QA], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits at every answer position of a batch: (logits [n_tokens, vocab], rows, targets).

    Runs the base model once and unembeds only the positions read, which matters for 50k+ vocabularies.
    """
    device = next(model.parameters()).device
    ids, mask = pad_batch([qa.ids for qa in qas], pad_id, device)
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    rows, positions, targets = answer_positions(qas)
    picked = hidden[rows.to(device), positions.to(device)]
    return output_logits(model, picked), rows, targets.to(device)
