"""Beyond the paper: does LGA pick a better layer per case than one fixed golden layer?

The paper's premise is that one fixed layer scores close to each case's own best. Here every test case gets its
own layer from its own LGA contributions (rule ``lga_test``: LGA on the test split, two backward passes per
case), by the golden layer's rule applied to that case alone: Tukey fences over all its layers, argmax over the
kept ones (:func:`goldenlayers.analysis.locators.lga_case_choices`), ties by the one tie rule (a tied choice
scores the mean over its tied layers, :mod:`goldenlayers.analysis.ties`). Scoring that choice is a lookup into
the case's test edits at that layer: where the layer was not edited (a sweep grid that does not cover it), the
case's score is missing and the case is not *covered*; never 0.

One table row per (model, editor, dataset, metric, choice), ``choice`` one of:

- ``bf``: the fixed golden layer of brute force on the proxy split (over the grid);
- ``lga``: LGA's fixed golden layer (proxy cases summed, over every layer, judged at its own choice);
- ``lga_per_case``: each test case at its own LGA layer over every layer;
- ``lga_per_case_grid``: each test case at its own LGA layer within the sweep grid (fences over all layers,
  argmax over the kept grid layers, as BF is restricted to the grid); equal to ``lga_per_case`` when every
  layer is edited;
- ``optimum``: the sample-wise optimum, each test case at its best evaluated layer.

Per row: the mean score with its 95% seeded bootstrap interval over test cases and n, how many test cases
had a layer chosen and how many of those were covered, the failed test edits at the chosen layers (``n_failed``;
the optimum: at every evaluated layer), and three paired differences over the cases both sides
have, each with its interval: minus BF's fixed layer, minus LGA's fixed layer, and the regret (optimum minus
this row). The fixed rows and the optimum are the per-case scores of
:func:`goldenlayers.analysis.compare.compare_locators`, so they equal the ``locators`` table's.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .locators import lga_case_choices
from .scores import KEYS, METRICS, case_matrix
from .stats import bootstrap_mean_ci
from .ties import format_ties, parse_ties

CHOICES = ("bf", "lga", "lga_per_case", "lga_per_case_grid", "optimum")
PER_CASE_CHOICES = ("lga_per_case", "lga_per_case_grid")
COMPARISONS = (("minus_bf", "bf", 1), ("minus_lga", "lga", 1), ("regret", "optimum", -1))
COLUMNS = [
    "model", "editor", "dataset", "metric", "choice", "layers", "score", "score_low", "score_high", "n",
    "n_chosen", "n_covered", "n_test", "n_failed",
    "minus_bf", "minus_bf_low", "minus_bf_high", "n_pairs_bf",
    "minus_lga", "minus_lga_low", "minus_lga_high", "n_pairs_lga",
    "regret", "regret_low", "regret_high", "n_pairs_optimum",
    "evaluated_layers", "note",
]


def scores_at_case_choices(matrix: pd.DataFrame, edited: Mapping[str, set], choices: Mapping[str, Sequence[int]],
                           case_ids: Sequence[str]) -> tuple[pd.Series, pd.Series]:
    """Per case of ``case_ids``: its score at its own chosen layer(s) (the mean over the tied layers it has a score
    at) and whether it is covered (every chosen layer has an edit of that case, ``edited``: case -> layers, any
    status). A case without a choice, or not covered, scores NaN; so does a covered case whose edits there
    failed (dropped by ``analysis.failed: drop``)."""
    index = pd.Index(list(case_ids), dtype=object)
    scores, covered = np.full(len(index), np.nan), np.zeros(len(index), dtype=bool)
    values = matrix.to_numpy(dtype="float64") if not matrix.empty else np.empty((0, 0))
    row_of = {str(c): i for i, c in enumerate(matrix.index)}
    column_of = {int(layer): j for j, layer in enumerate(matrix.columns)}
    for i, case_id in enumerate(index):
        ties = [int(t) for t in choices.get(case_id, ())]
        if not ties or not set(ties) <= edited.get(case_id, set()):
            continue
        covered[i] = True
        row = row_of.get(str(case_id))
        picked = [values[row, column_of[t]] for t in ties if row is not None and t in column_of]
        picked = [v for v in picked if np.isfinite(v)]
        if picked:
            scores[i] = float(np.mean(picked))
    return pd.Series(scores, index=index, dtype="float64"), pd.Series(covered, index=index, dtype=bool)


def choice_counts(choices: Mapping[str, Sequence[int]], case_ids: Sequence[str]) -> str:
    """The per-case layers as ``layer (cases)``, most frequent first; a tie set is written ``8|12``."""
    labels = pd.Series(["|".join(str(int(t)) for t in choices[c]) for c in case_ids if choices.get(c)], dtype=object)
    if labels.empty:
        return ""
    counts = labels.value_counts()
    order = sorted(counts.index, key=lambda label: (-counts[label], [int(t) for t in label.split("|")]))
    return ", ".join(f"{label} ({counts[label]})" for label in order)


def _interval(values: np.ndarray, n_boot: int, seed: int, key: tuple) -> tuple[float, float, float, int]:
    ci = bootstrap_mean_ci(values, n_boot=n_boot, seed=seed, key=key)
    return ci.estimate, ci.low, ci.high, ci.n


class _Cell:
    """What one (model, editor, dataset) has: its test cases, the layers each was edited at, the grid."""

    def __init__(self, cases: pd.DataFrame, evaluated: pd.DataFrame, model: str, editor: str, dataset: str):
        def test_rows(frame):
            return frame[(frame["model"] == model) & (frame["editor"] == editor) & (frame["dataset"] == dataset)
                         & (frame["split"] == "test")]

        rows = test_rows(evaluated)
        self.case_ids = sorted(rows["case_id"].astype(str).unique())
        self.edited = {str(c): set(int(x) for x in layers) for c, layers in rows.groupby("case_id")["layer"]}
        failed = rows[rows["status"].astype(str) == "failed"]
        self.failed = {str(c): set(int(x) for x in layers) for c, layers in failed.groupby("case_id")["layer"]}
        self.n_failed = len(failed)
        self.grid = sorted(int(x) for x in test_rows(cases)["layer"].unique())
        self.evaluated_layers = format_ties(sorted(int(x) for x in rows["layer"].unique()))


def per_case_layer_table(cases: pd.DataFrame, evaluated: pd.DataFrame, regret: pd.DataFrame, per_case: pd.DataFrame,
                         lga_test_cases: pd.DataFrame, k: float = 1.0, method: str = "linear", n_boot: int = 2000,
                         seed: int = 0, failed: str = "drop") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (the ``per_case_layer`` table, ``per_case`` with the columns ``lga_per_case`` and
    ``lga_per_case_grid`` added).

    ``cases``: the grid edits (both splits); ``evaluated``: the grid edits plus the test edits at the locators'
    choices; ``regret``, ``per_case``: the first and third outputs of
    :func:`goldenlayers.analysis.compare.compare_locators` on ``evaluated``; ``lga_test_cases``: the per-case
    LGA contributions of the test cases (``read_locator_cases(..., "lga")``), empty when LGA is not run.
    ``k``, ``method``: LGA's Tukey fences (``lga.tukey_k``, ``lga.quantile_method``)."""
    rows, added = [], []
    own_layers: dict[tuple, dict] = {}  # (model, dataset, grid or None) -> case -> its own tie set

    def own_choices(model, dataset, grid):
        if (model, dataset, grid) not in own_layers:
            sel = (lga_test_cases[(lga_test_cases["model"] == model) & (lga_test_cases["dataset"] == dataset)]
                   if len(lga_test_cases) else lga_test_cases)
            own_layers[(model, dataset, grid)] = lga_case_choices(sel, grid, k, method) if len(sel) else {}
        return own_layers[(model, dataset, grid)]

    for (model, editor, dataset), cell_regret in regret.groupby(list(KEYS), sort=True):
        cell = _Cell(cases, evaluated, model, editor, dataset)
        own = {"lga_per_case": own_choices(model, dataset, None),
               "lga_per_case_grid": own_choices(model, dataset, tuple(cell.grid))}
        ran = bool(len(lga_test_cases)) and bool(((lga_test_cases["model"] == model)
                                                  & (lga_test_cases["dataset"] == dataset)).any())
        for metric in cell_regret["metric"].drop_duplicates():
            key = (model, editor, dataset, metric)
            fixed = cell_regret[cell_regret["metric"] == metric].set_index("locator")
            matrix = case_matrix(evaluated, model, editor, dataset, "test", metric, failed)
            sel = per_case[(per_case["model"] == model) & (per_case["editor"] == editor)
                           & (per_case["dataset"] == dataset) & (per_case["metric"] == metric)] if len(per_case) \
                else per_case
            known = sel.set_index("case_id").reindex(cell.case_ids) if len(sel) else pd.DataFrame(index=cell.case_ids)
            series, covered = {}, {}
            for name in ("bf", "lga", "optimum"):
                series[name] = (known[name] if name in known.columns
                                else pd.Series(np.nan, index=cell.case_ids)).astype("float64")
            for name in PER_CASE_CHOICES:
                series[name], covered[name] = scores_at_case_choices(matrix, cell.edited, own[name], cell.case_ids)
            for choice in CHOICES:
                rows.append(_row(key, choice, series, covered, own, fixed, cell, ran, n_boot, seed))
            if len(sel):
                added.append(sel.assign(**{name: series[name].reindex(sel["case_id"].astype(str)).to_numpy()
                                           for name in PER_CASE_CHOICES}))
    table = pd.DataFrame(rows, columns=COLUMNS)
    if len(table):
        table["_m"] = table["metric"].map({m: i for i, m in enumerate(METRICS)})
        table["_c"] = table["choice"].map({c: i for i, c in enumerate(CHOICES)})
        table = table.sort_values(["model", "editor", "dataset", "_m", "_c"]).drop(columns=["_m", "_c"])
    for column in ("n", "n_chosen", "n_covered", "n_test", "n_failed", "n_pairs_bf", "n_pairs_lga", "n_pairs_optimum"):
        table[column] = table[column].astype("int64")
    extended = pd.concat(added, ignore_index=True) if added else per_case.assign(
        **{name: pd.Series(dtype="float64") for name in PER_CASE_CHOICES})
    return table.reset_index(drop=True), extended


def _row(key: tuple, choice: str, series: dict, covered: dict, own: dict, fixed: pd.DataFrame, cell: _Cell,
         ran: bool, n_boot: int, seed: int) -> dict:
    """One table row: the choice's scores over the cell's test cases, and its paired differences."""
    values = series[choice].to_numpy(dtype="float64")
    score, low, high, n = _interval(values, n_boot, seed, (*key, "per_case_layer", choice))
    row = {**dict(zip([*KEYS, "metric"], key)), "choice": choice, "score": score, "score_low": low,
           "score_high": high, "n": n, "n_test": len(cell.case_ids), "evaluated_layers": cell.evaluated_layers}
    if choice in PER_CASE_CHOICES:
        chosen = {c: set(own[choice].get(c, ())) for c in cell.case_ids if covered[choice].get(c, False)}
        row.update(layers=choice_counts(own[choice], cell.case_ids),
                   n_chosen=sum(bool(own[choice].get(c)) for c in cell.case_ids),
                   n_covered=int(covered[choice].sum()),
                   n_failed=sum(len(layers & cell.failed.get(c, set())) for c, layers in chosen.items()))
        row["note"] = ("LGA not run on the test split" if not ran else "no test case has a layer" if not row["n_chosen"]
                       else "no test case's own layer was edited" if not row["n_covered"]
                       else "every covered case's edit there failed" if not n else "")
    elif choice == "optimum":
        row.update(layers="", n_chosen=n, n_covered=n, n_failed=cell.n_failed, note="" if n else "no test case scored")
    else:
        ties = parse_ties(fixed.loc[choice, "ties"]) if choice in fixed.index else []
        row.update(layers=format_ties(ties), n_chosen=len(cell.case_ids) if ties else 0,
                   n_covered=sum(set(ties) <= cell.edited.get(c, set()) for c in cell.case_ids) if ties else 0,
                   n_failed=sum(len(set(ties) & cell.failed.get(c, set())) for c in cell.case_ids),
                   note=("not run" if choice not in fixed.index else str(fixed.loc[choice, "note"] or "")))
    for name, other, sign in COMPARISONS:  # a row is not compared with itself: missing, not 0
        if other == choice:
            row.update({name: np.nan, f"{name}_low": np.nan, f"{name}_high": np.nan, f"n_pairs_{other}": 0})
            continue
        diff = sign * (values - series[other].to_numpy(dtype="float64"))
        est, d_low, d_high, pairs = _interval(diff, n_boot, seed, (*key, "per_case_layer", choice, name))
        row.update({name: est, f"{name}_low": d_low, f"{name}_high": d_high, f"n_pairs_{other}": pairs})
    return row


def markdown_view(table: pd.DataFrame) -> pd.DataFrame:
    """The Markdown table: scores and differences with their intervals as ``[low, high]``, covered cases as
    ``covered / test cases``."""
    def interval(low, high):
        return [f"[{a:.3f}, {b:.3f}]" if np.isfinite(a) and np.isfinite(b) else "" for a, b in zip(low, high)]

    view = table[[*KEYS, "metric", "choice", "layers", "score"]].copy()
    view["95% CI"] = interval(table["score_low"], table["score_high"])
    view["n"] = table["n"]
    view["covered / test"] = [f"{c} / {t}" for c, t in zip(table["n_covered"], table["n_test"])]
    view["n_failed"] = table["n_failed"]
    for name, label in (("minus_bf", "minus BF"), ("minus_lga", "minus LGA"), ("regret", "regret")):
        view[label] = table[name]
        view[f"{label} CI"] = interval(table[f"{name}_low"], table[f"{name}_high"])
    view["note"] = table["note"]
    return view
