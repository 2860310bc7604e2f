"""A run that spans sittings and machines: save its finished job outputs into the repository, restore them in a
fresh clone, and let Snakemake continue without redoing them.

Why this needs care: Snakemake decides what to run from which files exist and their modification times (plus
the metadata in ``.snakemake/``, which a fresh clone does not have). A git checkout gives every file the time of
the checkout, so restored outputs can look older than their inputs; and the big inputs that are not committed
(the prepared model, the covariance statistics) are rebuilt in the new clone, newer than everything restored.

The procedure (``make record``; README, "Results of record"):

1. :func:`restore` copies the saved files into ``results/`` (only those missing there: a newer local result is
   never overwritten) and writes the list of restored files.
2. ``snakemake resume_inputs`` rebuilds what the restored jobs read but the record does not hold (the
   prepared model; the statistics of editors that need them): deterministic, and small to redo.
3. ``snakemake --touch <restored files>`` marks the restored outputs up to date, in the DAG's order (touching
   only jobs Snakemake would otherwise rerun; an intermediate that is missing, and not needed, is left out).
4. ``snakemake`` continues: only the jobs whose outputs were never saved run.

:func:`save` is the other direction: every finished output under ``results/`` (except the rebuildable
statistics) copied into the record folder, and each finished job's benchmark file (``logs/benchmarks`` into
``benchmarks/``: what the run cost, kept as evidence, never restored), with ``SAVED.json`` listing each file's
sha256, the code's commit (and whether tracked files other than the record folder's differed from it) and the
time; a save that finds nothing new leaves ``SAVED.json`` as it was. Run it with no Snakemake running on that
folder (it refuses while ``.snakemake/locks`` holds a lock), so no job is half-written; the project writes every
file atomically anyway.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
from pathlib import Path

from .errors import InputError
from .io import sha256_file
from .publish import git_info

log = logging.getLogger(__name__)

# not saved: the statistics (rebuilt by `snakemake resume_inputs`, too large to commit: 9 MB per layer for
# SmolLM2) and the HTML report (made by `snakemake --report`, not by a rule, so no job to mark up to date)
NOT_SAVED = ("stats", "report.html")
SAVED_LIST = "SAVED.json"
BENCHMARKS = Path("logs") / "benchmarks"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] not in NOT_SAVED)


def snakemake_running(workdir: Path) -> bool:
    """True while a Snakemake process holds a lock on ``workdir`` (``.snakemake/locks``)."""
    locks = workdir / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())


def save(workdir: str | os.PathLike, record: str | os.PathLike) -> dict[str, int]:
    """Copy every finished output of ``workdir/results`` into ``record/results``; return counts."""
    workdir, record = Path(workdir), Path(record)
    results = workdir / "results"
    if not results.is_dir():
        raise InputError("no results folder to save", file=results)
    if snakemake_running(workdir):
        raise InputError("Snakemake is running on this folder (a lock in .snakemake/locks): stop it, or wait for it "
                         "to finish, so no job is half-written", file=workdir / ".snakemake" / "locks")
    if record.resolve() == workdir.resolve():
        raise InputError("the record folder is the working folder itself: give a folder of its own "
                         "(record/<name>)", file=record)
    # the code's state before this save writes into the record folder (which is tracked once committed)
    inside = record.resolve().is_relative_to(workdir.resolve())
    code = git_info(workdir, exclude=[record.resolve().relative_to(workdir.resolve())] if inside else [])
    target = record / "results"
    copied = unchanged = 0
    listing = {}
    for path in _files(results):
        relative = path.relative_to(results)
        digest, changed = _copy_if_changed(path, target / relative)
        listing[str(Path("results") / relative)] = digest
        copied, unchanged = copied + changed, unchanged + (not changed)
    previous = _saved_listing(record)
    benchmarks = _save_benchmarks(workdir, record, previous.get("benchmarks", {}))
    if not copied and previous.get("files") == listing and previous.get("benchmarks") == benchmarks:
        # nothing new (a resumed run that found every job saved): SAVED.json keeps the commit and time of the
        # save that wrote these files, and no tracked file changes
        log.info("nothing new to save: %d files in %s as listed in %s", unchanged, target, record / SAVED_LIST)
        return {"copied": 0, "unchanged": unchanged}
    saved = {**code, "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "files": listing, "benchmarks": benchmarks}
    (record / SAVED_LIST).write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")
    log.info("saved %d new or changed files (%d unchanged) from %s into %s", copied, unchanged, results, target)
    return {"copied": copied, "unchanged": unchanged}


def _saved_listing(record: Path) -> dict:
    """The record's ``SAVED.json`` ({} before the first save)."""
    listing_path = record / SAVED_LIST
    try:
        return json.loads(listing_path.read_text()) if listing_path.is_file() else {}
    except ValueError as err:
        raise InputError(f"not a list of saved files ({err})", file=listing_path) from err


def _copy_if_changed(source: Path, destination: Path) -> tuple[str, bool]:
    """Copy ``source`` to ``destination`` unless it holds the same bytes already; (sha256, whether copied)."""
    digest = sha256_file(source)
    if destination.is_file() and sha256_file(destination) == digest:
        return digest, False
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, destination)
    return digest, True


def _rebuilt_on_resume(relative: Path) -> bool:
    """A benchmark file (``benchmarks/<model>/<stage or dataset>/...``) of a job whose outputs the record does not
    hold, so every resumed sitting reruns it: the statistics (``benchmarks/<model>/stats/...``)."""
    return len(relative.parts) > 3 and relative.parts[2] in NOT_SAVED


def _save_benchmarks(workdir: Path, record: Path, previous: dict[str, str]) -> dict[str, str]:
    """Snakemake's benchmark file of every finished job (``logs/benchmarks``: wall and CPU seconds, peak memory),
    copied into ``record/benchmarks`` as the evidence of what the run cost; record path -> sha256. They are not
    restored (they describe the sitting that ran the job, and no rule reads them), so a later sitting's folder
    holds only its own: the listing keeps the earlier sittings' entries (``previous``) whose files are still in
    the record. A job whose outputs are never saved (the statistics, :data:`NOT_SAVED`) is rebuilt by every
    sitting's ``resume_inputs``: its benchmark file in the record stays the one first saved, so resuming
    neither rewrites the record's evidence nor counts a rebuild as the run's cost."""
    listing = {path: digest for path, digest in previous.items() if (record / path).is_file()}
    root = workdir / BENCHMARKS
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        relative = Path(BENCHMARKS.name) / path.relative_to(root)
        if str(relative) in listing and _rebuilt_on_resume(relative):
            continue
        listing[str(relative)] = _copy_if_changed(path, record / relative)[0]
    return dict(sorted(listing.items()))


def restore(record: str | os.PathLike, workdir: str | os.PathLike, list_out: str | os.PathLike) -> list[str]:
    """Copy the record's saved files that ``workdir/results`` lacks into it, after checking each against
    ``SAVED.json``; write the restored paths (relative to ``workdir``), one per line, to ``list_out``."""
    record, workdir = Path(record), Path(workdir)
    listing_path = record / SAVED_LIST
    if not listing_path.is_file():
        raise InputError("no saved run here (run `make record-save` after a record run)", file=listing_path)
    try:
        files = json.loads(listing_path.read_text())["files"]
    except (ValueError, KeyError) as err:
        raise InputError(f"not a list of saved files ({err})", file=listing_path, field="files") from err
    restored = []
    for relative, digest in sorted(files.items()):
        source = record / relative
        if not source.is_file():
            raise InputError("listed in SAVED.json but missing from the record", file=source)
        if sha256_file(source) != digest:
            raise InputError(f"content differs from its sha256 in {listing_path}", file=source, field="sha256")
        destination = workdir / relative
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
        restored.append(relative)
    Path(list_out).parent.mkdir(parents=True, exist_ok=True)
    Path(list_out).write_text("".join(f"{path}\n" for path in restored))
    log.info("%d saved files in place under %s (list: %s)", len(restored), workdir / "results", list_out)
    return restored
