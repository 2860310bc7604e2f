"""One edit job: every case of one (model, editor, dataset) edited at each layer of a chunk, then evaluated,
per split; the model is loaded once for the chunk (:mod:`goldenlayers.chunks`).

Single-fact editing: for each case the editor computes its update, the update is applied, the case is
evaluated with EasyEdit's teacher-forced metrics, and the original weights are copied back (bit-exact,
:class:`~goldenlayers.editors.weights.AppliedEdit`), so cases never see each other's edits. A case whose
update is not finite is recorded as failed with its reason; the other cases are kept.

:func:`edit_case` is the one evaluation path: edit jobs, the fast-path equivalence tests and the benchmark
scripts all call it (a layer sweep in one process passes the pre-edit predictions, which do not depend on
the layer, and wraps it in :func:`goldenlayers.editors.fastpath.case_cache`). The workflow's edit jobs read
the pre-edit predictions from the ``pre_edit`` rule's file (:mod:`goldenlayers.evaluate.pre_edit`), made once
per (model, dataset).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import torch
from tqdm import tqdm

from .. import __version__
from ..data.context_length import read_cases_for_model
from ..chunks import chunk_name as chunk_label
from ..editors.case_cache import case_cache
from ..editors.context import load_templates
from ..editors.hparams import hparams_hash
from ..editors.registry import get_editor
from ..editors.request import EditContext, EditRequest
from ..editors.weights import AppliedEdit
from ..errors import InputError, is_numeric_failure
from ..io import write_json, write_parquet
from ..models.load import load_model
from .failures import update_failure
from .metrics import METRIC_PROTOCOL, mean_or_nan, predict, token_accuracy, unchanged_fraction
from .pre_edit import pre_edit_case, read_pre_edit
from .queries import EvalLimits, case_queries

log = logging.getLogger(__name__)

METRICS = ("rewrite_acc", "rephrase_acc", "portability", "locality")
# the edit table's first columns, in this order (the rest follow: edit_* figures of the editor)
FRONT_COLUMNS = ["model", "model_revision", "editor", "dataset", "split", "layer", "edited_layers", "case_id",
                 "rewrite_acc", "rephrase_acc", "locality", "portability", "pre_rewrite_acc", "status",
                 "failure_reason", "seconds", "hparams_hash", "seed", "package_version"]


def pre_edit(model, tokenizer, queries) -> tuple[float, list[torch.Tensor]]:
    """(pre-edit rewrite accuracy, pre-edit argmax tokens of the locality queries)."""
    pre = pre_edit_case(model, tokenizer, queries)
    return pre.rewrite_acc, pre.locality_tokens


def evaluate_case(model, tokenizer, queries, pre_locality: list[torch.Tensor]) -> dict[str, float]:
    """The four metrics of one case on the model as it is (edited), in one batch of every query."""
    names = ["rewrite", "rephrase", "portability", "locality"]
    flat = [qa for name in names for qa in queries[name]]
    predicted = predict(model, flat, tokenizer.pad_token_id)  # fast or reference path (editors.fastpath)
    parts, start = {}, 0
    for name in names:
        parts[name] = list(zip(predicted[start: start + len(queries[name])], queries[name]))
        start += len(queries[name])
    return {
        "rewrite_acc": mean_or_nan([token_accuracy(p, qa) for p, qa in parts["rewrite"]]),
        "rephrase_acc": mean_or_nan([token_accuracy(p, qa) for p, qa in parts["rephrase"]]),
        "portability": mean_or_nan([token_accuracy(p, qa) for p, qa in parts["portability"]]),
        "locality": mean_or_nan([unchanged_fraction(b, p) for b, (p, _) in zip(pre_locality, parts["locality"])]),
    }


def edit_case(ctx: EditContext, editor, case, layer: int, queries: dict[str, list],
              pre: tuple[float, list[torch.Tensor]] | None = None) -> dict[str, Any]:
    """Edit one case at ``layer``, evaluate it, restore the weights; a case whose update fails
    (:mod:`goldenlayers.evaluate.failures`: an overflow, a non-finite or a no-op update) is recorded as failed.

    ``pre``: the case's :func:`pre_edit` result when the caller has it already (it does not depend on the layer).
    """
    start = time.perf_counter()
    pre_rewrite, pre_locality = pre or pre_edit(ctx.model, ctx.tokenizer, queries)
    row: dict[str, Any] = {"case_id": case.case_id, "pre_rewrite_acc": pre_rewrite, "status": "ok", "failure_reason": None}
    try:
        deltas, extra = editor.compute_deltas(ctx, EditRequest.of(case), layer)
        value_failure = None
        if ctx.values is not None:
            value_failure = ctx.values.failure_of(case.case_id, editor.value_site(layer, ctx.layout.n_layers, ctx.hparams))
        failure = update_failure(deltas, extra, value_failure)
    except Exception as err:  # an overflow or a singular solve fails this case, not the job
        if not is_numeric_failure(err):
            raise
        deltas, extra, failure = {}, {}, f"numeric failure while computing the update: {type(err).__name__}: {err}"
    if failure:
        row.update(status="failed", failure_reason=failure, **{name: math.nan for name in METRICS})
        log.warning("case %s: %s; recorded as failed", case.case_id, failure)
    else:
        with AppliedEdit(ctx.layout, deltas):
            row.update(evaluate_case(ctx.model, ctx.tokenizer, queries, pre_locality))
    row.update({f"edit_{k}": v for k, v in extra.items()})
    # a value read from the target_values stage counts with the time it took there (the edit's whole cost)
    row["seconds"] = time.perf_counter() - start + (extra.get("value_seconds", 0.0) if ctx.values is not None else 0.0)
    return row


@dataclass(frozen=True)
class SplitOutput:
    """One split of an edit job: its cases and where its table goes (one row per case and layer)."""

    split: str
    cases_path: str
    out: str


def run_edit_job(*, cases_path: str, split: str, out: str, **job: Any) -> pd.DataFrame:
    """Edit and evaluate every case of one split (see :func:`run_edit_jobs`); return its table."""
    return run_edit_jobs(splits=[SplitOutput(split, cases_path, out)], **job)[0]


def second_moments(editor_name: str, edited_layers: list[int], stats_paths: dict[int, str] | None) -> Callable[[int], torch.Tensor]:
    """layer -> E[k k^T] from the job's statistics files, each read once when first asked for."""
    from ..stats.covariance import load_second_moment

    missing = [l for l in edited_layers if l not in (stats_paths or {})]
    if missing:
        raise InputError(f"editor {editor_name} needs covariance statistics for layers {missing}", field="stats")
    cache: dict[int, torch.Tensor] = {}

    def second_moment(l: int) -> torch.Tensor:
        if l not in cache:
            cache[l] = load_second_moment(stats_paths[l])
        return cache[l]

    return second_moment


def run_edit_jobs(
    *,
    model_dir: str,
    model_name: str,
    splits: list[SplitOutput],
    editor_name: str,
    hparams: dict[str, Any],
    layers: list[int],
    templates_path: str,
    dataset: str,
    seed: int = 0,
    device: str = "auto",
    dtype: str = "float32",
    limits: EvalLimits | None = None,
    stats_paths: dict[int, str] | None = None,
    values_path: str | None = None,
    pre_edit_path: str | None = None,
    out_hparams: str | None = None,
) -> list[pd.DataFrame]:
    """The edit rule: every case of each split edited at each of ``layers`` and evaluated, one table per split
    (a row per case and layer).

    The model is loaded once for all layers and splits. With ``values_path`` (the target_values stage's file of
    these layers' sites) the value optimisation is read, not rerun; with ``pre_edit_path`` (the pre_edit
    stage's file) so are the unedited predictions, else they are computed here once per case. Each layer starts
    from the same seed, so a layer's rows do not depend on the chunk it is in. Nothing is written until every
    layer and split is done."""
    limits = limits or EvalLimits()
    model, tokenizer, layout, info = load_model(model_dir, device=device, dtype=dtype)
    for layer in layers:
        layout.check_layer(layer, field="layers")
    editor = get_editor(editor_name)
    edited = {layer: editor.edited_layers(layer, layout.n_layers, hparams) for layer in layers}
    templates = load_templates(templates_path, hparams["context_template_length_params"])
    all_edited = sorted({l for group in edited.values() for l in group})
    second_moment = second_moments(editor_name, all_edited, stats_paths) if editor.needs_stats(hparams) else None
    values = None
    if values_path:
        from ..editors.values import ValueStore

        values = ValueStore(values_path)
    ctx = EditContext(model, layout, tokenizer, hparams, templates, second_moment, values)
    digest = hparams_hash(hparams)
    fittings = [read_cases_for_model(part.cases_path, tokenizer, model) for part in splits]  # all checked first
    stored = read_pre_edit(pre_edit_path, limits) if pre_edit_path else {}
    queries = {id(case): case_queries(tokenizer, case, limits) for fitting in fittings for case in fitting.cases}
    pre: dict[int, tuple[float, list[torch.Tensor]]] = {}
    for fitting in fittings:
        for case in fitting.cases:
            if pre_edit_path and str(case.case_id) not in stored:
                raise InputError("no pre-edit predictions for this case; the pre_edit rule rebuilds the file",
                                 file=pre_edit_path, record=case.case_id, field="case_id")
            found = stored.get(str(case.case_id)) or pre_edit_case(model, tokenizer, queries[id(case)])
            pre[id(case)] = (found.rewrite_acc, found.locality_tokens)
    frames = []
    for part, fitting in zip(splits, fittings):
        rows = []
        # one case at every layer of the chunk inside a case_cache scope: what the layers' edits of a case share
        # (its keys at every layer, the evaluation below the edited layer) is computed once per case; each
        # (case, layer) starts from the seed, so a row does not depend on the chunk it is in
        for case in tqdm(fitting.cases, desc=f"{editor_name} L{chunk_label(layers)} {dataset}/{part.split}",
                         unit="case", mininterval=5):
            with case_cache():
                for layer in layers:
                    torch.manual_seed(seed)
                    rows.append({"layer": layer, "edited_layers": list(edited[layer]),
                                 **edit_case(ctx, editor, case, layer, queries[id(case)], pre[id(case)])})
        frame = pd.DataFrame(rows).sort_values("layer", kind="stable").reset_index(drop=True)
        columns = {
            "model": model_name, "model_revision": info["revision"], "editor": editor_name, "dataset": dataset,
            "split": part.split, "hparams_hash": digest, "seed": seed, "package_version": __version__,
        }
        frame = frame.assign(**columns)
        frames.append((part, frame[FRONT_COLUMNS + [c for c in frame.columns if c not in FRONT_COLUMNS]],
                       {**columns, "layers": list(layers), **fitting.metadata()}))
    if out_hparams:
        write_json(out_hparams, {"editor": editor_name, "hparams": hparams, "hparams_hash": digest,
                                 "edited_layers": {str(layer): group for layer, group in edited.items()}})
    for part, frame, provenance in frames:
        write_parquet(part.out, frame, metadata={"metric_protocol": METRIC_PROTOCOL, "hparams": hparams, **provenance})
    return [frame for _, frame, _ in frames]
