"""Covariance statistics: the second moment on a tiny model, the file format and its validation, the corpus."""

from __future__ import annotations

import bz2
import json
import zipfile

import pytest
import torch

from goldenlayers.errors import InputError
from goldenlayers.models.layout import resolve_layout
from goldenlayers.models.tiny import build_tiny
from goldenlayers.stats import corpus as corpus_mod
from goldenlayers.stats.corpus import chunk_paragraphs, read_corpus, seeded_sample, strip_wiki_markup
from goldenlayers.stats.covariance import compute_second_moments, load_second_moment, read_stats_file, save_second_moment

TEXTS = ["Short one.", "A somewhat longer sentence about rivers and mountains, with a comma.",
         "x" * 300, "Tokens: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.", "Mid-length text for a second batch of keys."]
META = {"corpus": "test", "corpus_sha256": "0" * 64, "n_texts": 5, "n_tokens": 10, "layer": 1, "model_revision": "tiny"}


@pytest.mark.parametrize("family", ["gpt2", "llama", "gemma3"])
def test_second_moment_equals_explicit_average(family):
    """Batched, padded, truncated and early-stopped accumulation = the plain mean of k k^T over all tokens."""
    model, tokenizer = build_tiny(family, 3, seed=1)
    layout = resolve_layout(model)
    max_length = 64
    moments, n_tokens = compute_second_moments(model, tokenizer, layout, TEXTS, [0, 2], max_length=max_length,
                                               max_batch_tokens=150)
    explicit = {0: [], 2: []}
    for text in TEXTS:  # one text at a time, no padding: the keys of every token
        ids = torch.tensor([tokenizer(text, truncation=True, max_length=max_length).input_ids])
        handles = [layout.rewrite_module(l).register_forward_pre_hook(
            lambda _m, inputs, l=l: explicit[l].append(inputs[0][0].double())) for l in (0, 2)]
        with torch.no_grad():
            model(input_ids=ids)
        for h in handles:
            h.remove()
    keys = {l: torch.cat(v) for l, v in explicit.items()}
    assert n_tokens == keys[0].shape[0] == sum(min(len(tokenizer(t).input_ids), max_length) for t in TEXTS)
    for l in (0, 2):
        expected = keys[l].T @ keys[l] / n_tokens
        assert moments[l].dtype == torch.float64 and moments[l].shape == (layout.intermediate_size,) * 2
        # float32 forwards of padded batches vs single texts differ in the last bits only
        torch.testing.assert_close(moments[l], expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


def test_save_load_roundtrip_and_metadata(tmp_path):
    c = torch.randn(6, 6, dtype=torch.float64)
    c = c @ c.T
    path = tmp_path / "layer1.safetensors"
    save_second_moment(path, c, dtype="float32", metadata=META)
    tensor, meta = read_stats_file(path)
    assert tensor.dtype == torch.float32 and meta["dtype"] == "float32" and meta["corpus"] == "test"
    torch.testing.assert_close(load_second_moment(path), c.float())


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing", "not_square"])
def test_corrupted_file_is_an_input_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "layer3.safetensors"
    c = torch.eye(8)
    if damage == "not_square":
        from safetensors.torch import save_file

        save_file({"second_moment": torch.ones(3, 4)}, str(path), metadata={k: str(v) for k, v in META.items()} | {"dtype": "float32"})
    else:
        save_second_moment(path, c, dtype="float32", metadata=META)
        data = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(data[: len(data) - 40])
        elif damage == "garbage":
            path.write_bytes(b"\x00\x01garbage" + data[10:])
        else:
            path.unlink()
    with pytest.raises(InputError) as err:
        load_second_moment(path)
    assert str(path) in str(err.value)


def test_markup_stripper_and_chunks():
    wiki = ("{{Infobox person|name=X|born={{birth date|1900|1|1}}}}\n'''Ada Lovelace''' was an English "
            "[[mathematician|mathematician]] and [[writer]].<ref>Some cite</ref> She worked on "
            "[[Charles Babbage]]'s [http://example.org Analytical Engine].\n\n== Life ==\n"
            "[[File:Ada.jpg|thumb|A [[portrait]] of her]]\n* She was born in [[London]].<!-- comment -->\n"
            "{| class=wikitable\n| a || b\n|}\n[[Category:Mathematicians]] [[de:Ada Lovelace]]")
    plain = strip_wiki_markup(wiki)
    assert plain == ("Ada Lovelace was an English mathematician and writer. She worked on Charles Babbage's "
                     "Analytical Engine.\n\nLife\n\nShe was born in London.")
    chunks = chunk_paragraphs("\n\n".join(["a" * 30, "b" * 30, "c. " * 40]), 70)
    assert all(len(c) <= 70 for c in chunks) and chunks[0] == "a" * 30 + "\n\n" + "b" * 30
    assert seeded_sample(list(range(10)), 4, 0) == seeded_sample(list(range(10)), 4, 0)
    assert seeded_sample(list(range(3)), 10, 0) != [] and sorted(seeded_sample(list(range(3)), 10, 0)) == [0, 1, 2]


def test_fetch_gensim_sample_from_a_wheel(tmp_path):
    article = "Paragraph about the history of a town. " * 8
    xml = ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">'
           + "".join(f"<page><title>T{i}</title><ns>0</ns><revision><text>{article}\n\n{article}</text></revision></page>"
                     for i in range(5))
           + '<page><title>R</title><ns>0</ns><redirect title="T1"/><revision><text>#REDIRECT [[T1]]</text></revision></page>'
           + "</mediawiki>")
    wheel = tmp_path / "gensim-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(corpus_mod.GENSIM_MEMBER, bz2.compress(xml.encode()))
    out = tmp_path / "corpus" / "gensim-enwiki-sample.jsonl"
    record = corpus_mod.fetch_gensim_sample(out, n_samples=4, seed=0, chunk_chars=400, wheel=wheel)
    texts = read_corpus(out)
    assert record["articles"] == 5 and record["n_texts"] == len(texts) == 4
    assert all(t.startswith("Paragraph about") for t in texts)
    assert (out.parent / (out.name + ".sha256")).read_text().split()[0] == record["sha256"]
    assert json.loads((out.parent / (out.name + ".json")).read_text())["seed"] == 0
    again = corpus_mod.fetch_gensim_sample(tmp_path / "again.jsonl", n_samples=4, seed=0, chunk_chars=400, wheel=wheel)
    assert again["sha256"] == record["sha256"]  # seeded: the same corpus every time
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(InputError, match="line 2"):
        read_corpus(bad)


def test_layer_stats_command_on_a_tiny_model(tmp_path):
    """The CLI: a prepared tiny model + a JSONL corpus -> one validated file per layer, one forward pass."""
    from goldenlayers.cli import main
    from goldenlayers.models.load import prepare_model

    model_dir = tmp_path / "model"
    prepare_model("tiny", {"source": "tiny", "family": "llama", "num_layers": 3}, model_dir)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS * 3))
    outs = {l: tmp_path / f"stats/layer{l}.safetensors" for l in (0, 2)}
    argv = ["layer-stats", "--model-dir", str(model_dir), "--corpus", "test", "--corpus-file", str(corpus),
            "--n-samples", "10", "--max-length", "32", "--device", "cpu"]
    for l, p in outs.items():
        argv += ["--out", f"{l}={p}"]
    assert main(argv) == 0
    for l, p in outs.items():
        tensor, meta = read_stats_file(p)
        assert meta["layer"] == str(l) and meta["n_texts"] == "10" and meta["corpus"] == "test"
        assert meta["model_revision"].startswith("tiny-llama") and int(meta["n_tokens"]) > 0
        assert tensor.shape == (192, 192)
    with pytest.raises(SystemExit) as exit_info:  # malformed LAYER=PATH: argparse's usage error
        main(argv[:-2] + ["--out", "x"])
    assert exit_info.value.code == 2
