"""Agreement with EasyEdit: the same CounterFact cases and layers through goldenlayers, side by side.

    .venv/bin/python benchmarks/peer_agreement.py --editors rome r-rome --layers 3,8,13,18,23,28 --cases 10

Uses the packaged hparams (config/hparams/<editor>/llama.yaml: EasyEdit's LLaMA-7B values) and EasyEdit's
protocol for the columns EasyEdit reports: rewrite (prompt -> target_new), rephrase (paraphrase 0),
locality (neighborhood prompt 0, answer target_true) and locality over all ten neighborhood prompts.
Prints per (editor, layer): ours, EasyEdit's, and the difference; and seconds per edit.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "benchmarks" / "peer-easyedit" / "summary.csv"


def score_layer(ctx, editor, cases, layer: int) -> dict[str, list[float]]:
    """Per case, EasyEdit's columns: rewrite (prompt -> target_new), rephrase (paraphrase 0), locality
    (neighbourhood prompt 0 unchanged) and over all ten neighbourhood prompts; seconds of edit + evaluation."""
    from goldenlayers.editors.request import EditRequest
    from goldenlayers.editors.weights import AppliedEdit
    from goldenlayers.evaluate.metrics import mean_or_nan, predict, token_accuracy, unchanged_fraction
    from goldenlayers.models.tokens import encode_qa

    tokenizer, pad = ctx.tokenizer, ctx.tokenizer.pad_token_id
    scores = {"rewrite": [], "rephrase": [], "locality": [], "locality_all10": [], "seconds": []}
    for case in cases:
        rewrite = encode_qa(tokenizer, case.prompt, case.target_new)
        rephrase = encode_qa(tokenizer, case.rephrase_prompts[0], case.target_new)
        local = [encode_qa(tokenizer, p, a) for p, a in zip(case.locality_prompts, case.locality_answers)]
        before = predict(ctx.model, local, pad)
        start = time.perf_counter()
        deltas, _ = editor.compute_deltas(ctx, EditRequest.of(case), layer)
        with AppliedEdit(ctx.layout, deltas):
            after = predict(ctx.model, [rewrite, rephrase] + local, pad)
        scores["seconds"].append(time.perf_counter() - start)
        scores["rewrite"].append(token_accuracy(after[0], rewrite))
        scores["rephrase"].append(token_accuracy(after[1], rephrase))
        unchanged = [unchanged_fraction(b, a) for b, a in zip(before, after[2:])]
        scores["locality"].append(unchanged[0])
        scores["locality_all10"].append(mean_or_nan(unchanged))
    return scores


def main() -> int:
    import torch

    from goldenlayers.data.loaders import load_cases
    from goldenlayers.editors.context import generate_prefixes, select_templates
    from goldenlayers.editors.hparams import load_hparams
    from goldenlayers.editors.registry import get_editor
    from goldenlayers.editors.request import EditContext
    from goldenlayers.evaluate.metrics import mean_or_nan
    from goldenlayers.models.load import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--editors", nargs="+", default=["rome", "r-rome"])
    parser.add_argument("--layers", default="3,8,13,18,23,28")
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-dir", default=str(ROOT / "resources/models/smollm2-135m"))
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model, tokenizer, layout, _ = load_model(args.model_dir, device="cpu")
    cases = load_cases(ROOT / "data/benchmarks/counterfact/counterfact_sample.json", "counterfact", "counterfact").cases
    cases = cases[: args.cases]
    peer = {(r["method"].lower(), int(r["layer"])): r for r in csv.DictReader(PEER.open())}
    rows = []
    for editor_name in args.editors:
        hparams = load_hparams(ROOT / f"config/hparams/{editor_name}/llama.yaml", editor_name)
        spec = hparams["context_template_length_params"]
        templates = select_templates(generate_prefixes(model, tokenizer, spec, seed=0), spec)
        ctx = EditContext(model, layout, tokenizer, hparams, templates)
        editor = get_editor(editor_name)
        for layer in [int(x) for x in args.layers.split(",")]:
            scores = score_layer(ctx, editor, cases, layer)
            ref = peer.get((editor_name, layer), {})
            row = {"editor": editor_name, "layer": layer, "n": len(cases),
                   **{k: mean_or_nan(v) for k, v in scores.items()},
                   "cases_rewrite_ge_0.9": sum(v >= 0.9 for v in scores["rewrite"]),
                   "per_case_rewrite": scores["rewrite"],
                   **{f"easyedit_{k}": float(ref[c]) for k, c in
                      [("rewrite", "rewrite_acc"), ("rephrase", "rephrase_acc"), ("locality", "locality"),
                       ("locality_all10", "locality_all10"), ("seconds", "mean_edit_s")] if c in ref},
                   "easyedit_n": int(ref["n_records"]) if ref else 0}
            rows.append(row)
            print(f"{editor_name:7s} L{layer:2d}  rewrite {row['rewrite']:.2f} (EasyEdit {row.get('easyedit_rewrite', float('nan')):.2f})"
                  f"  rephrase {row['rephrase']:.2f} ({row.get('easyedit_rephrase', float('nan')):.2f})"
                  f"  locality {row['locality']:.2f} ({row.get('easyedit_locality', float('nan')):.2f})"
                  f"  loc10 {row['locality_all10']:.2f} ({row.get('easyedit_locality_all10', float('nan')):.2f})"
                  f"  s/edit {row['seconds']:.1f} ({row.get('easyedit_seconds', float('nan')):.1f})"
                  f"  cases>=0.9 {row['cases_rewrite_ge_0.9']}/{len(cases)}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
