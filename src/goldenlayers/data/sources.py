"""Where each dataset comes from: its source format, the shipped sample, and the pinned upstream file.

The five datasets are the keys a config's ``datasets:`` may use. A dataset has a default source format
and, for each format it can be read in, a sample shipped in ``data/benchmarks/`` (real records, see
``data/benchmarks/SOURCES.md``) and an upstream download. ZsRE defaults to KnowEdit's file
(``knowedit_zsre``); MEND's ``zsre_mend_eval.json`` (``zsre_mend``) is the alternative ROME and MEMIT use.

Checksums. A download is checked against its ``sha256``. Where no checksum is known (``sha256=None``), the
first download is trusted: the fetch records the file's sha256 beside it
(``resources/downloads/{dataset}/<file>.sha256``) and every later fetch of that file must match the
record. To pin such a file, copy the recorded value into the config (``datasets.<name>.sha256``).

KnowEdit files are fetched from a fixed commit of the Hugging Face dataset repository (the ``resolve``
URL names the commit, not ``main``), so the bytes cannot change under a pinned config. CounterFact's
checksum is the Git-LFS object id of a GitHub copy of ``counterfact.json`` (presumed, not verified, to be
the upstream file: see SOURCES.md); a mismatch there fails loudly rather than silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
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
    upstream = resolve_source(name, entry.get("format")).upstream  # type: ignore[arg-type]
    url = entry.get("url")
    if url:
        url = str(url)
        file_name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or upstream.file_name
        if file_name in (".", ".."):  # would make the download target a folder
            raise InputError(f"the URL must end in a file name, not {file_name!r}: {url}",
                             field=f"datasets.{name}.url")
        sha = entry.get("sha256")
        return Upstream(url, file_name, str(sha).lower() if sha else None, note="config override")
    sha = entry.get("sha256") or upstream.sha256
    return Upstream(upstream.url, upstream.file_name, str(sha).lower() if sha else None,
                    upstream.revision, upstream.note)
