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

import torch

from ..errors import ConfigError
from ..models.tokens import encode_qa, kv_cache_name, output_logits
from .options import OLD_ANSWER_MODES


@dataclass(frozen=True)
class OldAnswer:
    text: str          # empty if the model produced nothing usable
    source: str        # "ground_truth" or "greedy"


@torch.no_grad()
def greedy_continuation(model, tokenizer, prompt: str, max_tokens: int) -> str:
    """Greedy text after ``prompt`` (up to ``max_tokens`` tokens; EOS or a newline after some text ends it).

    Decoded with the model's key/value cache: the prompt is read once and each step feeds only the newest
    token (a 100-token WikiBio prompt and a 35-token answer: one forward of the prompt and 35 of one token,
    instead of 35 forwards of the whole growing text). In float32 the text equals the uncached decoding's
    (tests/test_lga.py); in bfloat16 on a GPU the two can part at a near-tie of two tokens."""
    device = next(model.parameters()).device
    feed = torch.tensor([list(tokenizer(prompt).input_ids)], device=device)
    eos = tokenizer.eos_token_id
    produced: list[int] = []
    base, cache_name, cache = model.base_model, kv_cache_name(model.base_model), None
    # leading whitespace-only tokens (a newline, a lone space) do not count towards the budget, up to a few
    budget, slack = max_tokens, 3
    while budget > 0:
        out = base(input_ids=feed, use_cache=True, **{cache_name: cache})
        cache = getattr(out, cache_name)
        token = int(output_logits(model, out.last_hidden_state[:, -1]).argmax(-1))
        if eos is not None and token == eos:
            break
        produced.append(token)
        feed = torch.tensor([[token]], device=device)
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
