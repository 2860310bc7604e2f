"""CPU seconds of the value optimisation of a layer sweep, three ways, in one process, one thread by default.

    .venv/bin/python benchmarks/values_benchmark.py                                # CounterFact case 0, all 30 layers
    .venv/bin/python benchmarks/values_benchmark.py --cases 8 --layers 0 --modes per-problem,together

Modes (all through ``compute_site_values``, the target_values job's own function, on the fast path):

- ``per-problem``: one (case, layer) at a time inside the case's ``fastpath.case_cache`` scope, as an edit job
  without a values file optimises (the case's no-grad prefix forward is shared by its layers);
- ``per-site``: one layer at a time with all the cases batched (the target_values job before its chunk's sites
  ran side by side);
- ``together``: every case at every layer in one call (today's target_values job for a chunk of layers).

Printed per mode: CPU seconds (``time.process_time``; ``--repeats`` rotates the order and prints each run), the
optimisation steps summed, and how the shifts compare with the first mode's: the number of problems with the same
steps, the number equal bit for bit, the largest absolute difference. The context templates are every prefix
of the record's file (``record/smollm2-135m/results/prefixes``: the bare prompt + 5, as config/record.yaml sets)
unless ``--prefixes`` names another file or ``--templates-json`` gives the templates themselves.

Another version of the project runs the same script with ``PYTHONPATH=<its src>`` (e.g. ``git archive 99c4666 src |
tar -x -C /tmp/base``); versions before compute_site_values (4271690) run ``per-problem`` and ``per-site`` through
their ``compute_values``. The record's splits, before and after, alternately:

    for src in /tmp/base/src src src /tmp/base/src; do PYTHONPATH=$src .venv/bin/python benchmarks/values_benchmark.py \
        --cases-file record/smollm2-135m/results/data/counterfact/test.parquet --cases 12 --layers 0,14 \
        --modes $([ $src = src ] && echo together || echo per-site); done
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from sweep_benchmark import parse_layers  # the same --layers syntax (benchmarks/ is the script's folder)

ROOT = Path(__file__).resolve().parents[1]
MODES = ("per-problem", "per-site", "together")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--layers", default="all", help="all (default), or e.g. 0,3,6 or 0-29")
    parser.add_argument("--cases", type=int, default=1, help="how many cases (from --skip on)")
    parser.add_argument("--skip", type=int, default=0)
    parser.add_argument("--dataset", default="counterfact", help="the cases file's dataset (its loader)")
    parser.add_argument("--cases-file", default=str(ROOT / "data/benchmarks/counterfact/counterfact_sample.json"),
                        help="a benchmark sample (read with --dataset's loader) or a split .parquet the workflow wrote")
    parser.add_argument("--prefixes", default=str(ROOT / "record/smollm2-135m/results/prefixes/smollm2-135m.json"))
    parser.add_argument("--templates-json", help="a JSON list of context templates to use instead of --prefixes")
    parser.add_argument("--hparams", default=str(ROOT / "config/hparams/r-rome/llama.yaml"))
    parser.add_argument("--editor", default="r-rome")
    parser.add_argument("--model-dir", default=str(ROOT / "resources/models/smollm2-135m"))
    parser.add_argument("--step-tokens", type=int, help="compute_site_values' step_tokens (default: its own)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--flops", action="store_true",
                        help="also count the last mode's FLOPs (torch's FlopCounterMode, one more run) and print the "
                             "achieved rate beside a bare matrix product's of the model's shapes")
    parser.add_argument("--repeats", type=int, default=1, help="run every mode this many times, order rotating")
    return parser.parse_args(argv)


def print_flops(run, mode: str, cpu: float, layout, model) -> None:
    """The FLOPs ``mode`` runs, its achieved rate (over its first run's CPU seconds) and, for comparison, the rate
    of bare products of the model's shapes on the same threads: how far better code could still go."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run(mode)
    flops = counter.get_total_flops()
    by_op = sorted(counter.get_flop_counts().get("Global", {}).items(), key=lambda kv: -kv[1])
    print(f"  {mode}: {flops / 1e9:.1f} GFLOP counted ("
          + ", ".join(f"{op}: {n / 1e9:.1f}" for op, n in by_op[:3]) + f"), {flops / 1e9 / cpu:.1f} GFLOP/s achieved")
    hidden, inner = layout.hidden_size, layout.intermediate_size
    vocab = model.get_output_embeddings().weight.shape[0]
    for m, k, n in [(168, hidden, inner), (168, inner, hidden), (168, hidden, hidden), (40, hidden, vocab)]:
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3):
            a @ b
        reps = max(3, int(2e10 / (2 * m * k * n)))
        start = time.process_time()
        for _ in range(reps):
            a @ b
        print(f"  bare product [{m}x{k}]@[{k}x{n}]: {2 * m * k * n * reps / (time.process_time() - start) / 1e9:.1f} GFLOP/s")


def main(argv=None) -> int:
    args = parse_args(argv)
    modes = args.modes.split(",")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise SystemExit(f"--modes: unknown {unknown} (known: {', '.join(MODES)})")
    if not (Path(args.model_dir) / "config.json").is_file():
        raise SystemExit(f"--model-dir {args.model_dir}: no prepared model; make it with `PATH=$PWD/.venv/bin:$PATH "
                         "snakemake resources/models/smollm2-135m/prepare.json --cores 1`")
    import torch

    torch.set_num_threads(args.threads)
    from goldenlayers.data.loaders import load_cases
    from goldenlayers.editors import fastpath
    from goldenlayers.editors.context import load_templates
    from goldenlayers.editors.hparams import load_hparams
    from goldenlayers.editors.registry import get_editor
    from goldenlayers.editors.request import EditContext, EditRequest
    from goldenlayers.editors import values as value_module
    from goldenlayers.models.load import load_model

    model, tokenizer, layout, _ = load_model(args.model_dir, device="cpu")
    hparams = load_hparams(args.hparams, args.editor)
    if args.templates_json:  # e.g. the templates EasyEdit sampled (easyedit_side_by_side.py's work folder)
        templates = json.loads(Path(args.templates_json).read_text())
    else:  # every prefix the file stores (the record's: 5 of 10 tokens, its record.yaml setting)
        stored = json.loads(Path(args.prefixes).read_text())["by_length"]
        hparams["context_template_length_params"] = [[int(n), len(p)] for n, p in stored.items()]
        templates = load_templates(args.prefixes, hparams["context_template_length_params"])
    ctx = EditContext(model, layout, tokenizer, hparams, templates)
    editor = get_editor(args.editor)
    if args.cases_file.endswith(".parquet"):  # a split the workflow wrote (e.g. the record's results/data/...)
        from goldenlayers.data.context_length import read_cases_for_model

        cases = read_cases_for_model(args.cases_file, tokenizer, model).cases
    else:
        cases = load_cases(args.cases_file, args.dataset, args.dataset).cases
    cases = cases[args.skip: args.skip + args.cases]
    requests = [EditRequest.of(case) for case in cases]
    layers = parse_layers(args.layers, layout.n_layers)
    sites = list(dict.fromkeys(editor.value_site(layer, layout.n_layers, hparams) for layer in layers))
    compute_site_values = getattr(value_module, "compute_site_values", None)
    if compute_site_values is None:  # a version before 4271690 (PYTHONPATH=<its src>): one site per call only
        if "together" in modes:
            raise SystemExit("--modes together: this version of goldenlayers has no compute_site_values")

        def compute_site_values(ctx, requests, sites, **_):
            return {site: value_module.compute_values(ctx, requests, site) for site in sites}
    step_tokens = args.step_tokens or getattr(value_module, "DEFAULT_STEP_TOKENS", None)

    def run(mode: str) -> dict:
        if mode == "per-problem":
            found = {site: {} for site in sites}
            for request in requests:
                with fastpath.case_cache():
                    for site in sites:
                        found[site].update(compute_site_values(ctx, [request], [site])[site])
            return found
        if mode == "per-site":
            return {site: compute_site_values(ctx, requests, [site])[site] for site in sites}
        return compute_site_values(ctx, requests, sites, step_tokens=step_tokens)

    print(f"command: {' '.join(sys.argv)}  (goldenlayers from {Path(value_module.__file__).parents[1]})")
    print(f"value optimisation of {len(cases)} {args.dataset} case(s) x {len(sites)} site(s) "
          f"({', '.join(map(str, sites))}), {len(templates)} context templates, {args.threads} thread(s), "
          f"step_tokens {step_tokens}; started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    results: dict[str, dict] = {}
    cpu_of: dict[str, float] = {}
    for repeat in range(args.repeats):
        order = modes[repeat % len(modes):] + modes[: repeat % len(modes)]
        for mode in order:
            start = time.process_time()
            values = run(mode)
            cpu = time.process_time() - start
            results.setdefault(mode, values)
            cpu_of.setdefault(mode, cpu)
            steps = sum(v.steps for per_site in values.values() for v in per_site.values())
            print(f"  run {repeat + 1} {mode:>12}: {cpu:8.1f} CPU-s  steps {steps}", flush=True)
    first = results[modes[0]]
    for mode in modes[1:]:
        same_steps = bitwise = 0
        largest = 0.0
        for site in sites:
            for request in requests:
                a, b = first[site][request.case_id], results[mode][site][request.case_id]
                same_steps += a.steps == b.steps
                bitwise += bool(torch.equal(a.delta, b.delta))
                largest = max(largest, float((a.delta - b.delta).abs().max()))
        total = len(sites) * len(requests)
        print(f"  {mode} vs {modes[0]}: same steps {same_steps}/{total}, shifts equal bit for bit {bitwise}/{total}, "
              f"largest difference {largest:.2e}")
    if args.flops:
        print_flops(run, modes[-1], cpu_of[modes[-1]], layout, model)
    print("load average at end " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())
