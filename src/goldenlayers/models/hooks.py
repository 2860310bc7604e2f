"""Forward hooks, written once for editors, statistics and locators.

- :func:`main_output` / :func:`with_main_output`: a module's main tensor, whether it returns a tensor or a
  tuple (blocks of some families return ``(hidden, ...)``), and the same output with that tensor replaced;
- :func:`hooks`: forward (or pre-forward) hooks active for a ``with`` block, removed however it ends;
- :func:`forward_until`: run a forward pass and stop it right after one module, so the layers above cost
  nothing (keys at one layer, the residual after a block, second moments up to the deepest layer).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from torch import nn


class StopForward(Exception):
    """Raised by a hook to end a forward pass once what was wanted has been captured."""


def main_output(output):
    """The main tensor of a module's output (the first element of a tuple)."""
    return output[0] if isinstance(output, tuple) else output


def with_main_output(output, tensor):
    """``output`` with its main tensor replaced by ``tensor`` (the rest of a tuple kept)."""
    return (tensor,) + tuple(output[1:]) if isinstance(output, tuple) else tensor


@contextmanager
def hooks(pairs: Iterable[tuple[nn.Module, Callable]], pre: bool = False, with_kwargs: bool = False) -> Iterator[None]:
    """Register ``(module, hook)`` pairs as forward hooks (``pre``: forward pre-hooks) for the ``with`` block."""
    handles = []
    try:
        for module, hook in pairs:
            if pre:
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=with_kwargs))
            else:
                handles.append(module.register_forward_hook(hook, with_kwargs=with_kwargs))
        yield
    finally:
        for handle in handles:
            handle.remove()


def forward_until(module: nn.Module, forward: Callable[[], object], pre: bool = False) -> None:
    """Call ``forward()`` (a forward pass of the model) and stop it once ``module`` has run (``pre``: just
    before it runs). Hooks registered on ``module`` before this call run first, so they see its output
    (``pre``: its inputs)."""

    def stop(*_args):
        raise StopForward

    try:
        with hooks([(module, stop)], pre=pre):
            forward()
    except StopForward:
        pass
