"""What a case is scored on: its (query, answer) token sequences per metric, within the evaluation limits."""

from __future__ import annotations

from dataclasses import dataclass

from ..models.tokens import encode_qa


@dataclass
class EvalLimits:
    max_rephrase: int = 2
    max_locality: int = 10
    max_portability: int = 10


def case_queries(tokenizer, case, limits: EvalLimits) -> dict[str, list]:
    """The (query, answer) token sequences each metric reads, for one case."""
    return {
        "rewrite": [encode_qa(tokenizer, case.prompt, case.target_new)],
        "rephrase": [encode_qa(tokenizer, p, case.target_new) for p in case.rephrase_prompts[: limits.max_rephrase]],
        "portability": [
            encode_qa(tokenizer, p, a)
            for p, a in list(zip(case.portability_prompts, case.portability_answers))[: limits.max_portability]
        ],
        "locality": [
            encode_qa(tokenizer, p, a)
            for p, a in list(zip(case.locality_prompts, case.locality_answers))[: limits.max_locality]
        ],
    }
