"""EditCase loaders: every shipped sample, known records, and every kind of bad input."""

from __future__ import annotations

import argparse
import copy
import json
import logging
from pathlib import Path

import pytest

from goldenlayers.commands import load_dataset as load_cmd
from goldenlayers.data.loaders import FORMATS, find_subject, load_cases
from goldenlayers.data.schema import EDIT_CASE_SCHEMA, EditCase, cases_to_table, read_cases
from goldenlayers.data.sources import DATASETS, KNOWEDIT_REVISION, get_dataset, resolve_download, resolve_source
from goldenlayers.errors import InputError
from goldenlayers.io import read_parquet_metadata, write_parquet

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [(name, fmt) for name, d in DATASETS.items() for fmt in d.sources]


def sample(dataset: str, fmt: str | None = None) -> Path:
    return ROOT / resolve_source(dataset, fmt).sample


def run_load(*argv: str) -> None:
    """Run the load-dataset command through its own argument parser (no need to import every command)."""
    parser = argparse.ArgumentParser()
    load_cmd.add_arguments(parser)
    load_cmd.run(parser.parse_args(list(argv)))


def write_json(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ real samples


@pytest.mark.parametrize("dataset,fmt", SOURCES)
def test_every_sample_record_loads(dataset, fmt):
    result = load_cases(sample(dataset, fmt), fmt, dataset)
    cases = result.cases
    assert len(cases) == result.n_records == 300
    assert not result.skipped and not result.subject_respelled
    assert len({c.case_id for c in cases}) == 300
    assert [c.source_index for c in cases] == list(range(300))
    for c in cases:
        assert c.dataset == dataset
        assert c.subject and c.subject in c.prompt
        assert c.target_new and c.target_new == c.target_new.strip()
        assert len(c.locality_prompts) == len(c.locality_answers) >= 1
        assert len(c.portability_prompts) == len(c.portability_answers)
        assert all(a and a == a.strip() for a in c.locality_answers + c.portability_answers)
    has_truth = fmt in ("counterfact", "zsre_mend", "knowedit_zsre", "knowedit_counterfact")
    assert all((c.target_true is not None) == has_truth for c in cases)


def test_counterfact_case_0():
    cases = load_cases(sample("counterfact"), "counterfact", "counterfact").cases
    c = cases[0]
    assert (c.case_id, c.prompt, c.subject) == ("0", "The mother tongue of Danielle Darrieux is", "Danielle Darrieux")
    assert (c.target_new, c.target_true) == ("English", "French")
    assert c.rephrase_prompts[1].endswith("Danielle Darrieux spoke the language") and len(c.rephrase_prompts) == 2
    assert c.locality_prompts[0] == "The mother tongue of L\u00e9on Blum is"
    assert c.locality_answers == ["French"] * 10
    assert c.portability_prompts == [] and c.portability_answers == []
    # case ids are CounterFact's own, not positions
    assert [x.case_id for x in cases[5:8]] == ["4482", "4484", "4488"]
    assert cases[5].source_index == 5


def test_zsre_mend_reads_alt_as_target_new():
    c = load_cases(sample("zsre", "zsre_mend"), "zsre_mend", "zsre").cases[0]
    assert c.prompt == "What university did Watts Humphrey attend?" and c.subject == "Watts Humphrey"
    assert (c.target_new, c.target_true) == ("University of Michigan", "Illinois Institute of Technology")
    assert c.rephrase_prompts == ["What university did Watts Humphrey take part in?"]
    assert c.locality_prompts == ["nq question: who played desmond doss father in hacksaw ridge"]
    assert c.locality_answers == ["Hugo Weaving"]


def test_knowedit_zsre_record_0_and_trimmed_targets():
    result = load_cases(sample("zsre"), "knowedit_zsre", "zsre")
    c = result.cases[0]
    assert (c.subject, c.target_new, c.target_true) == ("Epaspidoceras", "Noctuidae", "Aspidoceratidae")
    assert c.rephrase_prompts == ["What family are Epaspidoceras?"]
    assert c.locality_prompts == ["The taxon rank of Epaspidoceras is", "Epaspidoceras taxon rank"]
    assert c.locality_answers == ["genus", "genus"]
    assert c.portability_answers == ["Owlet moths"]
    # record 16's target_new is " Charity River" upstream: trimmed, and recorded as such
    assert result.cases[16].target_new == "Charity River"
    assert result.whitespace_trimmed == ["16", "18", "192", "228"]


def test_knowedit_wikibio_record_0():
    c = load_cases(sample("wikibio"), "knowedit_wikibio", "wikibio").cases[0]
    assert c.subject == "john russell reynolds" and c.target_true is None
    assert c.prompt.startswith("This is a Wikipedia passage about john russell reynolds. Sir John Russell")
    assert c.target_new.startswith("He received general education from his father")
    assert c.rephrase_prompts == [] and c.locality_answers == ["medicine", "medicine"]


def test_knowedit_counterfact_unwraps_alias_lists():
    c = load_cases(sample("wiki_counterfact"), "knowedit_counterfact", "wiki_counterfact").cases[0]
    assert (c.subject, c.target_new, c.target_true) == ("Leonardo DiCaprio", "Syria", "United States of America")
    assert c.portability_prompts[0] == "The name of the currency in the country of citizenship of Leonardo DiCaprio is"
    assert c.portability_answers[:2] == ["Syrian pound", "Arabic"]  # first alias of [[...aliases...]]
    assert len(c.rephrase_prompts) == 1


def test_knowedit_recent_key_order_and_no_truth():
    raw = json.loads(sample("wiki_recent").read_text())
    cases = load_cases(sample("wiki_recent"), "knowedit_recent", "wiki_recent").cases
    c = cases[0]
    assert (c.subject, c.target_new, c.target_true) == ("Leo Arons", "Berlin", None)
    # portability: Reasoning, Subject_Aliasing, Logical_Generalization (file order is LG, R, SA)
    assert c.portability_answers == ["Kai Wegner", "German", "Europe", "Berlin", "no"]
    assert c.portability_prompts[-1] == "Is Leo Arons still alive?"
    # locality: Relation_Specificity items, then Forgetfulness items
    loc = raw[3]["locality"]
    expected = [i["prompt"] for i in loc["Relation_Specificity"]] + [i["prompt"] for i in loc["Forgetfulness"]]
    assert cases[3].locality_prompts == expected and len(expected) == 7


def test_registry():
    assert set(DATASETS) == {"counterfact", "zsre", "wikibio", "wiki_counterfact", "wiki_recent"}
    assert set(FORMATS) == {fmt for _, fmt in SOURCES}
    assert get_dataset("zsre").default_format == "knowedit_zsre"
    for name, fmt in SOURCES:
        up = resolve_source(name, fmt).upstream
        assert up.url.startswith("https://") and up.url.endswith(up.file_name)
        if "huggingface.co" in up.url:
            assert f"/resolve/{KNOWEDIT_REVISION}/" in up.url
    assert resolve_source("counterfact").upstream.sha256.startswith("d0170561")
    with pytest.raises(InputError) as err:
        get_dataset("zsre_full")
    assert err.value.field == "datasets" and "wiki_recent" in str(err.value)
    with pytest.raises(InputError) as err:
        resolve_source("wikibio", "counterfact")
    assert err.value.field == "datasets.wikibio.format"
    # a URL override never inherits the registry's checksum
    assert resolve_download("counterfact", {"url": "file:///x/cf.json"}).sha256 is None
    assert resolve_download("counterfact", {"url": "file:///x/cf.json"}).file_name == "cf.json"


# --------------------------------------------------------------------------------- schema round trip


def test_read_cases_round_trip(tmp_path):
    cases = load_cases(sample("wiki_recent"), "knowedit_recent", "wiki_recent").cases[:20]
    out = tmp_path / "cases.parquet"
    write_parquet(out, cases_to_table(cases), {"dataset": "wiki_recent"})
    again = read_cases(out)
    assert again == cases and all(isinstance(c, EditCase) for c in again)
    import pyarrow.parquet as pq

    assert pq.read_schema(out).remove_metadata().equals(EDIT_CASE_SCHEMA)


# ------------------------------------------------------------------------------- normalisation rules


def test_find_subject():
    assert find_subject("Leo Arons", "The father of Leo Arons is") == "Leo Arons"
    assert find_subject("leo arons", "The father of Leo Arons is") == "Leo Arons"
    assert find_subject("Leo  Arons", "The father of Leo Arons is") == "Leo Arons"
    assert find_subject("Leo Aronson", "The father of Leo Arons is") is None


def test_subject_case_mismatch_takes_prompt_spelling(tmp_path, caplog):
    records = json.loads(sample("wiki_recent").read_text())[:3]
    records[1]["subject"] = records[1]["subject"].upper()
    path = write_json(tmp_path / "recent.json", records)
    with caplog.at_level(logging.INFO):
        result = load_cases(path, "knowedit_recent", "wiki_recent")
    assert result.cases[1].subject in result.cases[1].prompt
    assert result.cases[1].subject.upper() == records[1]["subject"]
    assert result.subject_respelled == ["1"]
    assert "spelling in the prompt" in caplog.text


# ------------------------------------------------------------------------------------------ bad input


def cf_records() -> list[dict]:
    return json.loads(sample("counterfact").read_text())[:3]


def zsre_records() -> list[dict]:
    return json.loads(sample("zsre").read_text())[:3]


def _mutate(records, index, path, value):
    records = copy.deepcopy(records)
    obj = records[index]
    *parents, last = path
    for key in parents:
        obj = obj[key]
    if value is KeyError:
        del obj[last]
    else:
        obj[last] = value
    return records


BAD_RECORDS = [
    # (format, records, mutation, expected record id, expected field, words in the message)
    ("counterfact", cf_records, (1, ["requested_rewrite", "subject"], KeyError), "1", "requested_rewrite.subject",
     "missing"),
    ("counterfact", cf_records, (2, ["paraphrase_prompts"], "just one"), "2", "paraphrase_prompts", "array"),
    ("counterfact", cf_records, (2, ["case_id"], "two"), "2", "case_id", "integer"),
    ("counterfact", cf_records, (0, ["requested_rewrite", "target_new", "str"], "  "), "0",
     "requested_rewrite.target_new.str", "empty target_new"),
    ("counterfact", cf_records, (1, ["requested_rewrite", "prompt"], "no placeholder here"), "1",
     "requested_rewrite.prompt", "placeholder"),
    ("knowedit_zsre", zsre_records, (1, ["subject"], "Nonexistent Thing"), "1", "subject", "does not occur"),
    ("knowedit_zsre", zsre_records, (2, ["target_new"], ""), "2", "target_new", "empty target_new"),
    ("knowedit_zsre", zsre_records, (0, ["ground_truth"], []), "0", "ground_truth", "empty answer list"),
    ("knowedit_zsre", zsre_records, (1, ["locality", "Relation_Specificity", 0, "ground_truth"], 7), "1",
     "locality.Relation_Specificity[0].ground_truth", "expected a string"),
    ("knowedit_zsre", zsre_records, (2, ["prompt"], ["a", "list"]), "2", "prompt", "expected a string"),
]


@pytest.mark.parametrize("fmt,records,mutation,record,field,words", BAD_RECORDS)
def test_bad_record_names_file_record_field(tmp_path, fmt, records, mutation, record, field, words):
    path = write_json(tmp_path / "bad.json", _mutate(records(), *mutation))
    out = tmp_path / "cases.parquet"
    with pytest.raises(InputError) as err:
        run_load("--dataset", "x", "--format", fmt, "--input", str(path), "--output", str(out))
    assert (Path(err.value.file), str(err.value.record), err.value.field) == (path, record, field)
    assert words in str(err.value) and str(path) in str(err.value)
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_zsre_mend_empty_alt_is_a_bad_record(tmp_path):
    records = json.loads(sample("zsre", "zsre_mend").read_text())[:4]
    records[2]["alt"] = ""
    path = write_json(tmp_path / "mend.json", records)
    with pytest.raises(InputError) as err:
        load_cases(path, "zsre_mend", "zsre")
    assert (err.value.record, err.value.field) == ("2", "alt")
    result = load_cases(path, "zsre_mend", "zsre", skip_bad_records=True)
    assert [c.case_id for c in result.cases] == ["0", "1", "3"]


def test_duplicate_counterfact_case_id(tmp_path):
    records = cf_records()
    records[2]["case_id"] = records[0]["case_id"]
    path = write_json(tmp_path / "dup.json", records)
    with pytest.raises(InputError) as err:
        load_cases(path, "counterfact", "counterfact")
    assert (err.value.record, err.value.field) == ("0", "case_id") and "duplicate" in str(err.value)


@pytest.mark.parametrize("text,words", [
    ('[{"subject": "a",\n  "prompt": }]', "line 2, column 13"),
    ('{"subject": "a"}', "top level is a JSON object"),
    ("", "line 1, column 1"),
])
def test_bad_file_is_rejected(tmp_path, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "cases.parquet"
    with pytest.raises(InputError) as err:
        run_load("--dataset", "zsre", "--input", str(path), "--output", str(out))
    assert Path(err.value.file) == path and words in str(err.value)
    assert not out.exists()


def test_missing_input_file(tmp_path):
    with pytest.raises(InputError) as err:
        run_load("--dataset", "zsre", "--input", str(tmp_path / "nope.json"), "--output", str(tmp_path / "o.parquet"))
    assert "not found" in str(err.value)


def test_skip_bad_records_logs_and_records_them(tmp_path, caplog):
    records = _mutate(_mutate(zsre_records(), 0, ["target_new"], ""), 2, ["subject"], KeyError)
    path = write_json(tmp_path / "bad.json", records)
    out = tmp_path / "cases.parquet"
    with caplog.at_level(logging.WARNING):
        run_load("--dataset", "zsre", "--input", str(path), "--output", str(out), "--skip-bad-records")
    assert [c.case_id for c in read_cases(out)] == ["1"]
    meta = read_parquet_metadata(out)
    skipped = json.loads(meta["skipped_records"])
    assert skipped["count"] == 2 and skipped["ids"] == ["0", "2"]
    assert [r["field"] for r in skipped["reasons"]] == ["target_new", "subject"]
    assert (meta["dataset"], meta["format"], json.loads(meta["n_records"])) == ("zsre", "knowedit_zsre", 3)
    assert len(meta["source_sha256"]) == 64
    assert "skipping bad record" in caplog.text and "skipped 2 of 3 records" in caplog.text


def test_all_records_bad_is_an_error(tmp_path):
    path = write_json(tmp_path / "bad.json", [{"subject": 1}])
    with pytest.raises(InputError, match="no usable records"):
        load_cases(path, "knowedit_zsre", "zsre", skip_bad_records=True)
