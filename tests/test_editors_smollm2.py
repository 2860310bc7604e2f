"""All four editors on the real SmolLM2-135M and ten real CounterFact cases, at layer 8.

The issue's bar: each editor reaches rewrite_acc >= 0.9 on at least 8 of 10 cases, with mean locality >= 0.8
(EasyEdit's metrics, the ten neighbourhood prompts of each case). Settings as in the default workflow:
the packaged LLaMA-family hparams with five 10-token context prefixes; MEMIT and EMMET on a window of five
layers ending at 8 with second moments from gensim's Wikipedia sample. ROME and R-ROME read the same v*
and MEMIT and EMMET the same z from a target-values file, as the workflow's edit jobs do.
"""

from __future__ import annotations

import pytest
import torch

from goldenlayers.data.loaders import load_cases
from goldenlayers.editors.context import select_templates
from goldenlayers.editors.request import EditContext, EditRequest
from goldenlayers.editors.hparams import load_hparams
from goldenlayers.editors.registry import get_editor
from goldenlayers.editors.values import ValueStore, compute_values, save_values
from goldenlayers.evaluate.edit_job import EvalLimits, case_queries, edit_case, pre_edit
from goldenlayers.evaluate.metrics import mean_or_nan
from job_inputs import REPO

LAYER = 8
WINDOW = {"window": 5, "align": "end"}
PREFIXES = {"context_template_length_params": [[10, 5]]}


@pytest.fixture(scope="module")
def second_moments(tmp_path_factory, smollm2):
    from goldenlayers.stats.corpus import fetch_gensim_sample, read_corpus
    from goldenlayers.stats.covariance import compute_second_moments

    model, tokenizer, layout = smollm2
    corpus = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    fetch_gensim_sample(corpus, n_samples=60, seed=0)
    moments, n_tokens = compute_second_moments(model, tokenizer, layout, read_corpus(corpus), list(range(4, 9)),
                                               max_length=128)
    assert n_tokens > layout.intermediate_size
    return {layer: m.float() for layer, m in moments.items()}


@pytest.mark.slow
def test_every_editor_edits_eight_of_ten_counterfact_cases_at_layer_8(tmp_path, smollm2, smollm2_templates, second_moments):
    torch.manual_seed(0)
    model, tokenizer, layout = smollm2
    cases = load_cases(REPO / "data/benchmarks/counterfact/counterfact_sample.json", "counterfact", "counterfact").cases[:10]
    requests = [EditRequest.of(c) for c in cases]
    # the two figures only: rewrite and locality (all ten neighbourhood prompts)
    queries = {c.case_id: case_queries(tokenizer, c, EvalLimits(max_rephrase=0, max_locality=10, max_portability=0))
               for c in cases}
    pre = {c.case_id: pre_edit(model, tokenizer, queries[c.case_id]) for c in cases}
    stores: dict[str, ValueStore] = {}
    report = {}
    for name in ("r-rome", "rome", "memit", "emmet"):
        overrides = {**PREFIXES, **(WINDOW if name in ("memit", "emmet") else {})}
        hparams = load_hparams(REPO / "config/hparams" / name / "llama.yaml", name, overrides)
        templates = select_templates(smollm2_templates, hparams["context_template_length_params"])
        ctx = EditContext(model, layout, tokenizer, hparams, templates, lambda l: second_moments[l])
        editor = get_editor(name)
        site = editor.value_site(LAYER, layout.n_layers, hparams)
        if str(site) not in stores:  # the first editor of a site optimises; the second reads the stored values
            path = tmp_path / f"{site}.safetensors"
            save_values(path, {site: compute_values(ctx, requests, site)}, hparams)
            stores[str(site)] = ValueStore(path)
        ctx.values = stores[str(site)]
        scores = [edit_case(ctx, editor, case, LAYER, queries[case.case_id], pre[case.case_id]) for case in cases]
        assert all(s["status"] == "ok" for s in scores), (name, scores)
        rewrites = [s["rewrite_acc"] for s in scores]
        report[name] = (sum(r >= 0.9 for r in rewrites), mean_or_nan([s["locality"] for s in scores]))
    print("editor: (cases with rewrite >= 0.9 of 10, mean locality)", report)
    for name, (edited, locality) in report.items():
        assert edited >= 8, (name, report)
        assert locality >= 0.8, (name, report)
