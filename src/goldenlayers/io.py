"""Atomic output writing and provenance.

Every output is written to a temporary file in the destination folder and renamed into place, so a
job killed mid-write leaves no file that Snakemake (or a reader) could take as complete. The file gets the
usual permissions of a new file (0666 minus the umask, as ``open`` would give it; ``mkstemp``'s private
0600 would hide results from the other members of a cluster project's group). A write that fails for lack
of space (or any other OS error) raises one :class:`~goldenlayers.errors.OutputError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .errors import InputError, OutputError


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise OutputError(_why(err), file=path) from err
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except OSError as err:
        raise OutputError(_why(err), file=path) from err
    except Exception as err:  # writers that wrap the OS error in their own type (safetensors, matplotlib)
        if "No space left" in str(err):
            raise OutputError(_why(OSError(errno.ENOSPC, "No space left on device")), file=path) from err
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _why(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write: no space left on the device ({err.strerror}); free some space and rerun"
    return f"cannot write: {err.strerror or err}"


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(
    path: str | os.PathLike,
    table: pd.DataFrame | pa.Table,
    metadata: Mapping[str, object] | None = None,
    schema: pa.Schema | None = None,
) -> None:
    """Write a DataFrame or Arrow table as Parquet, atomically, with JSON-encoded schema metadata."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.pop(b"pandas", None)
    for key, value in (metadata or {}).items():
        meta[str(key).encode()] = (value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_table(path: str | os.PathLike, required: Iterable[str], contract: str) -> pd.DataFrame:
    """A Parquet table that has the columns of its contract (docs/SCHEMAS.md, section ``contract``); a missing
    column is an InputError naming the file."""
    frame = pd.read_parquet(path)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"missing column(s) {missing} (see docs/SCHEMAS.md, '{contract}')", file=path)
    return frame


def read_parquet_metadata(path: str | os.PathLike) -> dict[str, str]:
    meta = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if k != b"pandas"}


def stable_hash(obj: object, length: int = 12) -> str:
    """A short sha256 of ``obj``'s canonical JSON: the same content gives the same hash on every machine."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(**fields: object) -> dict[str, object]:
    """Provenance columns every result row carries, plus the package version."""
    return {**fields, "package_version": __version__}
