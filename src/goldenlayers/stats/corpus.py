"""Text corpora for the covariance statistics: fetched once, a seeded sample, written as JSON lines.

Two corpora (config ``stats.corpus``):

- ``gensim-enwiki-sample`` (embedded default): the shortened English Wikipedia XML dump that gensim ships as
  test data (``gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``,
  about 200 pages, ~105 real articles once redirects and stubs are dropped). It is taken out of the gensim
  wheel, obtained with ``pip download --no-deps gensim==4.4.0`` at run time; gensim is never installed.
  The wiki markup is stripped by :func:`strip_wiki_markup` (our own minimal stripper, see there for how it
  differs from gensim's ``filter_wiki``), articles are split into paragraph-aligned chunks of at most
  ``chunk_chars`` characters, and a seeded random sample of ``n_samples`` chunks is kept.
- ``wikipedia`` (the paper's configuration): ``datasets.load_dataset("wikimedia/wikipedia", snapshot)`` at a
  pinned snapshot, a seeded random sample of ``n_samples`` (100,000, as ROME/MEMIT) articles. Needs the
  ``datasets`` package and the Hugging Face hub; it is not run on machines without them.

Output: ``{"text": ...}`` per line; a sidecar ``<file>.sha256`` and ``<file>.json`` (provenance: source,
its sha256, seed, counts) are written next to it, and the corpus sha256 goes into every statistics file.
"""

from __future__ import annotations

import bz2
import json
import logging
import random
import re
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Iterator

from ..data.download import download_wheel
from ..errors import ConfigError, DownloadError, InputError
from ..io import atomic_path, sha256_file, write_json, write_text

log = logging.getLogger(__name__)

GENSIM_REQUIREMENT = "gensim==4.4.0"
GENSIM_MEMBER = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
WIKIPEDIA_DATASET = "wikimedia/wikipedia"
CORPORA = ("gensim-enwiki-sample", "wikipedia")
MIN_ARTICLE_CHARS = 500  # stubs and disambiguation leftovers below this are dropped


# --- markup ------------------------------------------------------------------------------------------
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.S | re.I)
_TAG_BLOCK = re.compile(r"<(math|gallery|timeline|score|syntaxhighlight|source|pre)[^>]*>.*?</\1>", re.S | re.I)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_FILE_LINK_START = re.compile(r"\[\[(?:File|Image|Category|Media):", re.I)
_INTERWIKI = re.compile(r"\[\[[a-z]{2,3}(?:-[a-z]+)?:[^\]]*\]\]")
_LINK = re.compile(r"\[\[([^\[\]|]*\|)?([^\[\]]*)\]\]")
_EXT_LINK = re.compile(r"\[(?:https?|ftp)://[^\s\]]+\s*([^\]]*)\]")
_BARE_URL = re.compile(r"(?:https?|ftp)://\S+")
_QUOTES = re.compile(r"'{2,}")
_HEADING = re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.M)
_LIST = re.compile(r"^[*#:;]+\s*", re.M)
_ENTITY = {"&nbsp;": " ", "&ndash;": "-", "&mdash;": "-", "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"'}


def _drop_nested(text: str, opener: str, closer: str) -> str:
    """Remove every (possibly nested) ``opener ... closer`` span, e.g. templates ``{{...}}`` or tables ``{|...|}``."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith(opener, i):
            depth += 1
            i += len(opener)
        elif depth and text.startswith(closer, i):
            depth -= 1
            i += len(closer)
        else:
            if not depth:
                out.append(text[i])
            i += 1
    return "".join(out)


def _drop_file_links(text: str) -> str:
    """Remove ``[[File:...]]``/``[[Image:...]]``/``[[Category:...]]`` including links nested in their captions."""
    while True:
        match = _FILE_LINK_START.search(text)
        if not match:
            return text
        depth, i = 0, match.start()
        while i < len(text):
            if text.startswith("[[", i):
                depth, i = depth + 1, i + 2
            elif text.startswith("]]", i):
                depth, i = depth - 1, i + 2
                if depth == 0:
                    break
            else:
                i += 1
        text = text[: match.start()] + text[i:]


def strip_wiki_markup(text: str) -> str:
    """Plain text of a MediaWiki article, paragraphs separated by blank lines.

    Our own minimal stripper (gensim is not installed). Like gensim's ``filter_wiki`` it removes comments,
    ``<ref>`` footnotes, templates ``{{...}}`` (nested), tables ``{|...|}``, file/image/category links,
    interlanguage links and HTML tags, keeps the visible text of internal links (``[[a|b]]`` -> ``b``) and of
    external links. Unlike ``filter_wiki`` it also removes the ``''``/``'''`` emphasis runs, keeps heading
    text as its own paragraph (``== History ==`` -> ``History``), strips list bullets, decodes the common
    HTML entities, and keeps paragraph breaks (``filter_wiki`` output is meant for bag-of-words use and does
    not preserve them reliably). Text in ``<math>``, ``<gallery>`` and code blocks is dropped.
    """
    for entity, char in _ENTITY.items():
        text = text.replace(entity, char)
    text = _COMMENT.sub("", text)
    text = _REF.sub("", text)
    text = _TAG_BLOCK.sub("", text)
    text = _drop_nested(text, "{{", "}}")
    text = _drop_nested(text, "{|", "|}")
    text = _drop_file_links(text)
    text = _INTERWIKI.sub("", text)
    for _ in range(3):  # links inside link captions
        text = _LINK.sub(lambda m: m.group(2), text)
    text = _EXT_LINK.sub(lambda m: m.group(1), text)
    text = _BARE_URL.sub("", text)
    text = _TAG.sub("", text)
    text = _QUOTES.sub("", text)
    text = _HEADING.sub(lambda m: "\n" + m.group(1) + "\n", text)
    text = _LIST.sub("", text)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [re.sub(r"[ \t]+", " ", line).strip() for line in block.splitlines()]
        para = " ".join(line for line in lines if line)
        para = re.sub(r"\(\s*[,;]?\s*\)", "", para).strip()
        if para:
            paragraphs.append(para)
    return "\n\n".join(paragraphs)


def chunk_paragraphs(text: str, chunk_chars: int) -> list[str]:
    """Greedy paragraph-aligned chunks of at most ``chunk_chars`` characters (an overlong paragraph is split
    at sentence ends, and as a last resort hard)."""
    pieces: list[str] = []
    for para in text.split("\n\n"):
        if len(para) <= chunk_chars:
            pieces.append(para)
            continue
        sentence_chunk = ""
        for sentence in re.split(r"(?<=[.!?])\s+", para):
            while len(sentence) > chunk_chars:
                if sentence_chunk:
                    pieces.append(sentence_chunk)
                    sentence_chunk = ""
                pieces.append(sentence[:chunk_chars])
                sentence = sentence[chunk_chars:]
            if sentence_chunk and len(sentence_chunk) + 1 + len(sentence) > chunk_chars:
                pieces.append(sentence_chunk)
                sentence_chunk = sentence
            else:
                sentence_chunk = f"{sentence_chunk} {sentence}".strip()
        if sentence_chunk:
            pieces.append(sentence_chunk)
    chunks, current = [], ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > chunk_chars:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def iter_wiki_articles(xml_bytes: bytes) -> Iterator[tuple[str, str]]:
    """(title, wikitext) of every main-namespace, non-redirect page of a MediaWiki XML export."""
    root = ET.fromstring(xml_bytes)
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    for page in root.iter(f"{ns}page"):
        if (page.findtext(f"{ns}ns") or "0") != "0" or page.find(f"{ns}redirect") is not None:
            continue
        text = page.findtext(f"{ns}revision/{ns}text") or ""
        if text.lstrip().upper().startswith("#REDIRECT"):
            continue
        yield page.findtext(f"{ns}title") or "", text


def gensim_dump_bytes(wheel: Path) -> bytes:
    """The decompressed XML dump inside a gensim wheel."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(GENSIM_MEMBER)
    except (zipfile.BadZipFile, KeyError) as err:
        raise InputError(f"no {GENSIM_MEMBER} in the wheel: {err}", file=wheel) from err
    return bz2.decompress(data)


def gensim_chunks(xml_bytes: bytes, chunk_chars: int) -> tuple[list[str], int]:
    """(chunks in document order, number of articles kept)."""
    chunks, articles = [], 0
    for _title, wikitext in iter_wiki_articles(xml_bytes):
        plain = strip_wiki_markup(wikitext)
        if len(plain) < MIN_ARTICLE_CHARS:
            continue
        articles += 1
        chunks.extend(c for c in chunk_paragraphs(plain, chunk_chars) if len(c) >= 40)
    return chunks, articles


def seeded_sample(items: list, n: int, seed: int) -> list:
    """``min(n, len(items))`` items in a seeded random order (the order is part of the sample)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    return [items[i] for i in order[: min(n, len(items))]]


def _write_jsonl(path: Path, texts: list[str]) -> str:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            for text in texts:
                handle.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    digest = sha256_file(path)
    write_text(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
    return digest


def fetch_gensim_sample(out: str | Path, n_samples: int, seed: int = 0, chunk_chars: int = 1000,
                        wheel: str | Path | None = None) -> dict:
    """Build ``gensim-enwiki-sample``: pip-download the gensim wheel (unless ``wheel`` is given), strip, chunk,
    sample; write the JSONL, its ``.sha256`` and a ``.json`` provenance record. Returns the record."""
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = Path(wheel) if wheel else download_wheel(GENSIM_REQUIREMENT, Path(tmp))
        wheel_sha = sha256_file(wheel_path)
        xml_bytes = gensim_dump_bytes(wheel_path)
    chunks, articles = gensim_chunks(xml_bytes, chunk_chars)
    if not chunks:
        raise InputError("no article text found in the gensim dump", file=GENSIM_MEMBER)
    texts = seeded_sample(chunks, n_samples, seed)
    if len(texts) < n_samples:
        log.warning("corpus has %d chunks, fewer than the %d samples asked for: all are used", len(texts), n_samples)
    digest = _write_jsonl(out, texts)
    record = {
        "corpus": "gensim-enwiki-sample", "source": f"{GENSIM_REQUIREMENT}:{GENSIM_MEMBER}",
        "source_wheel": wheel_path.name, "source_wheel_sha256": wheel_sha, "articles": articles,
        "chunks_available": len(chunks), "chunk_chars": chunk_chars, "n_requested": n_samples,
        "n_texts": len(texts), "n_chars": sum(map(len, texts)), "seed": seed, "sha256": digest,
        "markup_stripper": "goldenlayers.stats.corpus.strip_wiki_markup",
    }
    write_json(out.with_name(out.name + ".json"), record)
    return record


def fetch_wikipedia_sample(out: str | Path, n_samples: int, snapshot: str, seed: int = 0,
                           max_chars: int | None = None) -> dict:
    """Build ``wikipedia``: a seeded sample of ``n_samples`` articles of a pinned ``wikimedia/wikipedia``
    snapshot (as ROME/MEMIT's statistics: 100,000 articles). Needs ``datasets`` and the hub."""
    try:
        from datasets import load_dataset
    except ImportError as err:
        raise ConfigError("the 'wikipedia' corpus needs the `datasets` package (pip install datasets) and access "
                          "to the Hugging Face hub; use stats.corpus: gensim-enwiki-sample otherwise",
                          field="stats.corpus") from err
    out = Path(out)
    try:
        data = load_dataset(WIKIPEDIA_DATASET, snapshot, split="train")
    except Exception as err:  # network, missing snapshot: report as a download failure
        raise DownloadError(f"cannot load {WIKIPEDIA_DATASET} snapshot {snapshot!r}: {err}") from err
    indices = seeded_sample(list(range(len(data))), n_samples, seed)
    texts = [data[i]["text"][:max_chars] if max_chars else data[i]["text"] for i in indices]
    digest = _write_jsonl(out, texts)
    record = {
        "corpus": "wikipedia", "source": f"{WIKIPEDIA_DATASET}:{snapshot}",
        "fingerprint": getattr(data, "_fingerprint", None), "articles_available": len(data),
        "n_requested": n_samples, "n_texts": len(texts), "seed": seed, "sha256": digest,
    }
    write_json(out.with_name(out.name + ".json"), record)
    return record


def fetch_corpus(corpus: str, out: str | Path, n_samples: int, seed: int = 0, snapshot: str = "20231101.en",
                 chunk_chars: int = 1000, wheel: str | Path | None = None) -> dict:
    if corpus == "gensim-enwiki-sample":
        return fetch_gensim_sample(out, n_samples, seed, chunk_chars, wheel)
    if corpus == "wikipedia":
        return fetch_wikipedia_sample(out, n_samples, snapshot, seed)
    raise ConfigError(f"unknown corpus {corpus!r} (known: {', '.join(CORPORA)})", field="stats.corpus")


def read_corpus(path: str | Path, n_texts: int | None = None) -> list[str]:
    """The first ``n_texts`` texts (all if None) of a JSONL corpus; a malformed line is an InputError."""
    path = Path(path)
    texts = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if n_texts is not None and len(texts) >= n_texts:
                    break
                if not line.strip():
                    continue
                try:
                    texts.append(str(json.loads(line)["text"]))
                except (json.JSONDecodeError, KeyError, TypeError) as err:
                    raise InputError(f"not a {{\"text\": ...}} JSON line: {err}", file=path, record=f"line {number}") from err
    except OSError as err:
        raise InputError(f"cannot read the corpus: {err}", file=path) from err
    if not texts:
        raise InputError("the corpus has no texts", file=path)
    return texts
