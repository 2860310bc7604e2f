"""Measure an editor on the real SmolLM2 and the first N CounterFact cases of the shipped sample (not a test).

Example (MEMIT, window of 5 ending at layer 8, statistics from `goldenlayers layer-stats`):

    .venv/bin/python scripts/measure_editors.py --editor memit --layer 8 --n 10 \
        --stats-dir results/stats/smollm2-135m/gensim-enwiki-sample_n300_float32 --threads 2

Prints one line per case and a summary: rewrite_acc, rephrase_acc, locality (EasyEdit's: the first neighbourhood
prompt; and over all ten), seconds per edit (compute_deltas only, as the peer's numbers), the resolved lambda.
`--set key=value` overrides a hyperparameter (YAML syntax), e.g. `--set mom2_update_weight=1000 --set window=1`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml

from goldenlayers.data.loaders import load_cases
from goldenlayers.editors.context import load_templates
from goldenlayers.editors.hparams import load_hparams
from goldenlayers.editors.registry import get_editor
from goldenlayers.editors.request import EditContext, EditRequest
from goldenlayers.editors.weights import AppliedEdit
from goldenlayers.evaluate.edit_job import EvalLimits, case_queries, evaluate_case, pre_edit, second_moments
from goldenlayers.evaluate.metrics import predict, unchanged_fraction
from goldenlayers.models.load import load_model

ROOT = Path(__file__).resolve().parents[1]


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--editor", required=True)
    parser.add_argument("--layer", type=int, required=True)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--model-dir", default=str(ROOT / "resources/models/smollm2-135m"))
    parser.add_argument("--templates", default=str(ROOT / "results/prefixes/smollm2-135m.json"))
    parser.add_argument("--cases", default=str(ROOT / "data/benchmarks/counterfact/counterfact_sample.json"))
    parser.add_argument("--stats-dir", default=None, help="folder with layer{L}.safetensors")
    parser.add_argument("--family", default="llama")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="optional JSON with the per-case rows")
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    known = {k: v for k, v in overrides.items() if k != "emmet_lambda_single_edit"}
    hparams = load_hparams(ROOT / "config/hparams" / args.editor / f"{args.family}.yaml", args.editor, known)
    hparams.update({k: v for k, v in overrides.items() if k not in known})

    model, tokenizer, layout, _ = load_model(args.model_dir, device="cpu")
    editor = get_editor(args.editor)
    layers = editor.edited_layers(args.layer, layout.n_layers, hparams)
    second_moment = None
    if editor.needs_stats(hparams):
        stats = {l: Path(args.stats_dir) / f"layer{l}.safetensors" for l in layers}
        second_moment = second_moments(args.editor, layers, stats)
    templates = load_templates(args.templates, hparams["context_template_length_params"])
    ctx = EditContext(model, layout, tokenizer, hparams, templates, second_moment)
    cases = load_cases(args.cases, "counterfact", "counterfact").cases[: args.n]
    rows = []
    for case in cases:
        queries = case_queries(tokenizer, case, EvalLimits())
        _, pre_locality = pre_edit(model, tokenizer, queries)
        start = time.perf_counter()
        deltas, info = editor.compute_deltas(ctx, EditRequest.of(case), args.layer)
        seconds = time.perf_counter() - start
        with AppliedEdit(layout, deltas):
            metrics = evaluate_case(model, tokenizer, queries, pre_locality)
            post_loc = predict(model, queries["locality"][:1], tokenizer.pad_token_id)
        metrics["locality_first"] = unchanged_fraction(pre_locality[0], post_loc[0])
        row = {"case_id": case.case_id, "subject": case.subject, "target_new": case.target_new, **metrics,
               "seconds": seconds, **{k: v for k, v in info.items()}}
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    def mean(key):
        return statistics.fmean(r[key] for r in rows)

    ok = sum(r["rewrite_acc"] >= 0.9 for r in rows)
    print(f"editor={args.editor} layer={args.layer} layers={layers} n={len(rows)} overrides={overrides}")
    print(f"rewrite>=0.9: {ok}/{len(rows)}  rewrite={mean('rewrite_acc'):.3f} rephrase={mean('rephrase_acc'):.3f} "
          f"locality(first)={mean('locality_first'):.3f} locality(all 10)={mean('locality'):.3f} "
          f"median s/edit={statistics.median(r['seconds'] for r in rows):.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
