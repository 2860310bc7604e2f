"""The tie rule, Holm's correction, the claims table's verdict rule, locator diagnostics and failure counts,
on constructed inputs (no model, no workflow)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from goldenlayers.analysis.claims import CLAIMS_COLUMNS, claims_table, verdict
from goldenlayers.analysis.compare import compare_locators, wide_locators
from goldenlayers.analysis.golden import golden_layers
from goldenlayers.analysis.locators import diagnostics
from goldenlayers.analysis.runtime import runtime_table
from goldenlayers.analysis.scores import add_overall, layer_scores
from goldenlayers.analysis.sensitivity import proxy_size_sensitivity
from goldenlayers.analysis.stats import holm
from goldenlayers.analysis.ties import draw_tied, tie_case_scores, tie_mean, tied_layers
from goldenlayers.analysis.transfer import transfer_matrix
from goldenlayers.commands.aggregate import check_failures
from goldenlayers.errors import InputError


# ------------------------------------------------------------------------------------------------ ties

def test_tie_rule_is_the_mean_over_tied_layers_and_ignores_depth():
    means = pd.Series([0.5, 0.9, 0.2, 0.9], index=[3, 8, 18, 28])
    assert tied_layers(means) == [8, 28]
    assert tie_mean(pd.Series([0.1, 0.4, 0.0, 0.8], index=[3, 8, 18, 28]), [8, 28]) == pytest.approx(0.6)
    # reversing the layer order reverses nothing in the score: no depth is favoured
    flipped = pd.Series(means.to_numpy()[::-1], index=means.index)
    assert tied_layers(flipped) == [3, 18]
    matrix = pd.DataFrame({8: [1.0, 0.0, np.nan], 28: [0.0, 0.0, 0.5]}, index=["a", "b", "c"])
    assert tie_case_scores(matrix, [8, 28]).tolist() == [0.5, 0.0, 0.5]
    assert tie_case_scores(matrix, [8, 30]).isna().all()  # a tied layer that was never evaluated: missing
    assert tied_layers(pd.Series([np.nan, np.nan])) == []


def test_the_named_tied_layer_is_a_seeded_uniform_draw():
    ties = [8, 18, 28]
    draws = [draw_tied(ties, 0, "cell", i) for i in range(600)]
    assert draw_tied(ties, 0, "cell", 5) == draws[5]
    counts = np.bincount([ties.index(d) for d in draws], minlength=3)
    assert counts.min() > 150  # each of three layers about a third of the time: not the shallowest
    assert draw_tied([4], 0) == 4 and draw_tied([], 0) is None


def test_holm_adjusts_step_down_and_keeps_nan():
    adjusted = holm([0.01, 0.04, np.nan, 0.03])
    assert adjusted[0] == pytest.approx(0.03)       # 3 x 0.01
    assert adjusted[3] == pytest.approx(0.06)       # 2 x 0.03
    assert adjusted[1] == pytest.approx(0.06)       # max(1 x 0.04, 0.06): monotone
    assert np.isnan(adjusted[2])


# ------------------------------------------------------------------------------------------------ claims

@pytest.mark.parametrize("low, high, n, direction, threshold, expected", [
    (0.0, 0.04, 10, "below", 0.05, "supported"),
    (0.06, 0.2, 10, "below", 0.05, "contradicted"),
    (0.01, 0.2, 10, "below", 0.05, "inconclusive"),
    (0.1, 0.3, 10, "above", 0.0, "supported"),
    (-0.3, 0.0, 10, "above", 0.0, "contradicted"),
    (-0.1, 0.1, 10, "above", 0.0, "inconclusive"),
    (np.nan, np.nan, 0, "above", 0.0, "inconclusive"),
])
def test_verdict_rule(low, high, n, direction, threshold, expected):
    assert verdict(low, high, n, direction, threshold) == expected


def test_a_verdict_needs_min_n_cases():
    # four cases tied at the ceiling: every paired difference 0, interval [0, 0]; too few for any verdict
    assert verdict(0.0, 0.0, 4, "above", 0.0, min_n=5) == "inconclusive"
    assert verdict(-0.1, 0.0, 4, "above", 0.0, min_n=5) == "inconclusive"
    assert verdict(-0.1, 0.0, 5, "above", 0.0, min_n=5) == "contradicted"
    assert verdict(0.1, 0.3, 4, "above", 0.0, min_n=5) == "inconclusive"
    # enough cases, but every one tied at the threshold (both locators chose the same layer): nothing to judge by
    assert verdict(0.0, 0.0, 8, "above", 0.0, min_n=5) == "inconclusive"
    assert verdict(0.05, 0.05, 8, "below", 0.05, min_n=5) == "inconclusive"
    # all tied away from the threshold still decides: 8 cases at regret 0 are within a 0.05 margin
    assert verdict(0.0, 0.0, 8, "below", 0.05, min_n=5) == "supported"


def independent_verdict(row) -> str:
    """The rule as the table states it, re-implemented from the row's own columns."""
    assert f"n < {row['min_n']}: inconclusive" in row["rule"]
    if row["claim"] == "C6":
        # from the per-editor verdicts spelled out in n_unit ("r-rome: C1=supported C2=... C4=...; rome: ...")
        per_editor = [v.split("=")[1] for v in re.findall(r"C[124]=\w+", row["n_unit"])]
        if row["n"] < row["min_n"]:
            return "inconclusive"
        if "contradicted" in per_editor:
            return "contradicted"
        return "supported" if per_editor and all(v == "supported" for v in per_editor) else "inconclusive"
    if row["n"] < row["min_n"] or not (np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])):
        return "inconclusive"
    if row["claim"] in ("C4", "B1"):  # paired: needs min_n cases whose difference is not 0
        assert f"fewer than {row['min_n']} nonzero differences: inconclusive" in row["rule"]
        if int(re.search(r"\((\d+) with a nonzero difference\)", row["n_unit"])[1]) < row["min_n"]:
            return "inconclusive"
    t = row["threshold"]
    if row["ci_low"] == row["ci_high"] == t:
        assert "(all tied): inconclusive" in row["rule"]
        return "inconclusive"
    if row["direction"] == "below":
        assert f"CI high <= {t:g}" in row["rule"]
        return "supported" if row["ci_high"] <= t else ("contradicted" if row["ci_low"] > t else "inconclusive")
    assert f"CI low > {t:g}" in row["rule"]
    return "supported" if row["ci_low"] > t else ("contradicted" if row["ci_high"] <= t else "inconclusive")


def check_claims(table: pd.DataFrame) -> None:
    """Every verdict follows the rule written in its row; C1-C6 and B1 (beyond the paper) are all there."""
    assert list(table.columns) == CLAIMS_COLUMNS
    assert {"C1", "C2", "C3", "C4", "C5a", "C5b", "C6", "B1"} == set(table["claim"])
    for _, row in table.iterrows():
        assert row["verdict"] == independent_verdict(row), row.to_dict()
        assert row["rule"]
        if row["n"] and row["claim"] != "C6":
            assert row["ci_low"] <= row["figure"] + 1e-9 <= row["ci_high"] + 2e-9


def per_case_frame(editor, n, bf_gap, lga_minus_cma, seed=0):
    rng = np.random.default_rng(seed)
    optimum = np.ones(n)
    bf = optimum - bf_gap - rng.uniform(0, 0.01, n)
    cma = rng.uniform(0.2, 0.4, n)
    return pd.DataFrame({"model": "m", "editor": editor, "dataset": np.where(np.arange(n) % 2, "a", "b"),
                         "metric": "rewrite_acc", "case_id": [f"c{i}" for i in range(n)], "optimum": optimum,
                         "bf": bf, "lga": cma + lga_minus_cma, "cma": cma, "test_best": bf + 0.005})


def transfer_frame(editor, gaps):
    return pd.DataFrame({"editor": editor, "metric": "rewrite_acc", "locator": "bf",
                         "source": [f"s{i}" for i in range(len(gaps))], "target": "t", "gap_to_own": gaps})


def test_claims_verdicts_on_constructed_inputs():
    per_case = pd.concat([per_case_frame("r-rome", 40, 0.0, 0.2), per_case_frame("rome", 40, 0.3, -0.2, 1)])
    transfer = pd.concat([transfer_frame("r-rome", [0.0, 0.01, 0.0, 0.02]), transfer_frame("rome", [0.5, 0.4])])
    runtime = pd.DataFrame({"speedup_lga_vs_bf_all_layers": [20.0, 25.0, 30.0, 22.0],
                            "speedup_lga_vs_cma": [0.5, 0.6, 0.4, 0.55]})
    table = claims_table(per_case, transfer, runtime, "r-rome", n_boot=500, seed=0).set_index("claim")
    check_claims(table.reset_index())
    assert table.loc["C1", "verdict"] == "supported" and table.loc["C1", "n"] == 40
    assert table.loc["C2", "verdict"] == "supported"
    assert table.loc["C4", "verdict"] == "supported" and table.loc["C4", "figure"] == pytest.approx(0.2)
    assert table.loc["C5a", "verdict"] == "supported" and table.loc["C5b", "verdict"] == "contradicted"
    # ROME: far from the optimum and LGA worse than CMA -> C6 contradicted
    assert table.loc["C6", "verdict"] == "contradicted" and table.loc["C6", "n"] == 2
    one_editor = claims_table(per_case[per_case["editor"] == "r-rome"], transfer, runtime, "r-rome", n_boot=200)
    check_claims(one_editor)
    assert one_editor.set_index("claim").loc["C6", "verdict"] == "inconclusive"
    nothing = claims_table(per_case.iloc[0:0], transfer.iloc[0:0], runtime.iloc[0:0], "r-rome", n_boot=200)
    check_claims(nothing)
    assert (nothing["verdict"] == "inconclusive").all()
    # below the minimum number of cases (C1, C2, C4, B1) or datasets / pairs (C3, C5): no verdict either way
    few = claims_table(per_case, transfer, runtime.iloc[:2], "r-rome", n_boot=200, min_cases=41).set_index("claim")
    check_claims(few.reset_index())
    assert (few.loc[["C1", "C2", "C4", "C5a", "C5b", "B1"], "verdict"] == "inconclusive").all()
    assert few.loc["C1", "min_n"] == 41 and few.loc["C5a", "min_n"] == 3
    assert few.loc["C3", "verdict"] == "supported" and few.loc["C3", "n"] == 4


def test_a_paired_claim_needs_min_n_cases_that_differ():
    """C4 on 18 test cases where LGA and CMA score alike on 17 and CMA wins one: the bootstrap interval is
    [-1/6, 0], whose upper end at 0 would read "contradicted" on the strength of one case; with fewer than
    min_n nonzero differences the verdict is inconclusive. With min_n differing cases it is decided."""
    base = per_case_frame("r-rome", 18, 0.0, 0.0)
    one = base.copy()
    one.loc[0, "lga"] = one.loc[0, "cma"] - 1.0
    transfer, runtime = transfer_frame("r-rome", [0.0]), pd.DataFrame({"speedup_lga_vs_bf_all_layers": [20.0],
                                                                        "speedup_lga_vs_cma": [2.0]})
    table = claims_table(one, transfer, runtime, "r-rome", n_boot=500, min_cases=5).set_index("claim")
    check_claims(table.reset_index())
    assert table.loc["C4", "ci_high"] == 0.0 and table.loc["C4", "ci_low"] < 0
    assert table.loc["C4", "verdict"] == "inconclusive" and "(1 with a nonzero difference)" in table.loc["C4", "n_unit"]
    many = base.copy()
    many.loc[:5, "lga"] = many.loc[:5, "cma"] - 1.0  # six cases where CMA's layer wins
    table = claims_table(many, transfer, runtime, "r-rome", n_boot=500, min_cases=5).set_index("claim")
    check_claims(table.reset_index())
    assert table.loc["C4", "verdict"] == "contradicted" and "(6 with a nonzero difference)" in table.loc["C4", "n_unit"]


# ------------------------------------------------------------------------------------------------ diagnostics

def test_locator_diagnostics_flag_all_negative_lga_and_cma_without_effect():
    lga = pd.DataFrame({"model": "m", "dataset": "a", "layer": [0, 1, 2], "score": [-3.0, -1.0, -2.0],
                        "kept": [True, True, True], "n_cases": 4, "n_skipped": 1, "n_old_is_greedy": 2})
    d = diagnostics(lga, "lga", "m", "a", min_cases=5)
    assert d["lga_n_processed"] == 3 and d["lga_n_old_is_greedy"] == 2 and d["lga_frac_negative"] == 1.0
    assert set(d["lga_flag"].split(",")) == {"all-negative", "few-cases"}
    cma = pd.DataFrame({"model": "m", "dataset": "a", "layer": [0, 1], "mean_effect": [0.2, 0.3], "n_cases": 6,
                        "n_kept": 6, "mean_corruption_effect": -0.08})
    d = diagnostics(cma, "cma", "m", "a", min_cases=5)
    assert d["cma_n_processed"] == 6 and d["cma_flag"] == "no-corruption-effect"
    none = diagnostics(cma.assign(n_kept=0, mean_corruption_effect=np.nan), "cma", "m", "a")
    assert none["cma_flag"] == "no-cases"
    assert diagnostics(cma, "cma", "m", "other")["cma_flag"] == "not run"


# ------------------------------------------------------------------------------------------------ failures

def edit_rows(editor, failed):
    """2 proxy + 2 test cases at layers 0, 1; ``failed``: a predicate (split, case, layer) -> failed."""
    rows = []
    for split in ("proxy", "test"):
        for case in range(2):
            for layer in (0, 1):
                bad = failed(split, case, layer)
                rows.append({"model": "m", "editor": editor, "dataset": "a", "split": split, "layer": layer,
                             "case_id": f"{split}{case}", "status": "failed" if bad else "ok",
                             "rewrite_acc": np.nan if bad else 0.5 + 0.25 * layer, "rephrase_acc": np.nan,
                             "locality": np.nan, "portability": np.nan, "seconds": 1.0})
    return rows


@pytest.fixture
def failing():
    rows = (edit_rows("rome", lambda *_: True)                                         # every case failed
            + edit_rows("r-rome", lambda split, case, layer: split == "test" and case == 0 and layer == 1))
    return add_overall(pd.DataFrame(rows))


def test_all_failed_editor_is_a_row_with_missing_scores_and_its_count(failing, caplog):
    scores = layer_scores(failing)
    rome = scores[scores["editor"] == "rome"]
    assert len(rome) and rome["mean"].isna().all() and (rome["n"] == 0).all() and (rome["n_failed"] == 2).all()
    golden = golden_layers(failing, scores)
    row = golden[(golden["editor"] == "rome") & (golden["metric"] == "rewrite_acc")].iloc[0]
    assert row["n_failed"] == 8 and np.isnan(row["test_score_at_proxy_golden"]) and pd.isna(row["proxy_golden_layer"])
    regret, _, _ = compare_locators(failing, golden, pd.DataFrame(), pd.DataFrame(), n_boot=50)
    r = regret[(regret["editor"] == "rome") & (regret["metric"] == "rewrite_acc")].set_index("locator")
    assert r.loc["bf", "n"] == 0 and r.loc["bf", "note"] == "no layer chosen"
    transfer = transfer_matrix(golden, scores)
    assert (transfer["editor"] == "rome").any()
    wide = wide_locators(golden, regret, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert (wide.loc[wide["editor"] == "rome", "n_failed"] == 8).all()
    sens = proxy_size_sensitivity(failing, golden, repeats=2)
    assert (sens.loc[sens["editor"] == "rome", "n_failed"] == 8).all() and sens.loc[sens["editor"] == "rome",
                                                                                    "regret"].isna().all()
    runtime = runtime_table(failing, None, None, reference_editor="rome")
    assert runtime["n_failed"].tolist() == [4] and runtime["bf_seconds_per_case"].notna().all()
    with caplog.at_level(logging.WARNING):
        check_failures(failing, None)
    text = caplog.text
    assert "m / rome / a / layer 0: 4 of 4" in text and "m / r-rome / a / layer 1: 1 of 4" in text
    assert "m / r-rome / a / layer 0" not in text
    with pytest.raises(InputError, match="max_failed_fraction"):
        check_failures(failing, 0.5)   # 9 of 16 failed
    check_failures(failing, 0.6)


def test_partly_failed_editor_counts_its_failures_and_scores_the_rest(failing):
    scores = layer_scores(failing)
    cell = scores[(scores["editor"] == "r-rome") & (scores["split"] == "test") & (scores["layer"] == 1)
                  & (scores["metric"] == "rewrite_acc")].iloc[0]
    assert cell["n"] == 1 and cell["n_failed"] == 1 and cell["mean"] == pytest.approx(0.75)
    golden = golden_layers(failing, scores)
    row = golden[(golden["editor"] == "r-rome") & (golden["metric"] == "rewrite_acc")].iloc[0]
    assert row["proxy_golden_layer"] == 1 and row["n_failed"] == 1 and row["n_failed_test"] == 1
    assert row["test_score_at_proxy_golden"] == pytest.approx(0.75) and row["n_at_proxy_golden"] == 1
    regret, _, _ = compare_locators(failing, golden, pd.DataFrame(), pd.DataFrame(), n_boot=50)
    bf = regret[(regret["editor"] == "r-rome") & (regret["metric"] == "rewrite_acc") & (regret["locator"] == "bf")]
    assert bf["n"].iloc[0] == 1 and bf["n_failed"].iloc[0] == 1
