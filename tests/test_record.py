"""The committed results of record (record/smollm2-135m, config/record.yaml) recompute exactly: every table and
the claims table, from the committed per-case edit and locator files, through the aggregate stage's own rules
(tests/recompute.py; its tiny-config twin in tests/test_rerun.py always runs). A later change to the analysis
that silently changes the record fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recompute import differing_tables, recompute_tables

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "record" / "smollm2-135m"


def _saved_tables() -> list[str]:
    listing = RECORD / "SAVED.json"
    if not listing.is_file():
        return []
    return [path for path in json.loads(listing.read_text())["files"] if path.startswith("results/tables/")
            and path.endswith("claims.csv")]


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _saved_tables(), reason="the record run has not reached its tables yet: "
                       "record/smollm2-135m holds finished jobs only (README, Results of record)"),
]


def test_committed_record_tables_recompute_exactly(tmp_path):
    fresh, tables = recompute_tables(RECORD, tmp_path / "fresh", "config/record.yaml")
    assert not differing_tables(RECORD, fresh, tables), "the analysis changed the record's numbers"
