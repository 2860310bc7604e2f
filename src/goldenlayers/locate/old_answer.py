"""The old answer K_i of a case: the dataset's ground truth, or the model's own greedy answer.

Modes (config ``lga.old_answer``):
- ``ground_truth_else_greedy``: ``target_true`` where the dataset has one, the greedy answer where it has
  none (WikiRecent, WikiBio);
- ``greedy``: always the model's greedy answer.

The greedy answer is the pre-edit model's greedy continuation of the prompt, at most as many tokens as
``target_new`` has (tokenised as the metrics tokenise it), stopping at EOS or at a newline once some text
has been produced. It is returned as stripped text, so it goes through the same ``encode_qa`` as every
other answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import ConfigError
from ..models.tokens import encode_qa, kv_cache_name, output_logits
from .options import OLD_ANSWER_MODES


@dataclass(frozen=True)
class OldAnswer:
    text: str          # empty if the model produced nothing usable
    source: str        # "ground_truth" or "greedy"


def greedy_text(tokenizer, next_token: Callable[[int | None], int], max_tokens: int) -> str:
    """The stopping rule of a greedy answer, over any way of computing the next token: ``next_token(last)``
    returns the argmax after the prompt and the tokens produced so far (``last`` the newest of them, None at the
    first step). Up to ``max_tokens`` tokens; EOS, or a newline once some text has been produced, ends it;
    leading whitespace-only tokens (a newline, a lone space) do not count towards the budget, up to three."""
    eos = tokenizer.eos_token_id
    produced: list[int] = []
    budget, slack = max_tokens, 3
    while budget > 0:
        token = next_token(produced[-1] if produced else None)
        if eos is not None and token == eos:
            break
        produced.append(token)
        text = tokenizer.decode(produced, skip_special_tokens=True)
        if not text.strip():
            if slack == 0:
                break
            slack -= 1
            continue
        if "\n" in text.lstrip():
            break
        budget -= 1
    text = tokenizer.decode(produced, skip_special_tokens=True).strip()
    return text.split("\n", 1)[0].strip()


@torch.no_grad()
def greedy_continuation(model, tokenizer, prompt: str, max_tokens: int) -> str:
    """Greedy text after ``prompt`` by :func:`greedy_text`'s rule.

    Decoded with the model's key/value cache: the prompt is read once and each step feeds only the newest
    token (a 100-token WikiBio prompt and a 35-token answer: one forward of the prompt and 35 of one token,
    instead of 35 forwards of the whole growing text). In float32 the text equals the uncached decoding's
    (tests/test_lga.py); in bfloat16 on a GPU the two can part at a near-tie of two tokens."""
    device = next(model.parameters()).device
    base, cache_name = model.base_model, kv_cache_name(model.base_model)
    state = {"cache": None, "prompt": torch.tensor([list(tokenizer(prompt).input_ids)], device=device)}

    def next_token(last: int | None) -> int:
        feed = state["prompt"] if last is None else torch.tensor([[last]], device=device)
        out = base(input_ids=feed, use_cache=True, **{cache_name: state["cache"]})
        state["cache"] = getattr(out, cache_name)
        return int(output_logits(model, out.last_hidden_state[:, -1]).argmax(-1))

    return greedy_text(tokenizer, next_token, max_tokens)


def old_answer(model, tokenizer, case, mode: str = "ground_truth_else_greedy") -> OldAnswer:
    """K_i for one case (``case`` has ``prompt``, ``target_new`` and ``target_true``)."""
    if mode not in OLD_ANSWER_MODES:
        raise ConfigError(f"unknown old-answer mode {mode!r} (one of {', '.join(OLD_ANSWER_MODES)})",
                          field="lga.old_answer")
    if mode == "ground_truth_else_greedy" and case.target_true:
        return OldAnswer(case.target_true, "ground_truth")
    n_new = encode_qa(tokenizer, case.prompt, case.target_new).n_answer
    return OldAnswer(greedy_continuation(model, tokenizer, case.prompt, n_new), "greedy")


def is_greedy_answer(model, tokenizer, case, old: OldAnswer) -> bool:
    """Whether ``old`` is the model's own greedy answer to the case's prompt (always for a greedy old answer;
    for a ground truth, whether the model's greedy continuation of as many tokens starts with it). LGA's
    old-answer gradient means "move away from what the model says" only where this holds."""
    if old.source == "greedy":
        return bool(old.text)
    n_old = encode_qa(tokenizer, case.prompt, old.text).n_answer
    greedy = greedy_continuation(model, tokenizer, case.prompt, n_old)
    return bool(greedy) and greedy.strip().lower().startswith(old.text.strip().lower())
