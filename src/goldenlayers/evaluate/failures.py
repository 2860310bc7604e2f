"""Why an edit failed: numeric failures inside a job, and updates that would change nothing.

A case fails, and is recorded with ``status: failed`` and its reason while the job's other cases are kept,
when the computation of its update overflows or hits a singular solve, when the update is not finite, or
when it would not edit anything: the value optimisation left the target value where it was (a step that
overflowed is clamped to norm 0; a site the loss cannot see, the last layer, never moves) or the update is
exactly zero. Such an edit is a no-op; recorded as ``ok`` it would score the unedited model as an edit.
"""

from __future__ import annotations

from typing import Any

import torch


def is_numeric_failure(err: BaseException) -> bool:
    """An overflow, a non-finite value or a singular solve: the case failed, not the code."""
    if isinstance(err, (FloatingPointError, OverflowError, ZeroDivisionError, torch.linalg.LinAlgError)):
        return True
    return isinstance(err, RuntimeError) and "overflow" in str(err)


def update_failure(deltas: dict[int, torch.Tensor], info: dict[str, Any], value_failure: str | None = None) -> str | None:
    """Why the update ``deltas`` (with the editor's ``info``) is not an edit; None if it is one."""
    if value_failure:
        return f"the value optimisation failed: {value_failure}"
    bad = [layer for layer, delta in deltas.items() if not torch.isfinite(delta).all()]
    if bad:
        return f"non-finite update at layer(s) {bad}"
    if info.get("v_delta_norm") == 0.0:
        return (f"no edit: the value optimisation left the target value unchanged (shift norm 0 after "
                f"{info.get('v_steps')} steps): a step overflowed and the clamp reduced it to 0 (lower v_lr), "
                "or the loss cannot see the shift at this site (the last layer)")
    if all(not bool(delta.any()) for delta in deltas.values()):
        return "no edit: the update is exactly zero"
    return None
