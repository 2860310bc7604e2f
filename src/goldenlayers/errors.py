"""Errors that name what went wrong: the file, the record and the field.

Every error the workflow raises on bad input is a :class:`GoldenLayersError`; the CLI turns it into
one line on stderr and exit code 2, so Snakemake shows a readable message instead of a traceback.
"""

from __future__ import annotations


class GoldenLayersError(Exception):
    """Base class of every error the CLI reports as a clean message."""


class LocatedError(GoldenLayersError):
    """An error located by the file, the record (case id or index) and the field or key it concerns."""

    def __init__(self, message: str, *, file: object = None, record: object = None, field: object = None):
        self.message, self.file, self.record, self.field = message, file, record, field
        where = []
        if file is not None:
            where.append(f"file {file}")
        if record is not None:
            where.append(f"record {record}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class InputError(LocatedError):
    """Bad input: names the file, the record (case id or index) and the field or key."""


class ConfigError(InputError):
    """A config value that is missing, of the wrong type, unknown, or out of range."""


class OutputError(LocatedError):
    """An output that cannot be written (no space left, no permission): names the file."""


class DownloadError(GoldenLayersError):
    """A download that failed or whose checksum does not match the pinned one."""
