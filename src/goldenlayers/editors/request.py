"""What an edit is asked (:class:`EditRequest`) and what an editor needs besides (:class:`EditContext`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn


@dataclass(frozen=True)
class EditRequest:
    prompt: str
    subject: str
    target_new: str
    case_id: str = ""

    @classmethod
    def of(cls, case) -> "EditRequest":
        """The request of an EditCase (``data.schema.EditCase``) or anything with its fields."""
        return cls(case.prompt, case.subject, case.target_new, case.case_id)

    @property
    def prompt_template(self) -> str:
        """The prompt with the subject's first occurrence replaced by ``{}``."""
        start = self.prompt.find(self.subject)
        if start < 0:
            raise ValueError(f"subject {self.subject!r} does not occur in prompt {self.prompt!r}")
        return self.prompt[:start] + "{}" + self.prompt[start + len(self.subject):]

    def under(self, context_template: str) -> str:
        """The prompt template behind a context template (``"<prefix>. {}"``, or ``"{}"`` for the bare prompt)."""
        return context_template.replace("{}", self.prompt_template, 1)


@dataclass
class EditContext:
    """What an editor needs besides the request: the model, its layout, settings and shared inputs."""

    model: nn.Module
    layout: Any
    tokenizer: Any
    hparams: dict[str, Any]
    templates: list[str]
    second_moment: Callable[[int], torch.Tensor] | None = None  # layer -> E[k k^T] of the projection inputs
    values: Any = None  # a values.ValueStore: precomputed target values, read instead of optimising again

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device
