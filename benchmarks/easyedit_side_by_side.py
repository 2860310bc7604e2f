"""R-ROME layer sweep with evaluation: EasyEdit 14cea82 and goldenlayers side by side, alternately, one thread each.

    scripts/setup-easyedit.sh /path/to/EasyEdit               # once: .venv-easyedit (EasyEdit's requirements)
    .venv/bin/python benchmarks/easyedit_side_by_side.py --easyedit /path/to/EasyEdit --layers 3,13,23,28

Two long-lived worker processes, each with its imports and model load done before any timing:

- EasyEdit: ``benchmarks/easyedit_driver.py`` in the EasyEdit venv (``--easyedit-venv``, default ``.venv-easyedit``):
  EasyEdit's ``BaseEditor.edit_requests`` per layer (update, post-edit evaluation, restore) with EasyEdit's
  R-ROME llama-7b hyperparameters, its 20 context prefixes + the bare prompt (``[[5, 10], [10, 10]]``);
- goldenlayers: this script with ``--worker`` in the project's venv, the workflow's own path: the target_values
  job's ``compute_site_values`` for every layer of the sweep together (``--values sweep``, default), written with
  ``save_values`` and read back through a ``ValueStore``, then the edit job's own ``edit_case`` per layer (update,
  evaluation, restore) inside ``fastpath.case_cache`` (a sweep of one case); ``--values per-edit`` optimises each
  layer's value inside its edit instead; with
  ``config/hparams/r-rome/llama.yaml`` (the same values) and, by default, the very context templates EasyEdit
  sampled (``--prefixes project`` takes the project's stored prefixes instead: same count, other texts).

Optionally a third worker, ``--baseline-src DIR``: the project at another version (``DIR`` is that version's
``src``, e.g. ``git archive <commit> src | tar -x -C /tmp/base``), run in the same alternation, so that a speed
change is measured before and after in one run.

Per case: each worker's pre-edit evaluation once (EasyEdit's ``compute_edit_quality``, passed to its edits as
``pre_edit``; the project's ``pre_edit``), the project's values (``--values sweep``), then for each layer every
worker edits that layer, one worker at a time, the order rotating from layer to layer. The same evaluation queries on both sides: the edit prompt, two
paraphrases (EasyEdit: ``rephrase_prompt`` and a ``rephrase2`` portability key answered by target_new) and ten
neighbourhood prompts (EasyEdit's ``locality`` key ``neighborhood``). OMP/MKL threads and ``torch.set_num_threads``
are ``--threads`` (default 1) in every worker. Seconds are each worker's own CPU seconds (``time.process_time``)
and wall seconds; the machine's load averages are printed at the start and at the end.

Printed: per layer both sides' CPU (wall) seconds per edit, EasyEdit's update alone, the optimisation steps, the
metrics (rewrite, rephrase, locality over 10 neighbours) and, where an edit includes its value optimisation, the
EasyEdit/goldenlayers CPU ratio and its median; per case the values row (``--values sweep``) and the sweep totals
(pre-edit evaluation + values + every layer) with their ratio by CPU and wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sweep_benchmark import parse_layers  # the same --layers syntax (benchmarks/ is the script's folder)

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "benchmarks" / "easyedit_driver.py"


def cpu_wall() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def easyedit_request(case, max_locality: int = 10) -> dict:
    """An EditCase as an EasyEdit request with the queries the project's evaluation reads (see the docstring)."""
    request = {"case_id": case.case_id, "prompt": case.prompt, "subject": case.subject,
               "target_new": case.target_new, "ground_truth": case.target_true or "<|endoftext|>",
               "portability": {}, "locality": {}}
    if case.rephrase_prompts:
        request["rephrase_prompt"] = case.rephrase_prompts[0]
    if len(case.rephrase_prompts) > 1:
        request["portability"]["rephrase2"] = {"prompt": case.rephrase_prompts[1], "ground_truth": case.target_new}
    if case.locality_prompts:
        request["locality"]["neighborhood"] = {"prompt": case.locality_prompts[:max_locality],
                                               "ground_truth": case.locality_answers[:max_locality]}
    return request


# ------------------------------------------------------------------------------------------------ worker


def worker(args) -> int:
    """The project's side: answers the driver's protocol (see benchmarks/easyedit_driver.py) on stdin/stdout."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(**fields) -> None:
        protocol.write(json.dumps(fields) + "\n")

    cpu0, wall0 = cpu_wall()
    import torch

    torch.set_num_threads(args.threads)
    import goldenlayers
    from goldenlayers.data.loaders import load_cases
    from goldenlayers.editors import fastpath
    from goldenlayers.editors.context import load_templates
    from goldenlayers.editors.hparams import load_hparams
    from goldenlayers.editors import values as value_module
    from goldenlayers.editors.registry import get_editor
    from goldenlayers.editors.request import EditContext, EditRequest
    from goldenlayers.evaluate.edit_job import EvalLimits, case_queries, edit_case, pre_edit
    from goldenlayers.models.load import load_model

    cpu1, wall1 = cpu_wall()
    model, tokenizer, layout, _ = load_model(args.model_dir, device="cpu")
    hparams = load_hparams(args.hparams, "r-rome")
    if args.templates_json:
        templates = json.loads(Path(args.templates_json).read_text())
    else:
        templates = load_templates(args.prefixes, hparams["context_template_length_params"])
    ctx = EditContext(model, layout, tokenizer, hparams, templates)
    editor = get_editor("r-rome")
    cases = {c.case_id: c for c in load_cases(args.cases_file, "counterfact", "counterfact").cases}
    cpu2, wall2 = cpu_wall()
    reply(op="ready", templates=templates, torch=torch.__version__, threads=torch.get_num_threads(),
          package=str(Path(goldenlayers.__file__).parent), mode=fastpath.get_mode(),
          import_cpu=cpu1 - cpu0, import_wall=wall1 - wall0, load_cpu=cpu2 - cpu1, load_wall=wall2 - wall1,
          n_layers=layout.n_layers, values_op=hasattr(value_module, "compute_site_values"))

    scope = contextlib.ExitStack()
    queries, pre = {}, {}
    store = Path(tempfile.mkdtemp(prefix="goldenlayers-values-")) / "values.safetensors"
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        if command["op"] == "pre":
            case_id = command["request"]["case_id"]
            scope.close()  # one case at a time: its sweep shares the per-case forward
            scope = contextlib.ExitStack()
            scope.enter_context(fastpath.case_cache())
            c, w = cpu_wall()
            queries[case_id] = case_queries(tokenizer, cases[case_id], EvalLimits())
            pre[case_id] = pre_edit(model, tokenizer, queries[case_id])
            c2, w2 = cpu_wall()
            reply(op="pre", case_id=case_id, cpu=c2 - c, wall=w2 - w, pre_rewrite_acc=pre[case_id][0])
        elif command["op"] == "values":  # the workflow's target_values job: every layer's value side by side
            case_id, layers = command["case_id"], [int(l) for l in command["layers"]]
            sites = list(dict.fromkeys(editor.value_site(l, layout.n_layers, hparams) for l in layers))
            ctx.values = None  # optimise: the previous case's store must not answer
            c, w = cpu_wall()
            values = value_module.compute_site_values(ctx, [EditRequest.of(cases[case_id])], sites)
            value_module.save_values(store, values, hparams)
            ctx.values = value_module.ValueStore(store)  # the edits read these, as the workflow's edit jobs do
            c2, w2 = cpu_wall()
            reply(op="values", case_id=case_id, cpu=c2 - c, wall=w2 - w, sites=len(sites),
                  steps={str(site): v[case_id].steps for site, v in values.items()})
        elif command["op"] == "edit":
            case_id, layer = command["case_id"], int(command["layer"])
            c, w = cpu_wall()
            row = edit_case(ctx, editor, cases[case_id], layer, queries[case_id], pre[case_id])
            c2, w2 = cpu_wall()
            reply(op="edit", case_id=case_id, layer=layer, cpu=c2 - c, wall=w2 - w,
                  update_cpu=None, update_wall=row.get("edit_value_seconds"), steps=row.get("edit_v_steps"),
                  status=row["status"], rewrite_acc=row["rewrite_acc"], rephrase_acc=row["rephrase_acc"],
                  locality=row["locality"], pre_rewrite_acc=row["pre_rewrite_acc"])
        else:
            raise SystemExit(f"unknown command {command!r}")
    scope.close()
    return 0


# ------------------------------------------------------------------------------------------------ parent


class Worker:
    """A worker process speaking the line protocol; its stderr goes to a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: str, log: Path):
        self.name, self.log = name, log
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"),
                                     env=env, cwd=cwd, text=True, bufsize=1)
        self.ready = self.receive()

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            tail = self.log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"worker {self.name} ended (exit {code}); end of its log {self.log}:\n{tail}")
        return json.loads(line)

    def ask(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=120)


def thread_env(threads: int, **extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("PYTHONPATH", None)  # each worker imports its own version of the project (or none)
    env.update(extra)
    return env


def loadavg() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None or value != value else format(value, spec)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--easyedit", help="checkout of zjunlp/EasyEdit at commit 14cea82 (required unless --worker)")
    parser.add_argument("--easyedit-venv", default=str(ROOT / ".venv-easyedit"),
                        help="the venv scripts/setup-easyedit.sh built (default .venv-easyedit)")
    parser.add_argument("--layers", default="all", help="the sweep: all (default: every layer), or e.g. 3,13,23,28 or 0-29")
    parser.add_argument("--cases", type=int, default=1, help="how many CounterFact cases (from --skip on)")
    parser.add_argument("--skip", type=int, default=0, help="start at this case of the file")
    parser.add_argument("--threads", type=int, default=1, help="torch/OMP/MKL threads of every worker")
    parser.add_argument("--prefixes", default="easyedit",
                        help="'easyedit' (default): the project uses EasyEdit's sampled templates; 'project': "
                             "the project's stored prefixes (results/prefixes/smollm2-135m.json), or a prefix file")
    parser.add_argument("--values", choices=("sweep", "per-edit"), default="sweep",
                        help="the project's value optimisation: 'sweep' (default; the workflow's path) computes a "
                             "case's values at every layer of the sweep together, once, and its edits read them; "
                             "'per-edit' optimises inside each edit, layer by layer")
    parser.add_argument("--baseline-src", help="also run the project from this src folder (another version)")
    parser.add_argument("--model-dir", default=str(ROOT / "resources/models/smollm2-135m"),
                        help="the folder `goldenlayers prepare-model` wrote (SmolLM2-135M-Instruct safetensors)")
    parser.add_argument("--cases-file", default=str(ROOT / "data/benchmarks/counterfact/counterfact_sample.json"))
    parser.add_argument("--hparams", default=str(ROOT / "config/hparams/r-rome/llama.yaml"))
    parser.add_argument("--json", help="also write every measurement here")
    parser.add_argument("--logs", help="folder for the workers' logs (default: a temporary folder)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--templates-json", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def start_workers(args, workdir: Path, logs: Path) -> dict[str, Worker]:
    if not (Path(args.model_dir) / "config.json").is_file():  # else transformers reads the path as a Hub id
        raise SystemExit(f"--model-dir {args.model_dir}: no prepared model (config.json) there; make it with "
                         "`PATH=$PWD/.venv/bin:$PATH snakemake resources/models/smollm2-135m/prepare.json --cores 1` "
                         "(or `make run`)")
    link = workdir / "smollm2-135m-llama"  # EasyEdit picks its loader by "llama" in the model path
    link.symlink_to(Path(args.model_dir).resolve())
    python = Path(args.easyedit_venv) / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} not found: build it with scripts/setup-easyedit.sh {args.easyedit}")
    easyedit = Worker("easyedit", [str(python), str(DRIVER), "--easyedit", str(Path(args.easyedit).resolve()),
                                   "--model-dir", str(link), "--threads", str(args.threads)],
                      thread_env(args.threads), str(workdir), logs / "easyedit.log")
    common = ["--worker", "--threads", str(args.threads), "--model-dir", args.model_dir,
              "--cases-file", args.cases_file, "--hparams", args.hparams]
    if args.prefixes == "easyedit":
        templates = workdir / "easyedit-templates.json"
        templates.write_text(json.dumps(easyedit.ready["templates"]))
        common += ["--templates-json", str(templates)]
    else:
        prefixes = ROOT / "results/prefixes/smollm2-135m.json" if args.prefixes == "project" else Path(args.prefixes)
        common += ["--prefixes", str(prefixes)]
    workers = {"easyedit": easyedit}
    workers["goldenlayers"] = Worker("goldenlayers", [sys.executable, str(Path(__file__).resolve()), *common],
                                     thread_env(args.threads), str(ROOT), logs / "goldenlayers.log")
    if args.baseline_src:
        workers["baseline"] = Worker("baseline", [sys.executable, str(Path(__file__).resolve()), *common],
                                     thread_env(args.threads, PYTHONPATH=str(Path(args.baseline_src).resolve())),
                                     str(ROOT), logs / "baseline.log")
    return workers


def report(args, workers: dict[str, Worker], layers: list[int], cases, pre: dict, values: dict, edits: dict,
           load_start: str, load_end: str, started: str) -> list[str]:
    names = list(workers)
    ours = [n for n in names if n != "easyedit"]
    lines = [f"command: {' '.join(sys.argv)}",
             f"R-ROME layer sweep with evaluation, EasyEdit 14cea82 vs goldenlayers; SmolLM2-135M-Instruct, "
             f"{len(cases)} CounterFact case(s) ({', '.join(c.case_id for c in cases)}) x {len(layers)} layer(s) "
             f"({','.join(map(str, layers))}); {args.threads} thread(s) each, one worker at a time, order rotating "
             f"per layer; started {started}",
             f"load average (1/5/15 min) at start: {load_start}; at end: {load_end}"]
    for name, w in workers.items():
        r = w.ready
        extra = f", package {r['package']}, path {r['mode']}" if "package" in r else f", {r.get('shim', '')}"
        lines.append(f"  {name}: torch {r['torch']}, {r['threads']} thread(s); not timed: imports {r['import_cpu']:.1f} "
                     f"CPU-s, model load {r['load_cpu']:.1f} CPU-s"
                     + (f", template sampling {r['templates_cpu']:.1f} CPU-s" if "templates_cpu" in r else "") + extra)
    same = all(w.ready["templates"] == workers["easyedit"].ready["templates"] for w in workers.values())
    lines.append(f"  context templates: {len(workers['easyedit'].ready['templates'])} "
                 f"({'the same in every worker' if same else 'the project uses its own stored prefixes'})")
    lines.append("")
    head = f"{'case':>6} {'layer':>5} | {'EasyEdit CPU (wall)':>20} {'update':>7} {'steps':>5}"
    for n in ours:
        head += f" | {n + ' CPU (wall)':>24} {'steps':>5} {'EE/' + n[:4]:>8}"
    head += " | rewrite EE/" + "/".join(n[:4] for n in ours) + " | rephrase | locality (10)"
    lines += [head, "-" * len(head)]
    ratios: dict[str, list[float]] = {n: [] for n in ours}
    for case in cases:
        cid = case.case_id
        row = f"{cid:>6} {'pre':>5} | {pre['easyedit'][cid]['cpu']:>9.1f} ({pre['easyedit'][cid]['wall']:>6.1f}) {'':>7} {'':>5}"
        for n in ours:
            row += f" | {pre[n][cid]['cpu']:>13.2f} ({pre[n][cid]['wall']:>6.2f}) {'':>5} {'':>8}"
        lines.append(row)
        if any(cid in values[n] for n in ours):
            row = f"{cid:>6} {'value':>5} | {'(inside each edit)':>20} {'':>7} {'':>5}"
            for n in ours:
                v = values[n].get(cid)
                row += (f" | {v['cpu']:>13.2f} ({v['wall']:>6.2f}) {sum(v['steps'].values()):>5} {'':>8}" if v
                        else f" | {'(inside each edit)':>24} {'':>5} {'':>8}")
            lines.append(row + f" | the value optimisation of all {len(layers)} layer(s) together (steps: their sum)")
        for layer in layers:
            ee = edits["easyedit"][(cid, layer)]
            row = f"{cid:>6} {layer:>5} | {ee['cpu']:>9.1f} ({ee['wall']:>6.1f}) {ee['update_cpu']:>7.1f} {ee['steps']:>5}"
            metrics = {k: [fmt(ee[k])] for k in ("rewrite_acc", "rephrase_acc", "locality")}
            for n in ours:
                r = edits[n][(cid, layer)]
                if cid in values[n]:  # the edit read its value: no per-edit ratio (the sweep's totals compare)
                    shown = f"{'-':>8}"
                else:
                    ratios[n].append(ee["cpu"] / r["cpu"])
                    shown = f"{ratios[n][-1]:>7.1f}x"
                row += f" | {r['cpu']:>13.2f} ({r['wall']:>6.2f}) {fmt(r['steps'], 'd'):>5} {shown}"
                for k in metrics:
                    metrics[k].append(fmt(r[k]))
            row += " | " + " | ".join("/".join(v) for v in metrics.values())
            lines.append(row)
    lines.append("")
    for n in ours:
        if ratios[n]:
            lines.append(f"per edit, EasyEdit / {n} by CPU: median {statistics.median(ratios[n]):.1f}x "
                         f"(range {min(ratios[n]):.1f}-{max(ratios[n]):.1f}, {len(ratios[n])} edits)")
        else:
            lines.append(f"per edit: no ratio for {n}, whose edits read the values computed for the whole sweep "
                         "(update + evaluation only); the sweep's totals below compare")
    for case in cases:
        cid = case.case_id
        totals = {}
        for name in names:
            v = values[name].get(cid, {"cpu": 0.0, "wall": 0.0})
            cpu = pre[name][cid]["cpu"] + v["cpu"] + sum(edits[name][(cid, l)]["cpu"] for l in layers)
            wall = pre[name][cid]["wall"] + v["wall"] + sum(edits[name][(cid, l)]["wall"] for l in layers)
            totals[name] = (cpu, wall)
        lines.append(f"case {cid}, sweep of {len(layers)} layer(s) incl. pre-edit evaluation and values: "
                     + "; ".join(f"{n} {c:.1f} CPU-s ({w:.1f} s wall)" for n, (c, w) in totals.items()))
        for n in ours:
            lines.append(f"  EasyEdit / {n}: {totals['easyedit'][0] / totals[n][0]:.1f}x by CPU, "
                         f"{totals['easyedit'][1] / totals[n][1]:.1f}x by wall time")
        if "baseline" in totals:
            lines.append(f"  baseline / goldenlayers: {totals['baseline'][0] / totals['goldenlayers'][0]:.2f}x by CPU")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if not args.easyedit:
        raise SystemExit("--easyedit PATH (a checkout of zjunlp/EasyEdit at commit 14cea82) is required")
    from goldenlayers.data.loaders import load_cases

    cases = load_cases(args.cases_file, "counterfact", "counterfact").cases[args.skip: args.skip + args.cases]
    workdir = Path(tempfile.mkdtemp(prefix="easyedit-side-by-side-"))
    logs = Path(args.logs) if args.logs else workdir
    logs.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = loadavg()
    workers = start_workers(args, workdir, logs)
    try:
        layers = parse_layers(args.layers, workers["easyedit"].ready["n_layers"])
        names = list(workers)
        pre: dict[str, dict] = {n: {} for n in names}
        edits: dict[str, dict] = {n: {} for n in names}
        values: dict[str, dict] = {n: {} for n in names}
        turn = 0
        for case in cases:
            request = easyedit_request(case)
            for name in names:
                pre[name][case.case_id] = workers[name].ask(op="pre", request=request)
            if args.values == "sweep":  # a --baseline-src before 4271690 has no compute_site_values: per edit
                for name in [n for n in names[1:] if workers[n].ready.get("values_op")]:
                    values[name][case.case_id] = workers[name].ask(op="values", case_id=case.case_id, layers=layers)
                    print(f"case {case.case_id}: {name} values of {len(layers)} layer(s) "
                          f"{values[name][case.case_id]['cpu']:.1f} CPU-s", file=sys.stderr, flush=True)
            for layer in layers:
                order = names[turn % len(names):] + names[: turn % len(names)]
                turn += 1
                for name in order:
                    edits[name][(case.case_id, layer)] = workers[name].ask(op="edit", case_id=case.case_id, layer=layer)
                print(f"case {case.case_id} layer {layer}: "
                      + ", ".join(f"{n} {edits[n][(case.case_id, layer)]['cpu']:.1f} CPU-s" for n in names)
                      + f"  (load {loadavg()})", file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.close()
    lines = report(args, workers, layers, cases, pre, values, edits, load_start, loadavg(), started)
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "ready": {n: w.ready for n, w in workers.items()}, "pre": pre, "values": values,
            "edits": {n: [v for v in e.values()] for n, e in edits.items()}, "table": lines}, indent=1))
    print(f"worker logs: {logs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
