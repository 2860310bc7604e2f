"""EasyEdit's side of ``benchmarks/easyedit_side_by_side.py``: runs inside the EasyEdit venv, not the project's.

Started once per benchmark by the parent with the venv's Python (``scripts/setup-easyedit.sh`` builds it):

    .venv-easyedit/bin/python benchmarks/easyedit_driver.py --easyedit /path/to/EasyEdit --model-dir DIR

``DIR`` must contain "llama" in its name (EasyEdit's ``BaseEditor`` picks its loader by a substring of the model
path); the parent passes a symlink to the project's prepared model. This process imports EasyEdit from the
checkout (unchanged: nothing is patched, only ``sys.path`` points at it), loads the model once, builds R-ROME's
hyperparameters from EasyEdit's own ``hparams/R-ROME/llama-7b.yaml`` with the settings a CPU run of a 30-layer
model needs (device, float32, the loss layer = the last layer, the layer of each edit), samples EasyEdit's
context templates (its own code, seeded by EasyEdit at import), and then answers one JSON command per stdin
line with one JSON line on its protocol stream (the original stdout; EasyEdit's prints go to stderr):

- ``{"op": "pre", "request": {...}}``: EasyEdit's pre-edit evaluation of a request, kept for its edits;
- ``{"op": "edit", "case_id": ..., "layer": L}``: ``BaseEditor.edit_requests`` on that request at layer L with the
  kept pre-edit metrics (update, post-edit evaluation, weight restore), timed as a whole and its update
  (``apply_algo``) alone; the reply has CPU and wall seconds, EasyEdit's metrics and the optimisation steps;
- ``{"op": "quit"}``.

Times exclude imports, the model load and the template sampling (reported once, separately).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import re
import sys
import time


def cpu_wall() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def import_torchvision_on_cpu_torch() -> str:
    """Import torchvision; if its compiled ops cannot load beside this torch (PyPI's torchvision for torch 2.13
    is a CUDA build), declare the schemas of the two operators its Python code registers fake kernels for, so
    that the pure-Python part imports. The operators are never called on the text-editing path."""
    import torch

    try:
        import torchvision  # noqa: F401
        return "torchvision imported as is"
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    library = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    globals()["_torchvision_schemas"] = library  # the definitions live as long as the library object
    import torchvision  # noqa: F401,F811
    return "torchvision's compiled ops unavailable: nms/qnms schemas declared before import"


def r_rome_hparams(easyedit_dir: str, model_dir: str, n_layers: int):
    """EasyEdit's R-ROME llama-7b hyperparameters, with what differs for this run: the model path, CPU, float32,
    the loss at the last of ``n_layers`` layers (llama-7b's 31 is its last)."""
    import yaml
    from easyeditor.models.r_rome.r_rome_hparams import R_ROMEHyperParams

    with open(os.path.join(easyedit_dir, "hparams", "R-ROME", "llama-7b.yaml")) as handle:
        config = yaml.safe_load(handle)
    config.update(model_name=model_dir, device="cpu", fp16=False, v_loss_layer=n_layers - 1)
    for key in ("v_lr", "v_weight_decay"):  # "5e-1" is a string to PyYAML
        config[key] = float(config[key])
    return R_ROMEHyperParams(**config)


def flat_mean(value) -> float:
    """Mean of a metric that EasyEdit reports as a number, a list or a list of lists."""
    import numpy as np

    return float(np.mean(np.asarray(value, dtype=float))) if value is not None else float("nan")


def post_metrics(metrics: dict) -> dict:
    post = metrics["post"]
    rephrase = [flat_mean(post["rephrase_acc"])] if "rephrase_acc" in post else []
    rephrase += [flat_mean(v) for k, v in post.get("portability", {}).items() if k.startswith("rephrase")]
    locality = post.get("locality", {}).get("neighborhood_acc")
    return {"rewrite_acc": flat_mean(post["rewrite_acc"]),
            "rephrase_acc": sum(rephrase) / len(rephrase) if rephrase else float("nan"),
            "locality": flat_mean(locality) if locality is not None else float("nan"),
            "pre_rewrite_acc": flat_mean(metrics["pre"]["rewrite_acc"])}


LOSS_LINE = re.compile(r"^loss \S+ = ", re.M)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--easyedit", required=True, help="checkout of zjunlp/EasyEdit at commit 14cea82")
    parser.add_argument("--model-dir", required=True, help="model folder whose name contains 'llama'")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # everything EasyEdit prints goes to stderr
    sys.stdout = sys.stderr

    def reply(**fields) -> None:
        protocol.write(json.dumps(fields) + "\n")

    cpu0, wall0 = cpu_wall()
    import torch

    torch.set_num_threads(args.threads)
    shim = import_torchvision_on_cpu_torch()
    sys.path.insert(0, os.path.abspath(args.easyedit))
    from easyeditor import BaseEditor
    from easyeditor.models.r_rome.r_rome_main import get_context_templates
    from transformers import AutoConfig

    cpu1, wall1 = cpu_wall()
    n_layers = AutoConfig.from_pretrained(args.model_dir).num_hidden_layers
    hparams = r_rome_hparams(args.easyedit, args.model_dir, n_layers)
    editor = BaseEditor.from_hparams(hparams)
    cpu2, wall2 = cpu_wall()
    templates = get_context_templates(editor.model, editor.tok, hparams.context_template_length_params)
    cpu3, wall3 = cpu_wall()

    update_seconds: list[tuple[float, float]] = []
    apply_algo = editor.apply_algo

    def timed_apply_algo(*a, **kw):  # an attribute of this editor instance; EasyEdit's code is unchanged
        c, w = cpu_wall()
        try:
            return apply_algo(*a, **kw)
        finally:
            c2, w2 = cpu_wall()
            update_seconds.append((c2 - c, w2 - w))

    editor.apply_algo = timed_apply_algo
    reply(op="ready", templates=templates, torch=torch.__version__, threads=torch.get_num_threads(), shim=shim,
          import_cpu=cpu1 - cpu0, import_wall=wall1 - wall0, load_cpu=cpu2 - cpu1, load_wall=wall2 - wall1,
          templates_cpu=cpu3 - cpu2, templates_wall=wall3 - wall2, n_layers=n_layers)

    from easyeditor.evaluate import compute_edit_quality

    requests: dict[str, dict] = {}
    pre: dict[str, dict] = {}
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        if command["op"] == "pre":
            request = command["request"]
            c, w = cpu_wall()
            metrics = compute_edit_quality(editor.model, editor.model_name, hparams, editor.tok, request,
                                           hparams.device, eval_metric="exact match")
            c2, w2 = cpu_wall()
            requests[request["case_id"]], pre[request["case_id"]] = request, {"pre": metrics}
            reply(op="pre", case_id=request["case_id"], cpu=c2 - c, wall=w2 - w,
                  pre_rewrite_acc=flat_mean(metrics["rewrite_acc"]))
        elif command["op"] == "edit":
            case_id, layer = command["case_id"], int(command["layer"])
            request = {k: v for k, v in requests[case_id].items() if k != "case_id"}
            hparams.layers = [layer]
            update_seconds.clear()
            printed = io.StringIO()
            c, w = cpu_wall()
            with contextlib.redirect_stdout(printed):
                metrics, _, _ = editor.edit_requests([request], pre_edit=[copy.deepcopy(pre[case_id])], verbose=False)
            c2, w2 = cpu_wall()
            sys.stderr.write(printed.getvalue())
            steps = len(LOSS_LINE.findall(printed.getvalue()))
            reply(op="edit", case_id=case_id, layer=layer, cpu=c2 - c, wall=w2 - w,
                  update_cpu=update_seconds[0][0], update_wall=update_seconds[0][1], steps=steps,
                  **post_metrics(metrics[0]))
        else:
            raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
