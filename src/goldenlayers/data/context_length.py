"""Cases checked against the model's context length, in every job that feeds them to a model.

A prompt (or answer, rephrase, locality or portability text) longer than the model's context would crash
GPT-2 (its position table has no row for it: ``IndexError``) and would run LLaMA past the positions it was
trained on without a word. So every model job (target values, edits, LGA, CMA) reads its cases through
:func:`read_cases_for_model`: a case fits when its longest (query, answer) sequence plus
:data:`PREFIX_RESERVE` tokens for the context prefixes the editors prepend is within the model's context.
The check looks at every text of the case, not only the ones a job reads, so all jobs of a (model, dataset)
keep the same cases.

A case that does not fit stops the job with an :class:`~goldenlayers.errors.InputError` naming the file,
the record, the field and its length, unless the dataset has ``skip_bad_records: true`` (recorded in its
case files by ``load-dataset``): then it is left out, logged, and listed in the job's output metadata
(``too_long_records``), like the bad records the loader skips.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

from ..errors import InputError
from .schema import EditCase, read_cases

log = logging.getLogger(__name__)

# Tokens kept free for the context prefixes the editors prepend ("<prefix>. {prompt}"; ROME/MEMIT's are
# 5-10 tokens).
PREFIX_RESERVE = 24
SKIP_KEY = "skip_bad_records"  # the cases files' metadata key that load-dataset writes


def model_context_length(model) -> int | None:
    """The most positions ``model`` takes (``max_position_embeddings``, GPT-2's ``n_positions``); None if
    its config names none."""
    config = model.config
    config = getattr(config, "text_config", None) or config
    for attr in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _pairs(case: EditCase) -> list[tuple[str, str, str]]:
    """(field, query, answer) of every sequence built from ``case``."""
    pairs = [("prompt", case.prompt, case.target_new)]
    if case.target_true:
        pairs.append(("prompt", case.prompt, case.target_true))
    pairs += [(f"rephrase_prompts[{i}]", p, case.target_new) for i, p in enumerate(case.rephrase_prompts)]
    pairs += [(f"locality_prompts[{i}]", p, a)
              for i, (p, a) in enumerate(zip(case.locality_prompts, case.locality_answers))]
    pairs += [(f"portability_prompts[{i}]", p, a)
              for i, (p, a) in enumerate(zip(case.portability_prompts, case.portability_answers))]
    return pairs


def longest_sequence(tokenizer, case: EditCase) -> tuple[str, int]:
    """(field, tokens) of the longest query + " " + answer sequence of ``case``."""
    best = ("prompt", 0)
    for name, query, answer in _pairs(case):
        n = len(tokenizer(query).input_ids) + len(tokenizer(" " + answer, add_special_tokens=False).input_ids)
        if n > best[1]:
            best = (name, n)
    return best


@dataclass
class FittingCases:
    cases: list[EditCase]
    too_long: list[dict] = field(default_factory=list)  # {"record", "field", "tokens", "limit"}

    def metadata(self) -> dict[str, object]:
        return {"too_long_records": {"count": len(self.too_long), "ids": [r["record"] for r in self.too_long],
                                     "reasons": self.too_long}}


def fit_cases(cases: list[EditCase], tokenizer, context_length: int | None, *, file: object = None,
              skip: bool = False) -> FittingCases:
    """The cases that fit ``context_length`` (see the module docstring)."""
    result = FittingCases([])
    if context_length is None:
        result.cases = list(cases)
        return result
    limit = context_length - PREFIX_RESERVE
    for case in cases:
        name, tokens = longest_sequence(tokenizer, case)
        if tokens <= limit:
            result.cases.append(case)
            continue
        message = (f"{tokens} tokens (with its answer), more than the {limit} the model's context of "
                   f"{context_length} positions leaves after {PREFIX_RESERVE} for the context prefixes")
        if not skip:
            raise InputError(message + "; shorten or remove the record, or set the dataset's skip_bad_records: true",
                             file=file, record=case.case_id, field=name)
        log.warning("skipping record %s of %s: %s: %s", case.case_id, file, name, message)
        result.too_long.append({"record": case.case_id, "field": name, "tokens": tokens, "limit": limit})
    if result.too_long:
        log.warning("%s: skipped %d of %d cases longer than the model's context: %s", file, len(result.too_long),
                    len(cases), ", ".join(r["record"] for r in result.too_long))
    return result


def skips_bad_records(path: str | os.PathLike) -> bool:
    """Whether the dataset of a cases file skips bad records (its ``skip_bad_records`` metadata)."""
    from ..io import read_parquet_metadata

    try:
        value = read_parquet_metadata(path).get(SKIP_KEY, "false")
    except (OSError, ValueError):
        return False
    return bool(json.loads(value)) if value in ("true", "false") else False


def read_cases_for_model(path: str | os.PathLike, tokenizer, model) -> FittingCases:
    """:func:`~goldenlayers.data.schema.read_cases` of ``path``, checked against ``model``'s context."""
    fitting = fit_cases(read_cases(path), tokenizer, model_context_length(model), file=path,
                        skip=skips_bad_records(path))
    if fitting.too_long and not fitting.cases:
        raise InputError(f"none of the {len(fitting.too_long)} cases fits the model's context", file=path)
    return fitting
