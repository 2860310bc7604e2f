"""Publish the results as one archive with a manifest, and verify an archive against its manifest.

The archive ``goldenlayers-<run_name>.tar.gz`` holds, under one top folder ``goldenlayers-<run_name>/``:
every published file at its path relative to the project (``results/tables/...``), ``config.resolved.json``
and ``MANIFEST.json``: the sha256 and size of every other member, the resolved config, the versions of the
packages the results depend on, Python and platform, and the git commit (with a dirty flag) of the code.

The archive is byte-reproducible: members sorted, owners, modes and times fixed, gzip header without time
(so the same files and config give the same archive, and its sha256 identifies the results).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Iterable

from .errors import InputError
from .io import atomic_path, sha256_file

MANIFEST = "MANIFEST.json"
CONFIG = "config.resolved.json"
PACKAGES = ("goldenlayers", "torch", "transformers", "safetensors", "numpy", "pandas", "pyarrow", "scipy",
            "matplotlib", "seaborn", "snakemake", "gguf", "accelerate", "tqdm")
FORMAT = "goldenlayers-publish/1"


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_info(cwd: str | os.PathLike = ".", exclude: Iterable[str | os.PathLike] = ()) -> dict[str, object]:
    """The commit of the code that made the results; ``dirty`` if tracked files differ from it, apart from the
    paths in ``exclude`` (relative to ``cwd``: a record folder that the save itself rewrites)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True).stdout
    excluded = [f":(exclude){Path(path).as_posix()}" for path in exclude]
    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ":(top)", *excluded).strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def collect_files(paths: Iterable[str | os.PathLike], root: str | os.PathLike = ".") -> dict[str, Path]:
    """Map archive names (POSIX paths relative to ``root``) to files; folders are walked. Temporary files of
    atomic writes (``.*.part``) are skipped."""
    root = Path(root).resolve()
    files: dict[str, Path] = {}
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise InputError("file to publish does not exist", file=path)
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in found:
            if file.name.startswith(".") and file.name.endswith(".part"):
                continue
            resolved = file.resolve()
            try:
                name = resolved.relative_to(root).as_posix()
            except ValueError as err:
                raise InputError(f"file lies outside the project root {root}", file=file) from err
            files[name] = resolved
    return dict(sorted(files.items()))


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def publish(paths: Iterable[str | os.PathLike], out: str | os.PathLike, config: dict, run_name: str,
            root: str | os.PathLike = ".") -> dict:
    """Write the archive to ``out`` (atomically) and return its manifest."""
    files = collect_files(paths, root)
    for reserved in (MANIFEST, CONFIG):
        if reserved in files:
            raise InputError(f"'{reserved}' is reserved for the archive itself", file=files[reserved])
    config_blob = (json.dumps(config, indent=2, sort_keys=True, default=str) + "\n").encode()
    entries = {name: {"sha256": sha256_file(path), "bytes": path.stat().st_size} for name, path in files.items()}
    entries[CONFIG] = {"sha256": hashlib.sha256(config_blob).hexdigest(), "bytes": len(config_blob)}
    manifest = {
        "format": FORMAT,
        "run_name": run_name,
        "files": dict(sorted(entries.items())),
        "config": config,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_info(root),
    }
    manifest_blob = (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode()
    top = f"goldenlayers-{run_name}"
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_member(f"{top}/{MANIFEST}", len(manifest_blob)), io.BytesIO(manifest_blob))
            tar.addfile(_member(f"{top}/{CONFIG}", len(config_blob)), io.BytesIO(config_blob))
            for name, path in files.items():
                with open(path, "rb") as handle:
                    tar.addfile(_member(f"{top}/{name}", path.stat().st_size), handle)
    return manifest


def _safe(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not PurePosixPath(name).is_absolute() and ".." not in parts and len(parts) >= 2


def verify(archive: str | os.PathLike) -> dict:
    """Recompute every member's sha256 and size and compare with the archive's manifest.

    Raises InputError listing each missing, unexpected or changed file; returns a summary if all match."""
    return verify_with_manifest(archive)[0]


def verify_with_manifest(archive: str | os.PathLike) -> tuple[dict, bytes]:
    """:func:`verify`'s summary and the bytes of the archive's ``MANIFEST.json`` as stored (for a copy beside the
    archive, readable without unpacking it), from one pass over the archive."""
    problems: list[str] = []
    hashes: dict[str, dict] = {}
    manifest = None
    tops = set()
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                if not _safe(member.name):
                    problems.append(f"unsafe member path {member.name!r}")
                    continue
                if not member.isfile():
                    problems.append(f"member {member.name!r} is not a regular file")
                    continue
                top, _, name = member.name.partition("/")
                tops.add(top)
                data = tar.extractfile(member).read()
                if name == MANIFEST:
                    manifest_blob, manifest = data, json.loads(data)
                    continue
                hashes[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                if name == CONFIG:
                    config_in_archive = json.loads(data)
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as err:
        raise InputError(f"not a readable publish archive: {err}", file=archive) from err
    if manifest is None:
        raise InputError(f"no {MANIFEST} in the archive", file=archive)
    if len(tops) > 1:
        problems.append(f"more than one top folder: {sorted(tops)}")
    expected = manifest.get("files", {})
    for name in sorted(set(expected) - set(hashes)):
        problems.append(f"missing: {name}")
    for name in sorted(set(hashes) - set(expected)):
        problems.append(f"not in the manifest: {name}")
    for name in sorted(set(expected) & set(hashes)):
        if expected[name] != hashes[name]:
            problems.append(f"changed: {name} (manifest sha256 {expected[name].get('sha256', '?')[:12]}, "
                            f"archive {hashes[name]['sha256'][:12]})")
    if CONFIG in hashes and json.loads(json.dumps(manifest.get("config"))) != config_in_archive:
        problems.append(f"the manifest's config differs from {CONFIG}")
    if problems:
        raise InputError(f"{len(problems)} problem(s): " + "; ".join(problems[:20])
                         + (" ..." if len(problems) > 20 else ""), file=archive)
    return ({"archive": str(archive), "archive_sha256": sha256_file(archive), "files": len(hashes),
             "run_name": manifest.get("run_name"), "git": manifest.get("git"), "ok": True}, manifest_blob)
