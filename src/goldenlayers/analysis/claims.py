"""The claims table: each claim of the paper with this run's figure, a 95% interval, n and a verdict.

Every verdict follows a rule written in the table (column ``rule``), from the interval alone:

- direction ``below`` (the figure should be small): *supported* if the upper bound <= threshold,
  *contradicted* if the lower bound > threshold, else *inconclusive* (the interval is too wide);
- direction ``above`` (the figure should be large): *supported* if the lower bound > threshold,
  *contradicted* if the upper bound <= threshold, else *inconclusive*;
- too little data (n below the row's ``min_n``, or no interval): *inconclusive*. ``min_n`` is
  ``analysis.min_cases`` for the claims over test cases (C1, C2, C4, B1) and :data:`MIN_UNITS` for those over
  datasets or dataset pairs (C3, C5): a bootstrap over a handful of cases, or of tied scores at the ceiling, gives
  an interval of width zero that no verdict should rest on;
- an interval of width zero *at* the threshold (every case tied, e.g. LGA and CMA chose the same layer, so every
  paired difference is 0): *inconclusive*, since the cases carry no difference to judge by;
- the paired claims (C4, B1: a per-case difference between two choices against 0) need ``min_n`` cases with a
  nonzero difference, else *inconclusive*: tied cases carry no evidence either way (Wilcoxon's test drops them
  too), and one differing case among ties would otherwise decide the verdict (``n_unit`` gives the count);
- C6 (``all editors``): *supported* if C1, C2 and C4 are supported for every editor, *contradicted* if any of
  them is contradicted for some editor, else *inconclusive* (also with fewer than two editors).

Beyond the paper, B1 (``above`` 0): a test case edited at its own LGA layer scores higher than at the fixed golden
layer (BF), over the test cases whose own layer was edited (:mod:`goldenlayers.analysis.per_case_layer`).

Figures are computed for one metric (``analysis.claims_metric``, default rewrite accuracy) and, except C6, for
the reference editor. Per-case figures pool the test cases of every dataset; intervals are seeded percentile
bootstraps (cases for C1, C2, C4; dataset pairs for C3; datasets, on the log scale, for C5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .stats import bootstrap_mean_ci

CLAIMS_COLUMNS = ["claim", "statement", "editor", "metric", "figure", "ci_low", "ci_high", "n", "n_unit",
                  "direction", "threshold", "min_n", "verdict", "rule", "source"]
VERDICTS = ("supported", "contradicted", "inconclusive")
MIN_UNITS = 3
"""The fewest datasets (C5) or dataset pairs (C3) a verdict rests on: below three, a percentile bootstrap has at
most three distinct resample means to take quantiles from. It is a floor, not a guarantee: with three to five
datasets the interval is rough, and only a large effect (C5's speed-ups are tens to hundreds) clears it."""


def verdict(low: float, high: float, n: int, direction: str, threshold: float, min_n: int = 1) -> str:
    """The verdict of one interval by the rule in the module docstring."""
    if n < max(min_n, 1) or not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if low == high == threshold:
        return "inconclusive"
    if direction == "below":
        return "supported" if high <= threshold else "contradicted" if low > threshold else "inconclusive"
    if direction == "above":
        return "supported" if low > threshold else "contradicted" if high <= threshold else "inconclusive"
    raise ValueError(f"unknown direction {direction!r}")


def rule_text(direction: str, threshold: float, min_n: int = 1) -> str:
    few = f"CI [{threshold:g}, {threshold:g}] (all tied): inconclusive; n < {max(min_n, 1)}: inconclusive"
    if direction == "below":
        return (f"supported if CI high <= {threshold:g}; contradicted if CI low > {threshold:g}; "
                f"else inconclusive; {few}")
    return (f"supported if CI low > {threshold:g}; contradicted if CI high <= {threshold:g}; "
            f"else inconclusive; {few}")


def _geo_ci(values, n_boot: int, seed: int, key) -> tuple[float, float, float, int]:
    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return np.nan, np.nan, np.nan, 0
    ci = bootstrap_mean_ci(np.log(values), n_boot=n_boot, seed=seed, key=key)
    return float(np.exp(ci.estimate)), float(np.exp(ci.low)), float(np.exp(ci.high)), ci.n


def _row(claim, statement, editor, metric, estimate, low, high, n, unit, direction, threshold, min_n,
         source) -> dict:
    return {"claim": claim, "statement": statement, "editor": editor, "metric": metric, "figure": estimate,
            "ci_low": low, "ci_high": high, "n": int(n), "n_unit": unit, "direction": direction,
            "threshold": float(threshold), "min_n": int(min_n),
            "verdict": verdict(low, high, n, direction, threshold, min_n),
            "rule": rule_text(direction, threshold, min_n), "source": source}


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column of the per-case frame, or NaN where it is absent (e.g. LGA not run on the test split)."""
    return frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index, dtype="float64")


def _case_claim(claim, statement, per_case, editor, metric, value, threshold, direction, n_boot, seed, min_cases,
                source, paired: bool = False):
    """A claim over test cases. ``paired``: the per-case figure is a difference between two choices (C4, B1), and
    a case where both score the same carries no evidence either way (as Wilcoxon's test drops it): the verdict
    needs ``min_cases`` cases with a nonzero difference, so one differing case among ties decides nothing."""
    sel = per_case[(per_case["editor"] == editor) & (per_case["metric"] == metric)] if len(per_case) else per_case
    values = value(sel).to_numpy(dtype="float64") if len(sel) else np.array([])
    ci = bootstrap_mean_ci(values, n_boot=n_boot, seed=seed, key=("claim", claim, editor, metric))
    if not paired:
        return _row(claim, statement, editor, metric, ci.estimate, ci.low, ci.high, ci.n, "test cases", direction,
                    threshold, min_cases, source)
    nonzero = int(np.sum(np.isfinite(values) & (values != 0)))
    row = _row(claim, statement, editor, metric, ci.estimate, ci.low, ci.high, ci.n,
               f"test cases ({nonzero} with a nonzero difference)", direction, threshold, min_cases, source)
    row["rule"] += f"; fewer than {max(min_cases, 1)} nonzero differences: inconclusive"
    if nonzero < max(min_cases, 1):
        row["verdict"] = "inconclusive"
    return row


def per_editor_claims(per_case: pd.DataFrame, transfer: pd.DataFrame, editor: str, metric: str, margin: float,
                      n_boot: int, seed: int, min_cases: int) -> list[dict]:
    """C1-C4 for one editor."""
    rows = [
        _case_claim("C1", "a fixed golden layer (BF on proxy) scores close to the sample-wise optimum",
                    per_case, editor, metric, lambda s: s["optimum"] - s["bf"], margin, "below", n_boot, seed,
                    min_cases, "regret (bf, per case: optimum - score at BF's layer)"),
        _case_claim("C2", "the golden layer found on the proxy split holds on the test split",
                    per_case, editor, metric, lambda s: s["test_best"] - s["bf"], margin, "below", n_boot, seed,
                    min_cases, "regret (per case: score at the test-best layer - score at BF's proxy layer)"),
    ]
    sel = transfer[(transfer["editor"] == editor) & (transfer["metric"] == metric) & (transfer["locator"] == "bf")
                   & (transfer["source"] != transfer["target"])] if len(transfer) else transfer
    gaps = sel["gap_to_own"].to_numpy(dtype="float64") if len(sel) else np.array([])
    ci = bootstrap_mean_ci(gaps, n_boot=n_boot, seed=seed, key=("claim", "C3", editor, metric))
    rows.append(_row("C3", "golden layers transfer across datasets", editor, metric, ci.estimate, ci.low, ci.high,
                     ci.n, "dataset pairs", "below", margin, MIN_UNITS, source="transfer (bf, source != target: gap_to_own)"))
    rows.append(_case_claim("C4", "LGA beats CMA (paper: up to +8.56 rewrite, +9.16 rephrase accuracy)",
                            per_case, editor, metric, lambda s: s["lga"] - s["cma"], 0.0, "above", n_boot, seed,
                            min_cases, "lga_vs_cma (per case: score at LGA's layer - score at CMA's layer)",
                            paired=True))
    return rows


def claims_table(per_case: pd.DataFrame, transfer: pd.DataFrame, runtime: pd.DataFrame, reference_editor: str,
                 metric: str = "rewrite_acc", margin: float = 0.05, n_boot: int = 2000, seed: int = 0,
                 min_cases: int = 5) -> pd.DataFrame:
    """C1-C6 and B1. ``per_case`` is the per-case frame of :func:`goldenlayers.analysis.compare.compare_locators`,
    with ``lga_per_case`` added by :func:`goldenlayers.analysis.per_case_layer.per_case_layer_table` (B1 is
    inconclusive without it)."""
    editors = sorted(set(per_case["editor"])) if len(per_case) else []
    editor = reference_editor if reference_editor in editors or not editors else editors[0]
    rows = per_editor_claims(per_case, transfer, editor, metric, margin, n_boot, seed, min_cases)
    for column, claim, statement, threshold in (
            ("speedup_lga_vs_bf_all_layers", "C5a",
             "LGA is at least 7x faster than brute force over all layers (the paper measured 7-12x)", 7.0),
            ("speedup_lga_vs_cma", "C5b", "LGA is faster than CMA", 1.0)):
        values = runtime[column].to_numpy(dtype="float64") if len(runtime) else np.array([])
        est, low, high, n = _geo_ci(values, n_boot, seed, ("claim", claim))
        rows.append(_row(claim, statement, editor, "seconds per case", est, low, high, n,
                         "datasets (geometric mean of per-dataset speed-ups, same cases)", "above", threshold,
                         MIN_UNITS, f"runtime ({column})"))
    per_editor = {e: {r["claim"]: r["verdict"] for r in per_editor_claims(per_case, transfer, e, metric, margin,
                                                                            n_boot, seed, min_cases)} for e in editors}
    verdicts = [v for by_claim in per_editor.values() for c, v in by_claim.items() if c in ("C1", "C2", "C4")]
    held = sum(v == "supported" for v in verdicts)
    if len(editors) < 2:
        c6 = "inconclusive"
    elif any(v == "contradicted" for v in verdicts):
        c6 = "contradicted"
    elif verdicts and all(v == "supported" for v in verdicts):
        c6 = "supported"
    else:
        c6 = "inconclusive"
    rows.append({"claim": "C6", "statement": "C1, C2 and C4 hold across editors", "editor": ", ".join(editors),
                 "metric": metric, "figure": held / len(verdicts) if verdicts else np.nan, "ci_low": np.nan,
                 "ci_high": np.nan, "n": len(editors), "n_unit": "editors (figure: fraction of (editor, claim) "
                 "verdicts that are supported; per editor: " + "; ".join(
                     f"{e}: " + " ".join(f"{c}={v}" for c, v in sorted(by.items())) for e, by in per_editor.items())
                 + ")", "direction": "all editors", "threshold": np.nan, "min_n": 2, "verdict": c6,
                 "rule": "supported if C1, C2 and C4 are supported for every editor; contradicted if any is "
                         "contradicted for some editor; else inconclusive; n < 2: inconclusive",
                 "source": "C1, C2, C4 per editor"})
    rows.append(_case_claim("B1", "beyond the paper: a test case edited at its own LGA layer scores higher than at "
                            "the fixed golden layer (BF on proxy)", per_case, editor, metric,
                            lambda s: _column(s, "lga_per_case") - s["bf"], 0.0, "above", n_boot, seed,
                            min_cases, "per_case_layer (per case: score at the case's own LGA layer - score at BF's layer; "
                            "the cases whose own layer was edited)", paired=True))
    out = pd.DataFrame(rows, columns=CLAIMS_COLUMNS)
    out["n"] = out["n"].astype("int64")
    return out
