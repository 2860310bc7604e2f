"""ROME's context prefixes: short texts the model writes itself, prepended to the edit prompt.

Keys are averaged over these prefixes, and the target value is optimised on all of them, so the edit
does not hinge on one exact wording. They are sampled once per model with a fixed seed and stored, so
every job of a model uses the same ones (unseeded templates are a known reproducibility trap).

The stored file holds, for each prefix length, the largest number any configured editor asks for, ordered
round-robin over the start words ("The", "Therefore", ...). An editor asking for ``[[10, 5]]`` (MEMIT)
takes the first five of the 10-token prefixes (one per start word); one asking for ``[[5, 10], [10, 10]]``
(EasyEdit's ROME) takes all ten of each.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import ConfigError, InputError

PREFIX_STARTS = ["The", "Therefore", "Because", "I", "You"]


def merge_length_params(specs: list[list[list[int]]]) -> list[list[int]]:
    """The union of several editors' (length, count) lists: per length, the largest count."""
    largest: dict[int, int] = {}
    for spec in specs:
        for length, count in spec:
            largest[int(length)] = max(largest.get(int(length), 0), int(count))
    return [[length, count] for length, count in sorted(largest.items())]


@torch.no_grad()
def generate_prefixes(model, tokenizer, length_params: list[list[int]], seed: int, top_k: int = 5) -> dict[str, list[str]]:
    """Per length (as a string key), ``count`` sampled prefixes, round-robin over the start words."""
    device = next(model.parameters()).device
    rng_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    by_length: dict[str, list[str]] = {}
    try:
        for length, count in length_params:
            per_start = -(-count // len(PREFIX_STARTS))
            columns = []
            for start in PREFIX_STARTS:
                encoded = tokenizer(start, return_tensors="pt").to(device)
                new_tokens = max(1, length - encoded.input_ids.shape[1])
                out = model.generate(
                    **encoded, do_sample=True, top_k=top_k, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                    num_return_sequences=per_start, pad_token_id=tokenizer.pad_token_id,
                )
                columns.append([tokenizer.decode(row, skip_special_tokens=True).replace("{", " ").replace("}", " ")
                                for row in out])
            interleaved = [column[i] for i in range(per_start) for column in columns]
            by_length[str(length)] = interleaved[:count]
    finally:
        torch.random.set_rng_state(rng_state)
    return by_length


def select_templates(by_length: dict[str, list[str]], length_params: list[list[int]]) -> list[str]:
    """``["{}"]`` plus the first ``count`` stored prefixes of each length, each followed by ``". {}"``."""
    templates = ["{}"]
    for length, count in length_params:
        stored = by_length.get(str(length), [])
        if len(stored) < count:
            raise ConfigError(
                f"the stored context prefixes have {len(stored)} of length {length}, {count} are asked for; "
                "rerun the context_prefixes rule", field="context_template_length_params",
            )
        templates.extend(prefix + ". {}" for prefix in stored[:count])
    return templates


def load_templates(path, length_params: list[list[int]]) -> list[str]:
    """The templates an editor uses, from a stored context-prefix file (see :func:`select_templates`)."""
    from ..caches import prefixes_problem

    problem = prefixes_problem(path)
    if problem:
        raise InputError(f"damaged context-prefix file ({problem}); remove it and rerun, the context_prefixes rule "
                         "rebuilds it", file=path, field="by_length")
    stored = json.loads(Path(path).read_text(encoding="utf-8"))
    return select_templates(stored["by_length"], length_params)
