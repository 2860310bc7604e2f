"""Seconds per case of a brute-force R-ROME layer sweep with evaluation: fast path vs reference path.

Also LGA and CMA wall time on the same cases (when ``goldenlayers.locate.lga`` / ``cma`` exist) against the
brute-force sweep, and each job's peak memory. Every measurement runs in its own child process, one at a
time (so peak RSS is per job and the jobs do not compete for the cores); the parent prints the table and
checks that the two paths' per-case metrics agree (max abs diff <= 1e-4).

    .venv/bin/python benchmarks/sweep_benchmark.py                       # 3 cases x 30 layers (slow: the reference)
    .venv/bin/python benchmarks/sweep_benchmark.py --cases 1 --layers 2,9,16,23 --repeats 2

Timings on a shared machine are noisy: ``--repeats`` reruns each job and the table shows the median and
the spread (min-max).

``--jobs dag`` (or adding ``dag`` to the list) runs the whole default DAG (``snakemake --cores 2``, model
preparation included) in a fresh working directory and prints its wall time, the summed job time per rule
and each rule's peak memory from Snakemake's benchmark files:

    .venv/bin/python benchmarks/sweep_benchmark.py --jobs fast,reference,lga,cma,dag --cases 2 --layers 2,9,16,23,29 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_layers(text: str | None, n_layers: int = 30) -> list[int]:
    if not text or text == "all":
        return list(range(n_layers))
    layers: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            layers.extend(range(int(lo), int(hi) + 1))
        else:
            layers.append(int(part))
    return layers


# ------------------------------------------------------------------------------------------------ worker


def worker(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from goldenlayers.data.loaders import load_cases
    from goldenlayers.editors.core import EditContext
    from goldenlayers.editors.hparams import load_hparams
    from goldenlayers.editors.registry import get_editor
    from goldenlayers.evaluate.edit_job import EvalLimits, case_queries
    from goldenlayers.evaluate.sweep import sweep_case
    from goldenlayers.models.load import load_model

    t0 = time.perf_counter()
    model, tokenizer, layout, _ = load_model(args.model_dir, device="cpu")
    load_seconds = time.perf_counter() - t0
    cases = load_cases(args.cases_file, "counterfact", "counterfact").cases[args.skip: args.skip + args.cases]
    layers = parse_layers(args.layers, layout.n_layers)
    result: dict = {"job": args.worker, "threads": args.threads, "load_seconds": load_seconds, "n_cases": len(cases),
                    "layers": layers}

    if args.worker in ("fast", "reference"):
        hparams = load_hparams(args.hparams, args.editor)
        templates = json.loads(Path(args.prefixes).read_text())["templates"]
        ctx = EditContext(model, layout, tokenizer, hparams, templates)
        editor = get_editor(args.editor)
        rows, per_case = [], []
        for case in cases:
            start = time.perf_counter()
            queries = case_queries(tokenizer, case, EvalLimits())
            rows.extend(sweep_case(ctx, editor, case, queries, layers, args.worker))
            per_case.append(time.perf_counter() - start)
            print(f"[{args.worker}] case {case.case_id}: {per_case[-1]:.1f} s for {len(layers)} layers", file=sys.stderr, flush=True)
        result.update(rows=rows, case_seconds=per_case, wall_seconds=sum(per_case))
    elif args.worker == "lga":
        from goldenlayers.locate.lga import run_lga

        start = time.perf_counter()
        run_lga(model, tokenizer, layout, cases, grid=layers)
        result["wall_seconds"] = time.perf_counter() - start
    elif args.worker == "cma":
        from goldenlayers.locate.cma import run_cma

        start = time.perf_counter()
        run_cma(model, tokenizer, layout, cases, grid=layers)
        result["wall_seconds"] = time.perf_counter() - start
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# ------------------------------------------------------------------------------------------------ parent


def run_job(job: str, args) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    cmd = [sys.executable, __file__, "--worker", job, "--worker-out", out, "--threads", str(args.threads),
           "--cases", str(args.cases), "--skip", str(args.skip), "--layers", args.layers or "all",
           "--model-dir", args.model_dir, "--cases-file", args.cases_file, "--hparams", args.hparams,
           "--prefixes", args.prefixes, "--editor", args.editor]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"job {job} failed ({proc.returncode})")
    data = json.loads(Path(out).read_text())
    os.unlink(out)
    return data


def locator_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"goldenlayers.locate.{name}") is not None


WORKFLOW_PARTS = ["workflow", "config", "data", "src", "profiles", "envs"]


def run_dag(args) -> dict:
    """The default DAG from scratch in a temporary working directory (the workflow's files symlinked in)."""
    import csv
    from collections import defaultdict

    workdir = Path(tempfile.mkdtemp(prefix="goldenlayers-dag-"))
    for part in WORKFLOW_PARTS:
        (workdir / part).symlink_to(ROOT / part)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.dag_cores)]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the DAG failed in {workdir}:\n{done.stderr[-3000:]}")
    n_jobs = len(re.findall(r"^Finished job", done.stderr + done.stdout, flags=re.M))
    per_rule: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "seconds": 0.0, "peak_rss_mib": 0.0})
    for tsv in (workdir / "benchmarks").rglob("*.tsv"):
        row = next(csv.DictReader(tsv.open(), delimiter="\t"))
        parts = tsv.relative_to(workdir / "benchmarks").parts
        rule = {"edit": "edit", "values": "target_values", "stats": "layer_stats"}.get(parts[1], tsv.stem)
        entry = per_rule[rule]
        entry["jobs"] += 1
        entry["seconds"] += float(row["s"])
        if row.get("max_rss", "-") not in ("-", "NA", ""):
            entry["peak_rss_mib"] = max(entry["peak_rss_mib"], float(row["max_rss"]))
    return {"wall_seconds": wall, "jobs": n_jobs, "per_rule": dict(per_rule), "workdir": str(workdir)}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f}  ({min(values):.1f}-{max(values):.1f})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--skip", type=int, default=0, help="start at this case of the file")
    parser.add_argument("--layers", default="all", help="e.g. all, 0-29, 2,9,16,23")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--jobs", default="fast,reference,lga,cma", help="which jobs to run")
    parser.add_argument("--editor", default="r-rome")
    parser.add_argument("--model-dir", default=str(ROOT / "resources/models/smollm2-135m"))
    parser.add_argument("--cases-file", default=str(ROOT / "data/benchmarks/counterfact/counterfact_sample.json"))
    parser.add_argument("--hparams", default=str(ROOT / "config/hparams/r-rome/llama.yaml"))
    parser.add_argument("--prefixes", default=str(ROOT / "results/prefixes/smollm2-135m.json"))
    parser.add_argument("--dag-cores", type=int, default=2, help="--cores of the DAG run (job 'dag')")
    parser.add_argument("--json", help="also write all measurements here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        Path(args.worker_out).write_text(json.dumps(worker(args)))
        return 0

    jobs = [j for j in args.jobs.split(",") if j]
    skipped = [j for j in jobs if j in ("lga", "cma") and not locator_available(j)]
    jobs = [j for j in jobs if j not in skipped]
    results: dict[str, list[dict]] = {}
    for repeat in range(args.repeats):
        for job in jobs:
            print(f"== {job} (repeat {repeat + 1}/{args.repeats})", file=sys.stderr, flush=True)
            results.setdefault(job, []).append(run_dag(args) if job == "dag" else run_job(job, args))

    layers = parse_layers(args.layers)
    n_cases = args.cases
    lines = [f"R-ROME sweep on SmolLM2-135M, {n_cases} CounterFact case(s) x {len(layers)} layer(s) "
             f"({args.layers}), {args.threads} thread(s), {args.repeats} repeat(s); median (min-max)", ""]
    lines.append(f"{'job':<28}{'s/case':>10}  {'(range)':<16}{'s/case-layer':>13}{'peak RSS MiB':>14}")
    per_case = {}
    for job in ("fast", "reference"):
        if job not in results:
            continue
        values = [r["wall_seconds"] / n_cases for r in results[job]]
        per_case[job] = values
        rss = max(r["peak_rss_mib"] for r in results[job])
        lines.append(f"{job + ' sweep':<28}{spread(values):<28}{statistics.median(values) / len(layers):>11.2f}{rss:>14.0f}")
    if "fast" in per_case and "reference" in per_case:
        ratio = statistics.median(per_case["reference"]) / statistics.median(per_case["fast"])
        lines.append(f"{'reference / fast':<28}{ratio:8.2f}x")
        if len(layers) != 30:
            lines.append(f"{'  full 30-layer estimate':<28}fast {statistics.median(per_case['fast']) / len(layers) * 30:.0f} s/case, "
                         f"reference {statistics.median(per_case['reference']) / len(layers) * 30:.0f} s/case (scaled by layer count)")
        worst = 0.0
        for fast_run in results["fast"]:
            for ref_run in results["reference"]:
                for f, r in zip(fast_run["rows"], ref_run["rows"]):
                    for name in ("rewrite_acc", "rephrase_acc", "locality", "portability"):
                        a, b = f[name], r[name]
                        if a == a and b == b:  # both not NaN
                            worst = max(worst, abs(a - b))
                        elif (a == a) != (b == b):
                            worst = float("inf")
        lines.append(f"{'max |metric diff|':<28}{worst:.2e}  (per case and layer, fast vs reference; target <= 1e-4)")
    bf = statistics.median([r["wall_seconds"] for r in results["fast"]]) if "fast" in results else None
    for job in ("lga", "cma"):
        if job in results:
            values = [r["wall_seconds"] for r in results[job]]
            rss = max(r["peak_rss_mib"] for r in results[job])
            lines.append(f"{job.upper() + ' (same cases)':<28}{spread(values):<28}{'':>11}{rss:>14.0f}")
            if bf:
                lines.append(f"{'  brute force (fast) / ' + job.upper():<28}{bf / statistics.median(values):8.2f}x")
    for run in results.get("dag", []):
        lines += ["", f"default DAG (snakemake --cores {args.dag_cores}, from scratch): {run['wall_seconds'] / 60:.1f} min wall, "
                      f"{run['jobs']} jobs  [{run['workdir']}]",
                  f"{'  rule':<28}{'jobs':>6}{'job-seconds':>13}{'peak RSS MiB':>14}"]
        for rule, entry in sorted(run["per_rule"].items(), key=lambda kv: -kv[1]["seconds"]):
            lines.append(f"{'  ' + rule:<28}{entry['jobs']:>6}{entry['seconds']:>13.0f}{entry['peak_rss_mib']:>14.0f}")
    for job in skipped:
        lines.append(f"{job.upper():<28}skipped: goldenlayers.locate.{job} not importable")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results, "table": lines}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
