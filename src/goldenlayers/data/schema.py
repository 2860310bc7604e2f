"""The one record type every stage reads: :class:`EditCase`, and its Parquet form.

The columns are the contract in ``docs/SCHEMAS.md`` ("EditCase"); the dataclass fields are exactly those
columns, in that order. Stages that need the cases call :func:`read_cases`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError

_LIST_OF_STRING = pa.list_(pa.field("item", pa.string(), nullable=False))

EDIT_CASE_SCHEMA = pa.schema(
    [
        pa.field("case_id", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("source_index", pa.int64(), nullable=False),
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("target_new", pa.string(), nullable=False),
        pa.field("target_true", pa.string(), nullable=True),
        pa.field("rephrase_prompts", _LIST_OF_STRING, nullable=False),
        pa.field("locality_prompts", _LIST_OF_STRING, nullable=False),
        pa.field("locality_answers", _LIST_OF_STRING, nullable=False),
        pa.field("portability_prompts", _LIST_OF_STRING, nullable=False),
        pa.field("portability_answers", _LIST_OF_STRING, nullable=False),
    ]
)
"""Arrow schema of ``cases.parquet`` / ``proxy.parquet`` / ``test.parquet`` (field order = column order)."""


@dataclass(frozen=True)
class EditCase:
    """One edit request with the prompts that measure it (one row of ``cases.parquet``).

    ``subject`` occurs verbatim in ``prompt``; ``target_new`` is non-empty; ``target_true`` is ``None``
    where the dataset has no old answer (WikiRecent, WikiBio). The answer lists have the same length as
    their prompt lists. Strings carry no leading or trailing whitespace: joining a prompt and an answer
    (with a space or not) is the tokenising code's decision, not the data's.
    """

    case_id: str
    dataset: str
    source_index: int
    prompt: str
    subject: str
    target_new: str
    target_true: str | None
    rephrase_prompts: list[str] = field(default_factory=list)
    locality_prompts: list[str] = field(default_factory=list)
    locality_answers: list[str] = field(default_factory=list)
    portability_prompts: list[str] = field(default_factory=list)
    portability_answers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.locality_prompts) != len(self.locality_answers):
            raise ValueError(f"case {self.case_id}: {len(self.locality_prompts)} locality prompts but "
                             f"{len(self.locality_answers)} answers")
        if len(self.portability_prompts) != len(self.portability_answers):
            raise ValueError(f"case {self.case_id}: {len(self.portability_prompts)} portability prompts but "
                             f"{len(self.portability_answers)} answers")

    def to_row(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EditCase))
assert COLUMNS == tuple(EDIT_CASE_SCHEMA.names), "EditCase fields and EDIT_CASE_SCHEMA disagree"


def cases_to_table(cases: Iterable[EditCase], metadata: Mapping[str, object] | None = None) -> pa.Table:
    """An Arrow table with :data:`EDIT_CASE_SCHEMA` (metadata, if given, is attached as-is: strings)."""
    rows = [case.to_row() for case in cases]
    columns = {name: [row[name] for row in rows] for name in COLUMNS}
    table = pa.Table.from_pydict(columns, schema=EDIT_CASE_SCHEMA)
    if metadata:
        table = table.replace_schema_metadata({str(k): str(v) for k, v in metadata.items()})
    return table


def table_to_cases(table: pa.Table, *, file: object = None) -> list[EditCase]:
    """Rows of an EditCase table as :class:`EditCase` objects; extra columns are ignored."""
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise InputError(f"not an EditCase table: missing column(s) {', '.join(missing)}",
                         file=file, field=missing[0])
    data = table.select(list(COLUMNS)).to_pydict()
    cases = []
    for i in range(table.num_rows):
        row = {name: data[name][i] for name in COLUMNS}
        for name in ("rephrase_prompts", "locality_prompts", "locality_answers",
                     "portability_prompts", "portability_answers"):
            row[name] = list(row[name] or [])
        try:
            cases.append(EditCase(**row))
        except ValueError as err:
            raise InputError(str(err), file=file, record=row["case_id"]) from None
    return cases


def read_cases(path: str | os.PathLike) -> list[EditCase]:
    """Read ``cases.parquet`` (or a split of it) back into :class:`EditCase` objects, in file order."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"cannot read Parquet: {err}", file=path) from None
    return table_to_cases(table, file=path)
