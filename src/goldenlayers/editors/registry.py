"""Editor names -> implementations."""

from __future__ import annotations

from ..errors import ConfigError
from .emmet import EMMET
from .memit import MEMIT
from .r_rome import RROME
from .rome import ROME

EDITORS = {"rome": ROME, "r-rome": RROME, "memit": MEMIT, "emmet": EMMET}


def get_editor(name: str):
    try:
        return EDITORS[name]()
    except KeyError:
        raise ConfigError(f"unknown editor {name!r} (known: {', '.join(sorted(EDITORS))})", field="editors") from None
