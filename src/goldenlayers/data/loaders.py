"""Read the benchmark files, one reader per source format, into :class:`EditCase` records.

Formats (``FORMATS``):

``counterfact``
    ROME's ``counterfact.json``. prompt = ``requested_rewrite.prompt`` with the subject put in for ``{}``;
    target_new / target_true = ``requested_rewrite.target_new.str`` / ``.target_true.str``; rephrase =
    ``paraphrase_prompts``; locality = ``neighborhood_prompts``, each answered by target_true; no
    portability. case_id = the record's ``case_id``.
``zsre_mend``
    MEND's ``zsre_mend_eval.json`` read as EasyEdit reads it: prompt = ``src``, target_new = ``alt``,
    target_true = ``answers[0]``, rephrase = [``rephrase``], locality = [``loc``] answered by [``loc_ans``]
    (kept verbatim, ``nq question:`` prefix included). A record with an empty ``alt`` has nothing to edit
    to and is a bad record.
``knowedit_zsre`` / ``knowedit_counterfact`` / ``knowedit_recent`` / ``knowedit_wikibio``
    KnowEdit's ``ZsRE-test-all.json``, ``test_cf.json``, ``recent_test.json`` and
    ``wikibio-test-all.json``. target_true = ``ground_truth`` (ZsRE, Counterfact) or none (Recent, WikiBio);
    WikiBio maps subject <- ``concept``, prompt <- ``text``, target_new <- ``labels``. Rephrase =
    ``rephrase_prompt`` or ``rephrase`` where present. Locality = ``Relation_Specificity`` then
    ``Forgetfulness`` items; portability = ``Reasoning``, ``Subject_Aliasing``, ``Logical_Generalization``
    items (then any other key, in file order). A KnowEdit ``ground_truth`` may be a string, a list of
    strings or a list of alias lists: the first string is the answer.

Every format except CounterFact uses the record's position in the file as its case_id.

Validation. A file that is not UTF-8 JSON, or whose top level is not a list, is rejected outright. A record
is bad when a required field is missing or has the wrong type, when target_new (or another answer or
prompt) is empty, or when the subject cannot be found in the prompt. A bad record stops the load with an
:class:`~goldenlayers.errors.InputError` naming the file, the record and the field, unless
``skip_bad_records`` is set: then it is left out, logged with its reason, and listed in the result's
metadata (``skipped_records``).

Normalisation, both recorded in the metadata:

* surrounding whitespace is trimmed from every prompt, subject and answer (a few KnowEdit records have a
  leading space in ``target_new`` or a trailing one in the WikiBio passage; how a prompt and an answer are
  joined is decided when they are tokenised) -> ``whitespace_trimmed``;
* a subject that is not in its prompt verbatim but matches it ignoring case and the width of whitespace
  runs takes the prompt's spelling, so that "subject occurs verbatim in prompt" holds for every case and
  the subject's token span can be found -> ``subject_respelled``. Only a subject that does not match at
  all is a bad record.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Callable, NoReturn

from ..errors import InputError
from .schema import EditCase

log = logging.getLogger(__name__)

LOCALITY_KEYS = ("Relation_Specificity", "Forgetfulness")
PORTABILITY_KEYS = ("Reasoning", "Subject_Aliasing", "Logical_Generalization")


# --------------------------------------------------------------------------------------------- reading


def read_json_records(path: str | os.PathLike) -> list:
    """The top-level JSON array of ``path``; malformed files raise :class:`InputError` naming line/column."""
    try:
        raw = open(path, "rb").read()
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror or err}", file=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", file=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}", file=path) from None
    if not isinstance(data, list):
        raise InputError(f"top level is a JSON {_json_type(data)}, expected an array of records", file=path)
    return data


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _Record:
    """One source record plus where it came from, with typed field access that fails with an InputError."""

    def __init__(self, raw: object, *, file: object, index: int, record_id: str):
        self.raw, self.file, self.index, self.id = raw, file, index, record_id

    def fail(self, message: str, field: str | None) -> NoReturn:
        raise InputError(message, file=self.file, record=self.id, field=field)

    def get(self, path: str, *, required: bool = True) -> object:
        value: object = self.raw
        walked: list[str] = []
        for key in path.split("."):
            if not isinstance(value, dict):
                self.fail(f"expected an object, got {_json_type(value)}", ".".join(walked) or None)
            walked.append(key)
            if key not in value:
                if required:
                    self.fail("missing required field", ".".join(walked))
                return None
            value = value[key]
        return value

    def string(self, path: str, *, required: bool = True) -> str | None:
        value = self.get(path, required=required)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.fail(f"expected a string, got {_json_type(value)}", path)
        return value

    def strings(self, path: str, *, required: bool = True, allow_single: bool = False) -> list[str]:
        """A list of strings (or, with ``allow_single``, one string taken as a one-item list)."""
        value = self.get(path, required=required)
        if value is None and not required:
            return []
        if allow_single and isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            self.fail(f"expected an array of strings, got {_json_type(value)}", path)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"expected a string, got {_json_type(item)}", f"{path}[{i}]")
        return list(value)

    def answer(self, value: object, path: str) -> str:
        """Unwrap a KnowEdit ``ground_truth`` (string, list, or list of alias lists) to its first string."""
        where = path
        while isinstance(value, list):
            if not value:
                self.fail("empty answer list", where)
            value, where = value[0], f"{where}[0]"
        if not isinstance(value, str):
            self.fail(f"expected a string or an array of strings, got {_json_type(value)}", where)
        return value


# ------------------------------------------------------------------------------------------ one draft


@dataclass(frozen=True)
class _Item:
    """A locality or portability prompt with its answer, and the source fields they came from."""

    prompt: str
    answer: str
    prompt_field: str
    answer_field: str


@dataclass
class _Draft:
    """Fields of one case before normalisation, with the source field names to blame on failure."""

    prompt: str
    subject: str
    target_new: str
    target_true: str | None
    rephrase: list[str] = field(default_factory=list)
    locality: list[_Item] = field(default_factory=list)
    portability: list[_Item] = field(default_factory=list)
    # source field names of prompt, subject, target_new, target_true, rephrase
    names: dict[str, str] = field(default_factory=dict)


def _counterfact(rec: _Record) -> _Draft:
    case_id = rec.get("case_id")
    if not isinstance(case_id, int) or isinstance(case_id, bool):
        rec.fail(f"expected an integer, got {_json_type(case_id)}", "case_id")
    template = rec.string("requested_rewrite.prompt")
    subject = rec.string("requested_rewrite.subject")
    if template.count("{}") != 1:
        rec.fail(f"expected one '{{}}' placeholder for the subject, found {template.count('{}')}",
                 "requested_rewrite.prompt")
    target_true = rec.string("requested_rewrite.target_true.str")
    return _Draft(
        prompt=template.replace("{}", subject),
        subject=subject,
        target_new=rec.string("requested_rewrite.target_new.str"),
        target_true=target_true,
        rephrase=rec.strings("paraphrase_prompts"),
        locality=[_Item(p, target_true, f"neighborhood_prompts[{i}]", "requested_rewrite.target_true.str")
                  for i, p in enumerate(rec.strings("neighborhood_prompts"))],
        names={"prompt": "requested_rewrite.prompt", "subject": "requested_rewrite.subject",
               "target_new": "requested_rewrite.target_new.str",
               "target_true": "requested_rewrite.target_true.str", "rephrase": "paraphrase_prompts"},
    )


def _zsre_mend(rec: _Record) -> _Draft:
    answers = rec.strings("answers")
    if not answers:
        rec.fail("empty answer list", "answers")
    return _Draft(
        prompt=rec.string("src"),
        subject=rec.string("subject"),
        target_new=rec.string("alt"),
        target_true=answers[0],
        rephrase=[rec.string("rephrase")],
        locality=[_Item(rec.string("loc"), rec.string("loc_ans"), "loc", "loc_ans")],
        names={"prompt": "src", "subject": "subject", "target_new": "alt", "target_true": "answers[0]",
               "rephrase": "rephrase"},
    )


def _knowedit_items(rec: _Record, section: str, canonical: tuple[str, ...]) -> list[_Item]:
    groups = rec.get(section, required=False)
    if groups is None:
        return []
    if not isinstance(groups, dict):
        rec.fail(f"expected an object, got {_json_type(groups)}", section)
    keys = [k for k in canonical if k in groups] + [k for k in groups if k not in canonical]
    items: list[_Item] = []
    for key in keys:
        path = f"{section}.{key}"
        entries = groups[key]
        if entries is None:
            continue
        if not isinstance(entries, list):
            rec.fail(f"expected an array, got {_json_type(entries)}", path)
        for i, entry in enumerate(entries):
            where = f"{path}[{i}]"
            if not isinstance(entry, dict):
                rec.fail(f"expected an object, got {_json_type(entry)}", where)
            if "prompt" not in entry:
                rec.fail("missing required field", f"{where}.prompt")
            if "ground_truth" not in entry:
                rec.fail("missing required field", f"{where}.ground_truth")
            prompt = entry["prompt"]
            if not isinstance(prompt, str):
                rec.fail(f"expected a string, got {_json_type(prompt)}", f"{where}.prompt")
            answer = rec.answer(entry["ground_truth"], f"{where}.ground_truth")
            items.append(_Item(prompt, answer, f"{where}.prompt", f"{where}.ground_truth"))
    return items


def _knowedit(*, subject: str = "subject", prompt: str = "prompt", target_new: str = "target_new",
              target_true: str | None = "ground_truth", rephrase_required: bool = False) -> Callable[[_Record], _Draft]:
    def read(rec: _Record) -> _Draft:
        truth = None
        if target_true is not None:
            truth = rec.answer(rec.get(target_true), target_true)
        rephrase_key = next((k for k in ("rephrase_prompt", "rephrase")
                             if isinstance(rec.raw, dict) and k in rec.raw), "rephrase_prompt")
        return _Draft(
            prompt=rec.string(prompt),
            subject=rec.string(subject),
            target_new=rec.string(target_new),
            target_true=truth,
            rephrase=rec.strings(rephrase_key, required=rephrase_required, allow_single=True),
            locality=_knowedit_items(rec, "locality", LOCALITY_KEYS),
            portability=_knowedit_items(rec, "portability", PORTABILITY_KEYS),
            names={"prompt": prompt, "subject": subject, "target_new": target_new,
                   "target_true": target_true or "", "rephrase": rephrase_key},
        )

    return read


FORMATS: dict[str, Callable[[_Record], _Draft]] = {
    "counterfact": _counterfact,
    "zsre_mend": _zsre_mend,
    "knowedit_zsre": _knowedit(rephrase_required=True),
    "knowedit_wikibio": _knowedit(subject="concept", prompt="text", target_new="labels", target_true=None),
    "knowedit_counterfact": _knowedit(),
    "knowedit_recent": _knowedit(target_true=None),
}
"""Source format name -> record reader."""


# The keys that tell the formats apart, most specific first (for detect_format).
_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("counterfact", ("requested_rewrite",)),
    ("zsre_mend", ("src", "alt")),
    ("knowedit_wikibio", ("concept", "labels", "text")),
    ("knowedit_zsre", ("rephrase_prompt", "ground_truth", "target_new")),
    ("knowedit_counterfact", ("ground_truth", "target_new", "subject")),
    ("knowedit_recent", ("target_new", "subject", "prompt")),
)


def detect_format(path: str | os.PathLike) -> str:
    """The source format of ``path`` from its first record's keys (see ``_SIGNATURES``)."""
    records = read_json_records(path)
    first = records[0] if records else None
    if isinstance(first, dict):
        for fmt, keys in _SIGNATURES:
            if all(key in first for key in keys):
                return fmt
    raise InputError(f"cannot tell the format from the first record; pass it (one of {', '.join(FORMATS)})",
                     file=path, record=0)


# ---------------------------------------------------------------------------------------- normalising


def find_subject(subject: str, prompt: str) -> str | None:
    """The subject as spelled in ``prompt``: verbatim if present, else a match ignoring case and the width
    of whitespace runs; ``None`` when the prompt does not contain it at all."""
    if subject in prompt:
        return subject
    pattern = r"\s+".join(re.escape(token) for token in subject.split())
    match = re.search(pattern, prompt, flags=re.IGNORECASE) if pattern else None
    return match.group(0) if match else None


class _Notes:
    def __init__(self) -> None:
        self.trimmed = False
        self.respelled: tuple[str, str] | None = None

    def trim(self, text: str) -> str:
        stripped = text.strip()
        if stripped != text:
            self.trimmed = True
        return stripped


def _finish(rec: _Record, draft: _Draft, dataset: str, notes: _Notes) -> EditCase:
    names = draft.names

    def required_text(value: str, what: str, field_name: str) -> str:
        value = notes.trim(value)
        if not value:
            rec.fail(f"empty {what}", field_name)
        return value

    prompt = required_text(draft.prompt, "prompt", names["prompt"])
    subject = required_text(draft.subject, "subject", names["subject"])
    target_new = required_text(draft.target_new, "target_new (nothing to edit to)", names["target_new"])
    target_true = None
    if draft.target_true is not None:
        target_true = required_text(draft.target_true, "target_true", names["target_true"])

    spelled = find_subject(subject, prompt)
    if spelled is None:
        rec.fail(f"subject {subject!r} does not occur in the prompt {prompt!r}", names["subject"])
    if spelled != subject:
        notes.respelled = (subject, spelled)
        subject = spelled

    single = isinstance(rec.raw.get(names["rephrase"]), str)  # one string, read as a one-item list
    rephrase = [required_text(p, "rephrase prompt", names["rephrase"] if single else f"{names['rephrase']}[{i}]")
                for i, p in enumerate(draft.rephrase)]

    def pairs(items: list[_Item], kind: str) -> tuple[list[str], list[str]]:
        prompts = [required_text(it.prompt, f"{kind} prompt", it.prompt_field) for it in items]
        answers = [required_text(it.answer, f"{kind} answer", it.answer_field) for it in items]
        return prompts, answers

    locality_prompts, locality_answers = pairs(draft.locality, "locality")
    portability_prompts, portability_answers = pairs(draft.portability, "portability")
    return EditCase(
        case_id=rec.id,
        dataset=dataset,
        source_index=rec.index,
        prompt=prompt,
        subject=subject,
        target_new=target_new,
        target_true=target_true,
        rephrase_prompts=rephrase,
        locality_prompts=locality_prompts,
        locality_answers=locality_answers,
        portability_prompts=portability_prompts,
        portability_answers=portability_answers,
    )


# ------------------------------------------------------------------------------------------- loading


@dataclass
class LoadResult:
    """The cases of one source file, plus what was skipped or normalised on the way."""

    cases: list[EditCase]
    n_records: int
    skipped: list[dict[str, object]] = field(default_factory=list)  # {"record", "field", "reason"}
    subject_respelled: list[str] = field(default_factory=list)
    whitespace_trimmed: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, object]:
        return {
            "n_records": self.n_records,
            "n_cases": len(self.cases),
            "skipped_records": {
                "count": len(self.skipped),
                "ids": [s["record"] for s in self.skipped],
                "reasons": self.skipped,
            },
            "subject_respelled": {"count": len(self.subject_respelled), "ids": self.subject_respelled},
            "whitespace_trimmed": {"count": len(self.whitespace_trimmed), "ids": self.whitespace_trimmed},
        }


def _record_id(fmt: str, raw: object, index: int) -> str:
    if fmt == "counterfact" and isinstance(raw, dict):
        case_id = raw.get("case_id")
        if isinstance(case_id, int) and not isinstance(case_id, bool):
            return str(case_id)
    return str(index)


def load_cases(path: str | os.PathLike, fmt: str, dataset: str, *, skip_bad_records: bool = False) -> LoadResult:
    """Read every record of ``path`` (in source format ``fmt``) as an :class:`EditCase` of ``dataset``."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}", field="format")
    reader = FORMATS[fmt]
    records = read_json_records(path)
    result = LoadResult(cases=[], n_records=len(records))
    seen: dict[str, int] = {}
    positions: dict[str, list[int]] = {}  # every index of each record id, for the duplicate-id message
    for index, raw in enumerate(records):
        positions.setdefault(_record_id(fmt, raw, index), []).append(index)
    for index, raw in enumerate(records):
        rec = _Record(raw, file=path, index=index, record_id=_record_id(fmt, raw, index))
        notes = _Notes()
        try:
            if not isinstance(raw, dict):
                rec.fail(f"record is a JSON {_json_type(raw)}, expected an object", None)
            case = _finish(rec, reader(rec), dataset, notes)
            if case.case_id in seen:
                indices = ", ".join(str(i) for i in positions[case.case_id])
                rec.fail(f"duplicate case_id {case.case_id!r} (records at indices {indices})",
                         "case_id" if fmt == "counterfact" else None)
        except InputError as err:
            if not skip_bad_records:
                raise
            log.warning("skipping bad record: %s", err)
            result.skipped.append({"record": rec.id, "field": err.field, "reason": str(err)})
            continue
        seen[case.case_id] = index
        if notes.respelled:
            log.info("record %s: subject %r taken as %r, its spelling in the prompt", rec.id, *notes.respelled)
            result.subject_respelled.append(case.case_id)
        if notes.trimmed:
            result.whitespace_trimmed.append(case.case_id)
        result.cases.append(case)
    if result.skipped:
        log.warning("%s: skipped %d of %d records: %s", path, len(result.skipped), len(records),
                    ", ".join(str(s["record"]) for s in result.skipped))
    if not result.cases:
        raise InputError(f"no usable records ({len(records)} in the file, {len(result.skipped)} skipped)", file=path)
    return result
