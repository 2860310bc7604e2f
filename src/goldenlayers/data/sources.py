"""Where each dataset comes from: its source format, the shipped sample, and the pinned upstream file.

The five benchmarks are registered here. A config's ``datasets:`` may also name datasets of its own:
``{format: ..., path: my.json}`` (a local file, an input of the workflow, so editing it reruns the dataset)
or ``{format: ..., url: ..., sha256: ...}`` (fetched once and checked); :func:`resolve_dataset` turns any
entry into what to read. A ``file://`` URL is a local path. A benchmark has a default source format
and, for each format it can be read in, a sample shipped in ``data/benchmarks/`` (real records, see
``data/benchmarks/SOURCES.md``) and an upstream download. ZsRE defaults to KnowEdit's file
(``knowedit_zsre``); MEND's ``zsre_mend_eval.json`` (``zsre_mend``) is the alternative ROME and MEMIT use.

Checksums. A download is checked against its ``sha256``. Where no checksum is known (``sha256=None``), the
first download is trusted: the fetch records the file's sha256 beside it
(``resources/downloads/{dataset}/<file>.sha256``) and every later fetch of that file must match the
record. To pin such a file, copy the recorded value into the config (``datasets.<name>.sha256``).

KnowEdit files are fetched from a fixed commit of the Hugging Face dataset repository (the ``resolve``
URL names the commit, not ``main``), so the bytes cannot change under a pinned config. Every
``huggingface.co/.../resolve/<revision>/<file>`` URL is fetched through ``huggingface_hub``
(:func:`hub_file`), so ``HF_ENDPOINT`` mirrors, ``HF_TOKEN``, ``HF_HOME`` and ``HF_HUB_OFFLINE`` apply. CounterFact's
checksum is the Git-LFS object id of a GitHub copy of ``counterfact.json`` (presumed, not verified, to be
the upstream file: see SOURCES.md); a mismatch there fails loudly rather than silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import unquote, urlparse
from typing import Mapping

from ..errors import InputError

KNOWEDIT_REVISION = "c3a6bccb5fc37a59dea3197ac36526d44606acd0"
"""Commit of huggingface.co/datasets/zjunlp/KnowEdit (2024-04-19) holding the current benchmark files."""

ROME_ROOT = "https://rome.baulab.info/data/dsets"


def _knowedit_url(path: str) -> str:
    return f"https://huggingface.co/datasets/zjunlp/KnowEdit/resolve/{KNOWEDIT_REVISION}/{path}"


@dataclass(frozen=True)
class Upstream:
    """A pinned upstream file: URL, the file name it is stored under, and its sha256 if known."""

    url: str
    file_name: str
    sha256: str | None
    revision: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Source:
    """One way of reading a dataset: the source format, the shipped sample and the upstream file."""

    format: str
    sample: str  # path relative to the repository root
    upstream: Upstream


@dataclass(frozen=True)
class Dataset:
    name: str
    default_format: str
    sources: Mapping[str, Source]

    def source(self, fmt: str | None = None) -> Source:
        """The source for ``fmt`` (the default format when ``None``)."""
        fmt = fmt or self.default_format
        if fmt not in self.sources:
            raise InputError(
                f"dataset {self.name!r} cannot be read as format {fmt!r}; its formats: {', '.join(self.sources)}",
                field=f"datasets.{self.name}.format",
            )
        return self.sources[fmt]


def _dataset(name: str, *sources: Source) -> Dataset:
    return Dataset(name, sources[0].format, MappingProxyType({s.format: s for s in sources}))


DATASETS: Mapping[str, Dataset] = MappingProxyType({
    d.name: d for d in (
        _dataset(
            "counterfact",
            Source("counterfact", "data/benchmarks/counterfact/counterfact_sample.json", Upstream(
                f"{ROME_ROOT}/counterfact.json", "counterfact.json",
                "d017056125178a13728594e66a801357a8db9ed7973a7425554bb4271de9fc6f",
                note="21,919 records; sha256 = Git-LFS oid of the copy in scalable-model-editing/rebuilding-rome",
            )),
        ),
        _dataset(
            "zsre",
            Source("knowedit_zsre", "data/benchmarks/zsre/knowedit_ZsRE-test-all_sample.json", Upstream(
                _knowedit_url("benchmark/ZsRE/ZsRE-test-all.json"), "ZsRE-test-all.json", None,
                revision=KNOWEDIT_REVISION, note="1,301 or 1,304 records depending on the upload",
            )),
            Source("zsre_mend", "data/benchmarks/zsre/zsre_mend_eval_sample.json", Upstream(
                f"{ROME_ROOT}/zsre_mend_eval.json", "zsre_mend_eval.json", None,
                note="19,086 records; records with an empty 'alt' are not editable (use skip_bad_records)",
            )),
        ),
        _dataset(
            "wikibio",
            Source("knowedit_wikibio", "data/benchmarks/wikibio/knowedit_wikibio-test-all_sample.json", Upstream(
                _knowedit_url("benchmark/WikiBio/wikibio-test-all.json"), "wikibio-test-all.json", None,
                revision=KNOWEDIT_REVISION, note="306 records",
            )),
        ),
        _dataset(
            "wiki_counterfact",
            Source("knowedit_counterfact", "data/benchmarks/wiki_counterfact/knowedit_test_cf_sample.json", Upstream(
                _knowedit_url("benchmark/wiki_counterfact/test_cf.json"), "test_cf.json", None,
                revision=KNOWEDIT_REVISION, note="839 records in the 2.92 MB upload",
            )),
        ),
        _dataset(
            "wiki_recent",
            Source("knowedit_recent", "data/benchmarks/wiki_recent/knowedit_recent_test_sample.json", Upstream(
                _knowedit_url("benchmark/wiki_recent/recent_test.json"), "recent_test.json", None,
                revision=KNOWEDIT_REVISION, note="1,266 records",
            )),
        ),
    )
})
"""Dataset name (config key under ``datasets:``) -> :class:`Dataset`."""


def get_dataset(name: str) -> Dataset:
    """The registered dataset ``name``; an unknown name is an error on the config's ``datasets`` key."""
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}", field="datasets") from None


def resolve_source(name: str, fmt: str | None = None) -> Source:
    """The :class:`Source` of dataset ``name`` read as ``fmt`` (default: the dataset's default format)."""
    return get_dataset(name).source(fmt)


def resolve_download(name: str, entry: Mapping[str, object] | None = None) -> Upstream:
    """The file to fetch for a config entry ``{format, url, sha256}``.

    A ``url`` override comes with its own ``sha256`` or none (trust on first use): the registry's
    checksum belongs to the registry's URL and is never applied to another one.
    """
    entry = entry or {}
    url = entry.get("url")
    if url:
        url = str(url)
        file_name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0].split("#", 1)[0] or f"{name}.json"
        if file_name in (".", ".."):
            raise InputError(f"the URL does not end in a file name: {url}", field=f"datasets.{name}.url")
        sha = entry.get("sha256")
        return Upstream(url, file_name, str(sha).lower() if sha else None, note="config override")
    upstream = resolve_source(name, entry.get("format")).upstream  # type: ignore[arg-type]
    sha = entry.get("sha256") or upstream.sha256
    return Upstream(upstream.url, upstream.file_name, str(sha).lower() if sha else None,
                    upstream.revision, upstream.note)


_HUB_URL = re.compile(r"^https://huggingface\.co/(?P<kind>datasets/|spaces/)?(?P<repo>[^/]+/[^/]+)/resolve/"
                      r"(?P<revision>[^/]+)/(?P<file>[^?#]+)")


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face repository at a revision."""

    repo_id: str
    repo_type: str  # model, dataset or space
    revision: str
    filename: str


def hub_file(url: str) -> HubFile | None:
    """The Hub file a ``huggingface.co/<repo>/resolve/<revision>/<file>`` URL names, else ``None``."""
    match = _HUB_URL.match(url)
    if not match:
        return None
    kind = {"datasets/": "dataset", "spaces/": "space"}.get(match["kind"] or "", "model")
    return HubFile(match["repo"], kind, unquote(match["revision"]), unquote(match["file"]))


def local_path(url: str | None) -> str | None:
    """The path of a ``file://`` URL (``None`` for anything else)."""
    if not url or not url.startswith("file://"):
        return None
    parsed = urlparse(url)
    return unquote(parsed.path) if not parsed.netloc or parsed.netloc == "localhost" else None


@dataclass(frozen=True)
class ResolvedDataset:
    """What to read for one config entry. ``kind``: ``sample`` (shipped, repository-relative ``path``),
    ``local`` (the user's file at ``path``, relative to the working directory) or ``download``
    (``upstream``, fetched into resources/downloads/)."""

    name: str
    kind: str
    format: str
    path: str | None = None
    upstream: Upstream | None = None
    sha256: str | None = None


def dataset_problems(name: str, entry: Mapping[str, object]) -> list[tuple[str, str]]:
    """(key, message) for every problem of a ``datasets.<name>`` entry that the schema cannot see."""
    key = f"datasets.{name}"
    problems = []
    has_path, has_url = bool(entry.get("path")), bool(entry.get("url"))
    if has_path and has_url:
        problems.append((f"{key}.url", "give either `path` (a local file) or `url`, not both"))
    if name not in DATASETS:
        if not entry.get("format"):
            problems.append((f"{key}.format", "a dataset of your own needs `format` (one of: counterfact, zsre_mend, "
                                              "knowedit_zsre, knowedit_wikibio, knowedit_counterfact, knowedit_recent; "
                                              "see config/README.md)"))
        if not has_path and not has_url:
            problems.append((f"{key}.path", "a dataset of your own needs `path` (a local file) or `url` (with `sha256`); "
                                            f"the shipped benchmarks are {', '.join(DATASETS)}"))
        if entry.get("source") == "sample":
            problems.append((f"{key}.source", "only the benchmarks have a shipped sample"))
    elif entry.get("format") and entry["format"] not in DATASETS[name].sources and not (has_path or has_url):
        problems.append((f"{key}.format", f"dataset {name!r} has no sample or upstream file in format {entry['format']!r}; "
                                          f"its formats: {', '.join(DATASETS[name].sources)} (or give `path`/`url`)"))
    if has_path and entry.get("source") == "download":
        problems.append((f"{key}.source", "`source: download` fetches the pinned upstream file; a local file needs no source"))
    return problems


def resolve_dataset(name: str, entry: Mapping[str, object] | None = None) -> ResolvedDataset:
    """What the config entry ``datasets.<name>`` reads (see :class:`ResolvedDataset`)."""
    entry = entry or {}
    problems = dataset_problems(name, entry)
    if problems:
        raise InputError(problems[0][1], field=problems[0][0])
    sha = str(entry["sha256"]).lower() if entry.get("sha256") else None
    path = entry.get("path") or local_path(entry.get("url"))  # type: ignore[arg-type]
    registered = DATASETS.get(name)
    fmt = str(entry.get("format") or registered.default_format)  # type: ignore[union-attr]
    if path:
        return ResolvedDataset(name, "local", fmt, path=str(path), sha256=sha)
    if entry.get("url") or entry.get("source") == "download":
        return ResolvedDataset(name, "download", fmt, upstream=resolve_download(name, entry), sha256=sha)
    return ResolvedDataset(name, "sample", fmt, path=resolve_source(name, fmt).sample)
