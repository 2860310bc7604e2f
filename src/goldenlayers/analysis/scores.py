"""Per-case edit scores: read the edit Parquet files and shape them for every golden-layer analysis.

The edit stage writes one file per (model, editor, dataset, split, layer) with one row per case. Here they
become one long table (``case_scores``), one row per (model, editor, dataset, split, layer, case) with the four
metrics plus ``overall``: the mean over the metrics that case has. Everything downstream reads the matrix
``cases x layers`` of one (model, editor, dataset, split, metric) from it.

Failed edits (``status == "failed"``) are counted and, by default, left out of every mean (``failed="drop"``);
``failed="zero"`` scores them 0 instead (a pessimistic reading: a failed edit did not edit), and
``failed="unedited"`` as the unedited model scores them (what a failed edit leaves: the weights unchanged), on the
metrics the case's dataset has (a metric no successful row of the (model, dataset) has stays missing, never 0).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import FAILED_MODES
from ..errors import InputError
from ..io import read_table

log = logging.getLogger(__name__)

BASE_METRICS = ("rewrite_acc", "rephrase_acc", "locality", "portability")
METRICS = (*BASE_METRICS, "overall")
KEYS = ("model", "editor", "dataset")
REQUIRED = ("model", "editor", "dataset", "split", "layer", "case_id", "status", *BASE_METRICS)
# ``failed="unedited"``: a failed edit left the weights as they were (the editor refuses to write a NaN, an
# overflowing or a zero update), so each case is scored as the unedited model scores it: its pre-edit accuracy
# (results/pre_edit) on the rewrite, rephrase and portability prompts, and locality 1 (locality compares with the
# unedited model's own predictions). Metric -> the pre-edit column that holds it.
UNEDITED_SCORES = {"rewrite_acc": "pre_rewrite_acc", "rephrase_acc": "pre_rephrase_acc",
                   "portability": "pre_portability"}
PRE_LOCALITY = "pre_n_locality"  # how many locality prompts the case has (0: no locality score)
PRE_EDIT_KEYS = ["model", "dataset", "split", "case_id"]


def add_overall(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``overall``: per row the mean of the metrics that are present (NaN if none is)."""
    frame = frame.copy()
    frame["overall"] = frame[list(BASE_METRICS)].astype("float64").mean(axis=1, skipna=True)
    return frame


def read_edit_results(paths: Iterable[str]) -> pd.DataFrame:
    """Concatenate edit-result Parquet files, checking the contract columns; add ``overall``."""
    frames = []
    for path in paths:
        frame = read_table(path, REQUIRED, "Edit results")
        bad = sorted(set(frame["status"].astype(str)) - {"ok", "failed"})
        if bad:
            raise InputError(f"unknown status value(s) {bad}; expected 'ok' or 'failed'", file=path, field="status")
        frames.append(frame)
    if not frames:
        raise InputError("no edit-result files given")
    out = pd.concat(frames, ignore_index=True)
    out["layer"] = out["layer"].astype("int64")
    out["case_id"] = out["case_id"].astype(str)
    for metric in BASE_METRICS:
        out[metric] = out[metric].astype("float64")
    return add_overall(out)


def apply_failed(frame: pd.DataFrame, failed: str = "drop") -> pd.DataFrame:
    """The rows that enter the means: failed rows dropped (``drop``); kept with 0 on every metric their (model,
    dataset) has (``zero``: a metric it lacks, such as CounterFact's portability, stays NaN); or kept with the
    unedited model's scores of that case (``unedited``: the frame needs the columns of :func:`with_pre_edit`;
    each case gets the metrics it has prompts for, so a cell whose every edit failed is scored too)."""
    if failed not in FAILED_MODES:
        raise InputError(f"unknown failed-case policy {failed!r}; expected one of {FAILED_MODES}", field="failed")
    is_failed = frame["status"].astype(str) == "failed"
    if failed == "drop":
        return frame.loc[~is_failed]
    frame = frame.copy()
    if not is_failed.any():
        return frame
    if failed == "unedited":
        _score_as_unedited(frame, is_failed)
    else:
        for _, group in frame.groupby(["model", "dataset"], sort=False):
            present = [m for m in BASE_METRICS if np.isfinite(group[m].to_numpy(dtype="float64")).any()]
            frame.loc[group.index[is_failed.loc[group.index]], present] = 0.0
    frame.loc[is_failed, "overall"] = frame.loc[is_failed, list(BASE_METRICS)].astype("float64").mean(axis=1)
    return frame


def _score_as_unedited(frame: pd.DataFrame, is_failed: pd.Series) -> None:
    """In place: each failed row's metrics become the unedited model's scores of its case (pre-edit accuracies;
    locality 1 where the case has locality prompts, NaN where it has none)."""
    missing = [column for column in (*UNEDITED_SCORES.values(), PRE_LOCALITY) if column not in frame]
    if missing:
        raise InputError(f"failed edits scored as the unedited model need its pre-edit scores ({missing} "
                         "missing: give the pre-edit files)", field="analysis.failed")
    for metric, column in UNEDITED_SCORES.items():
        frame.loc[is_failed, metric] = frame.loc[is_failed, column].astype("float64")
    has_locality = frame.loc[is_failed, PRE_LOCALITY].astype("float64") > 0
    frame.loc[is_failed, "locality"] = np.where(has_locality, 1.0, np.nan)


def read_unedited_scores(paths: Iterable[str]) -> pd.DataFrame:
    """The unedited model's scores of each case (``pre_rewrite_acc``, ``pre_rephrase_acc``, ``pre_portability``;
    ``pre_n_locality``, its number of locality prompts), keyed by ``PRE_EDIT_KEYS``, from the pre-edit files
    ``results/pre_edit/{model}/{dataset}.parquet`` (model and dataset named by the path, as the pre_edit rule
    writes them)."""
    frames = []
    for path in paths:
        pre = read_table(path, ["split", "case_id", *UNEDITED_SCORES.values(), "pre_locality_tokens"],
                         "Pre-edit predictions")
        frames.append(pre[["split", "case_id", *UNEDITED_SCORES.values()]].assign(
            **{PRE_LOCALITY: pre["pre_locality_tokens"].map(len).astype("int64")},
            model=Path(path).parent.name, dataset=Path(path).stem, case_id=lambda f: f["case_id"].astype(str)))
    if not frames:
        return pd.DataFrame(columns=[*PRE_EDIT_KEYS, *UNEDITED_SCORES.values(), PRE_LOCALITY])
    return pd.concat(frames, ignore_index=True)


def with_pre_edit(frame: pd.DataFrame, unedited: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (edit rows) with each case's unedited scores beside it (``unedited``: from
    :func:`read_unedited_scores`). Every (model, dataset) of the frame needs its pre-edit file."""
    have = set(map(tuple, unedited[["model", "dataset"]].drop_duplicates().to_numpy()))
    lacking = sorted(set(map(tuple, frame[["model", "dataset"]].drop_duplicates().to_numpy())) - have)
    if lacking:
        raise InputError(f"no pre-edit file for (model, dataset) {lacking}: failed edits scored as the unedited "
                         "model need results/pre_edit/{model}/{dataset}.parquet", field="analysis.failed")
    base = frame.drop(columns=[c for c in (*UNEDITED_SCORES.values(), PRE_LOCALITY) if c in frame])
    base = base.reset_index(drop=True)
    merged = base.merge(unedited, on=PRE_EDIT_KEYS, how="left", validate="many_to_one")
    for column in UNEDITED_SCORES.values():
        merged[column] = merged[column].astype("float64")
    return merged


def sem(values: np.ndarray) -> float:
    """Standard error of the mean (ddof=1) of the finite values; NaN with fewer than two."""
    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan")
    return float(values.std(ddof=1) / np.sqrt(values.size))


def layer_scores(cases: pd.DataFrame, failed: str = "drop") -> pd.DataFrame:
    """Mean, SEM and n per (model, editor, dataset, split, layer, metric); ``n_failed`` per layer too. A layer
    whose cases all failed keeps its rows (mean NaN, n 0, n_failed counted; under ``unedited`` its cases are
    scored as the unedited model and counted in n)."""
    rows = []
    used = apply_failed(cases, failed)
    by_key = dict(list(used.groupby([*KEYS, "split", "layer"], sort=True)))
    for key, group in cases.groupby([*KEYS, "split", "layer"], sort=True):
        n_failed = int((group["status"].astype(str) == "failed").sum())
        kept = by_key.get(key, group.iloc[0:0])
        for metric in group_metrics(cases, *key[:3]):
            values = kept[metric].to_numpy(dtype="float64")
            values = values[np.isfinite(values)]
            rows.append({
                **dict(zip([*KEYS, "split", "layer"], key)),
                "metric": metric,
                "mean": float(values.mean()) if values.size else float("nan"),
                "sem": sem(values),
                "n": int(values.size),
                "n_failed": n_failed,
            })
    columns = [*KEYS, "split", "layer", "metric", "mean", "sem", "n", "n_failed"]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype({"layer": "int64", "n": "int64", "n_failed": "int64"})


def case_matrix(cases: pd.DataFrame, model: str, editor: str, dataset: str, split: str, metric: str,
                failed: str = "drop") -> pd.DataFrame:
    """The ``cases x layers`` score matrix of one group (NaN where a case has no score at a layer)."""
    sel = cases[(cases["model"] == model) & (cases["editor"] == editor) & (cases["dataset"] == dataset)
                & (cases["split"] == split)]
    sel = apply_failed(sel, failed)
    if sel.empty:
        return pd.DataFrame(dtype="float64")
    matrix = sel.pivot_table(index="case_id", columns="layer", values=metric, aggfunc="mean", dropna=False)
    matrix = matrix.reindex(columns=sorted(sel["layer"].unique()))
    return matrix.astype("float64")


def sample_wise_optimum(matrix: pd.DataFrame) -> pd.Series:
    """Per case the best score over layers (cases without any finite score are dropped)."""
    if matrix.empty:
        return pd.Series(dtype="float64")
    best = matrix.max(axis=1, skipna=True)
    return best[np.isfinite(best.to_numpy())]


def groups(cases: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The (model, editor, dataset) triples present, sorted."""
    return sorted({tuple(map(str, k)) for k in cases[list(KEYS)].drop_duplicates().itertuples(index=False)})


def metrics_present(cases: pd.DataFrame, model: str, editor: str, dataset: str, split: str,
                    metrics: Sequence[str] = METRICS) -> list[str]:
    """The metrics with at least one finite value in the group: portability is absent from some datasets."""
    sel = cases[(cases["model"] == model) & (cases["editor"] == editor) & (cases["dataset"] == dataset)
                & (cases["split"] == split)]
    return [m for m in metrics if np.isfinite(sel[m].to_numpy(dtype="float64")).any()]


def group_metrics(cases: pd.DataFrame, model: str, editor: str, dataset: str) -> list[str]:
    """The metrics a (model, editor, dataset) cell reports: those with a value in the cell, else (every case
    failed) those any editor has on the (model, dataset), else rewrite accuracy and overall. A cell whose cases
    all failed is therefore a row with missing scores, never an absent row."""
    present = [m for s in ("proxy", "test") for m in metrics_present(cases, model, editor, dataset, s)]
    if not present:
        sel = cases[(cases["model"] == model) & (cases["dataset"] == dataset)]
        present = [m for m in METRICS if np.isfinite(sel[m].to_numpy(dtype="float64")).any()]
    if not present:
        present = ["rewrite_acc", "overall"]
    return [m for m in METRICS if m in set(present)]
