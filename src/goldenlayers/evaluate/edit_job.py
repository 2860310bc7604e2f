"""One edit job: every case of one (model, editor, dataset) edited at one layer, then evaluated, per split.

Single-fact editing: for each case the editor computes its update, the update is applied, the case is
evaluated with EasyEdit's teacher-forced metrics, and the original weights are copied back (bit-exact),
so cases never see each other's edits. A case whose update is not finite is recorded as failed with its
reason; the other cases are kept.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from .. import __version__
from ..data.context_length import read_cases_for_model
from ..editors.context import load_templates
from ..editors.core import EditContext, EditRequest
from ..editors.hparams import hparams_hash
from ..editors.registry import get_editor
from ..errors import InputError
from ..io import write_json, write_parquet
from ..models.load import load_model
from .failures import is_numeric_failure, update_failure
from .metrics import METRIC_PROTOCOL, mean_or_nan, predicted_tokens, token_accuracy, unchanged_fraction
from .sweep import predict
from .tokens import encode_qa

log = logging.getLogger(__name__)


@dataclass
class EvalLimits:
    max_rephrase: int = 2
    max_locality: int = 10
    max_portability: int = 10


def case_queries(tokenizer, case, limits: EvalLimits) -> dict[str, list]:
    """The (query, answer) token sequences each metric reads, for one case."""
    return {
        "rewrite": [encode_qa(tokenizer, case.prompt, case.target_new)],
        "rephrase": [encode_qa(tokenizer, p, case.target_new) for p in case.rephrase_prompts[: limits.max_rephrase]],
        "portability": [
            encode_qa(tokenizer, p, a)
            for p, a in list(zip(case.portability_prompts, case.portability_answers))[: limits.max_portability]
        ],
        "locality": [
            encode_qa(tokenizer, p, a)
            for p, a in list(zip(case.locality_prompts, case.locality_answers))[: limits.max_locality]
        ],
    }


def _flatten(queries: dict[str, list], names: list[str]):
    flat, spans = [], {}
    for name in names:
        spans[name] = (len(flat), len(flat) + len(queries[name]))
        flat.extend(queries[name])
    return flat, spans


def evaluate_case(model, tokenizer, queries, pre_locality: list[torch.Tensor]) -> dict[str, float]:
    names = ["rewrite", "rephrase", "portability", "locality"]
    flat, spans = _flatten(queries, names)
    predicted = predict(model, flat, tokenizer.pad_token_id)  # fast or reference path (editors.fastpath)

    def part(name):
        start, stop = spans[name]
        return list(zip(predicted[start:stop], flat[start:stop]))

    return {
        "rewrite_acc": mean_or_nan([token_accuracy(p, qa) for p, qa in part("rewrite")]),
        "rephrase_acc": mean_or_nan([token_accuracy(p, qa) for p, qa in part("rephrase")]),
        "portability": mean_or_nan([token_accuracy(p, qa) for p, qa in part("portability")]),
        "locality": mean_or_nan([unchanged_fraction(b, p) for b, (p, _) in zip(pre_locality, part("locality"))]),
    }


class AppliedEdit:
    """Context manager: add the deltas to the model's weights, and copy the originals back on exit."""

    def __init__(self, layout, deltas: dict[int, torch.Tensor]):
        self.layout, self.deltas, self.saved = layout, deltas, {}

    def __enter__(self):
        for layer, delta in self.deltas.items():
            weight = self.layout.rewrite_weight(layer)
            self.saved[layer] = weight.detach().clone()
            self.layout.add_to_weight(layer, delta)
        return self

    def __exit__(self, *exc):
        with torch.no_grad():
            for layer, original in self.saved.items():
                self.layout.rewrite_weight(layer).copy_(original)
        return False


@dataclass(frozen=True)
class SplitOutput:
    """One split of an edit job: its cases and where its table and resolved hparams go."""

    split: str
    cases_path: str
    out: str
    out_hparams: str


def run_edit_job(*, cases_path: str, split: str, out: str, out_hparams: str, **job: Any) -> pd.DataFrame:
    """Edit and evaluate every case of one split (see :func:`run_edit_jobs`); return its table."""
    return run_edit_jobs(splits=[SplitOutput(split, cases_path, out, out_hparams)], **job)[0]


def run_edit_jobs(
    *,
    model_dir: str,
    model_name: str,
    splits: list[SplitOutput],
    editor_name: str,
    hparams: dict[str, Any],
    layer: int,
    templates_path: str,
    dataset: str,
    seed: int = 0,
    device: str = "auto",
    dtype: str = "float32",
    limits: EvalLimits | None = None,
    stats_paths: dict[int, str] | None = None,
    values_path: str | None = None,
) -> list[pd.DataFrame]:
    """The edit rule: every case of each split edited at ``layer`` and evaluated, one table per split.

    The model is loaded once for all splits. With ``values_path`` (the target_values stage's file) the value
    optimisation is read, not rerun. Nothing is written until every split is done."""
    limits = limits or EvalLimits()
    torch.manual_seed(seed)
    model, tokenizer, layout, info = load_model(model_dir, device=device, dtype=dtype)
    layout.check_layer(layer, field="layer")
    editor = get_editor(editor_name)
    edited_layers = editor.edited_layers(layer, layout.n_layers, hparams)
    templates = load_templates(templates_path, hparams["context_template_length_params"])

    second_moment = None
    if editor.needs_stats(hparams):
        from ..stats.covariance import load_second_moment

        missing = [l for l in edited_layers if l not in (stats_paths or {})]
        if missing:
            raise InputError(f"editor {editor_name} needs covariance statistics for layers {missing}", field="stats")
        cache: dict[int, torch.Tensor] = {}

        def second_moment(l: int) -> torch.Tensor:
            if l not in cache:
                cache[l] = load_second_moment(stats_paths[l])
            return cache[l]

    values = None
    if values_path:
        from ..editors.values import ValueStore

        values = ValueStore(values_path)
    ctx = EditContext(model, layout, tokenizer, hparams, templates, second_moment, values)
    digest = hparams_hash(hparams)
    frames = []
    fittings = [read_cases_for_model(part.cases_path, tokenizer, model) for part in splits]  # all checked first
    for part, fitting in zip(splits, fittings):
        rows = [_edit_case(ctx, editor, case, layer, limits)
                for case in tqdm(fitting.cases, desc=f"{editor_name} L{layer} {dataset}/{part.split}",
                                 unit="case", mininterval=5)]
        frame = pd.DataFrame(rows)
        provenance = {
            "model": model_name, "model_revision": info["revision"], "editor": editor_name, "dataset": dataset,
            "split": part.split, "layer": layer, "hparams_hash": digest, "seed": seed, "package_version": __version__,
        }
        for key, value in provenance.items():
            frame[key] = value
        frame["edited_layers"] = [list(edited_layers)] * len(frame)
        front = ["model", "model_revision", "editor", "dataset", "split", "layer", "edited_layers", "case_id",
                 "rewrite_acc", "rephrase_acc", "locality", "portability", "pre_rewrite_acc", "status", "failure_reason",
                 "seconds", "hparams_hash", "seed", "package_version"]
        frames.append((part, frame[front + [c for c in frame.columns if c not in front]],
                       {**provenance, **fitting.metadata()}))
    for part, frame, provenance in frames:
        write_json(part.out_hparams, {"editor": editor_name, "hparams": hparams, "hparams_hash": digest,
                                      "edited_layers": edited_layers})
        write_parquet(part.out, frame, metadata={"metric_protocol": METRIC_PROTOCOL, "hparams": hparams, **provenance})
    return [frame for _, frame, _ in frames]


def _edit_case(ctx: EditContext, editor, case, layer: int, limits: EvalLimits) -> dict[str, Any]:
    """Edit one case, evaluate it, restore the weights; a non-finite update is recorded as failed."""
    model, tokenizer, layout = ctx.model, ctx.tokenizer, ctx.layout
    start = time.perf_counter()
    queries = case_queries(tokenizer, case, limits)
    pre = predict(model, queries["rewrite"] + queries["locality"], tokenizer.pad_token_id)
    pre_rewrite = token_accuracy(pre[0], queries["rewrite"][0])
    request = EditRequest(case.prompt, case.subject, case.target_new, case.case_id)
    row: dict[str, Any] = {"case_id": case.case_id, "pre_rewrite_acc": pre_rewrite, "status": "ok", "failure_reason": None}
    try:
        deltas, extra = editor.compute_deltas(ctx, request, layer)
        failure = update_failure(deltas, extra, ctx.values.failure_of(case.case_id) if ctx.values is not None else None)
    except Exception as err:  # an overflow or a singular solve fails this case, not the job
        if not is_numeric_failure(err):
            raise
        deltas, extra, failure = {}, {}, f"numeric failure while computing the update: {type(err).__name__}: {err}"
    if failure:
        row.update(status="failed", failure_reason=failure,
                   rewrite_acc=math.nan, rephrase_acc=math.nan, portability=math.nan, locality=math.nan)
        log.warning("case %s: %s; recorded as failed", case.case_id, failure)
    else:
        with AppliedEdit(layout, deltas):
            row.update(evaluate_case(model, tokenizer, queries, pre[1:]))
    row.update({f"edit_{k}": v for k, v in extra.items()})
    # a value read from the target_values stage counts with the time it took there (the edit's whole cost)
    row["seconds"] = time.perf_counter() - start + (extra.get("value_seconds", 0.0) if ctx.values is not None else 0.0)
    return row
