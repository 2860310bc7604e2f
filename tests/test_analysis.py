"""Golden layers, optimum, regret, paired test, transfer, runtime and proxy-size tables on hand-built inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goldenlayers.analysis.compare import compare_locators, wide_locators
from goldenlayers.analysis.golden import golden_layers, parse_ties
from goldenlayers.analysis.locators import choice, lga_choice_from_cases
from goldenlayers.analysis.runtime import runtime_table
from goldenlayers.analysis.scores import (add_overall, apply_failed, case_matrix, layer_scores, read_unedited_scores,
                                         with_pre_edit)
from goldenlayers.analysis.sensitivity import proxy_size_sensitivity, proxy_sizes
from goldenlayers.analysis.stats import bootstrap_mean_ci, wilcoxon_paired
from goldenlayers.analysis.tables import to_markdown
from goldenlayers.analysis.ties import draw_tied
from goldenlayers.analysis.transfer import transfer_matrix
from goldenlayers.errors import InputError

# Rewrite accuracy per (split, case) over layers 0, 1, 2 for dataset "a".
#   proxy: layer 1 and layer 2 tie (means 0.75, 0.75) -> ties "1;2", scored as the mean over layers 1 and 2:
#          per test case (0.55, 1.0, 0.35) -> 1.9 / 3
#   test:  layer means 0.2, 0.6, 2/3 -> test-best layer 2; per-case best 0.6, 1.0, 0.5 -> optimum 0.7
TABLE_A = {
    ("proxy", "p0"): [0.0, 1.0, 0.5],
    ("proxy", "p1"): [0.5, 0.5, 1.0],
    ("test", "t0"): [0.0, 0.6, 0.5],
    ("test", "t1"): [0.6, 1.0, 1.0],
    ("test", "t2"): [0.0, 0.2, 0.5],
}
# Dataset "b": proxy golden layer 0 (means 0.9, 0.1, 0.0); test means 0.8, 0.4, 0.2.
TABLE_B = {
    ("proxy", "q0"): [1.0, 0.0, 0.0],
    ("proxy", "q1"): [0.8, 0.2, 0.0],
    ("test", "u0"): [0.8, 0.4, 0.2],
}


def rows(dataset, table, editor="r-rome", seconds=1.0):
    out = []
    for (split, case), values in table.items():
        for layer, value in enumerate(values):
            out.append({"model": "m", "editor": editor, "dataset": dataset, "split": split, "layer": layer,
                        "case_id": case, "status": "ok", "rewrite_acc": value, "rephrase_acc": np.nan,
                        "locality": np.nan, "portability": np.nan, "seconds": seconds})
    return out


@pytest.fixture
def cases():
    return add_overall(pd.DataFrame(rows("a", TABLE_A) + rows("b", TABLE_B)))


@pytest.fixture
def golden(cases):
    return golden_layers(cases, layer_scores(cases))


def lga_frame(dataset, scores, kept=None):
    n = len(scores)
    kept = [True] * n if kept is None else kept
    best = int(np.argmax(np.where(kept, scores, -np.inf)))
    return pd.DataFrame({"model": "m", "dataset": dataset, "layer": np.arange(n), "score": scores, "kept": kept,
                         "is_golden": np.arange(n) == best, "n_cases": 2, "seconds": 2.0, "mean_query_tokens": 7.0})


def cma_frame(dataset, effects):
    n = len(effects)
    return pd.DataFrame({"model": "m", "dataset": dataset, "layer": np.arange(n), "mean_effect": effects,
                         "is_golden": np.arange(n) == int(np.argmax(effects)), "n_cases": 2, "seconds": 8.0,
                         "mean_query_tokens": 7.0})


def test_overall_is_mean_of_present_metrics():
    frame = add_overall(pd.DataFrame({"rewrite_acc": [1.0, np.nan], "rephrase_acc": [0.5, np.nan],
                                      "locality": [np.nan, np.nan], "portability": [0.0, np.nan]}))
    assert frame["overall"].iloc[0] == pytest.approx(0.5)
    assert np.isnan(frame["overall"].iloc[1])


def test_golden_layer_ties_optimum_and_test_best(golden):
    row = golden[(golden["dataset"] == "a") & (golden["metric"] == "rewrite_acc")].iloc[0]
    assert row["proxy_golden_layer"] in (1, 2)  # a seeded draw among the tied layers, for labels only
    assert parse_ties(row["proxy_ties"]) == [1, 2]
    assert row["test_score_at_proxy_golden"] == pytest.approx(1.9 / 3)  # the tie rule: mean over layers 1, 2
    assert row["test_sem_at_proxy_golden"] == pytest.approx(np.std([0.55, 1.0, 0.35], ddof=1) / np.sqrt(3))
    assert row["n_at_proxy_golden"] == 3
    assert row["test_best_layer"] == 2 and row["test_best_score"] == pytest.approx(2 / 3)
    assert parse_ties(row["test_best_ties"]) == [2]
    assert row["sample_wise_optimum"] == pytest.approx((0.6 + 1.0 + 0.5) / 3)
    assert (row["n_proxy"], row["n_test"], row["n_failed"], row["n_layers"]) == (2, 3, 0, 3)
    # metrics without any value (rephrase, locality, portability here) get no row; overall = rewrite here
    assert set(golden["metric"]) == {"rewrite_acc", "overall"}


def test_failed_cases_are_counted_and_dropped_or_zeroed(cases):
    cases = cases.copy()
    hit = (cases["dataset"] == "a") & (cases["split"] == "test") & (cases["case_id"] == "t1") & (cases["layer"] == 1)
    cases.loc[hit, "status"] = "failed"
    cases.loc[hit, ["rewrite_acc", "overall"]] = np.nan
    dropped = golden_layers(cases, layer_scores(cases))
    row = dropped[(dropped["dataset"] == "a") & (dropped["metric"] == "rewrite_acc")].iloc[0]
    assert row["n_failed"] == 1 and row["n_failed_test"] == 1
    # t1 failed at layer 1: its tie score is its layer-2 score alone
    assert row["test_score_at_proxy_golden"] == pytest.approx((0.55 + 1.0 + 0.35) / 3)
    zero = golden_layers(cases, layer_scores(cases, failed="zero"), failed="zero")
    row = zero[(zero["dataset"] == "a") & (zero["metric"] == "rewrite_acc")].iloc[0]
    assert row["test_score_at_proxy_golden"] == pytest.approx((0.55 + 0.5 + 0.35) / 3)
    # "zero" scores a failed edit 0 only on the metrics the dataset has: the others stay missing
    zeroed = apply_failed(cases, "zero")
    assert zeroed.loc[hit, "rewrite_acc"].eq(0).all() and zeroed.loc[hit, "rephrase_acc"].isna().all()


def test_failed_edits_scored_as_the_unedited_model(cases, tmp_path):
    """analysis.failed: unedited scores a failed edit as the unedited model scores that case: its pre-edit
    accuracies from the pre-edit file, locality 1; metrics the dataset lacks stay missing."""
    cases = cases.copy()
    cases["locality"] = 0.9                                  # dataset a and b have rewrite and locality
    hit = (cases["dataset"] == "a") & (cases["split"] == "test") & (cases["case_id"] == "t1") & (cases["layer"] == 1)
    cases.loc[hit, "status"] = "failed"
    cases.loc[hit, ["rewrite_acc", "locality"]] = np.nan
    cases = add_overall(cases)
    folder = tmp_path / "pre_edit" / "m"
    folder.mkdir(parents=True)
    for dataset, table in (("a", TABLE_A), ("b", TABLE_B)):
        pre = pd.DataFrame([{"split": split, "case_id": case, "pre_rewrite_acc": 0.25 if case == "t1" else 0.0,
                             "pre_rephrase_acc": np.nan, "pre_portability": np.nan,  # no such prompts
                             "pre_locality_tokens": [[7, 8]] if case != "u0" else []} for split, case in table])
        pre.to_parquet(folder / f"{dataset}.parquet")
    with pytest.raises(InputError, match="pre-edit"):
        apply_failed(cases, "unedited")
    with_pre = with_pre_edit(cases, read_unedited_scores([str(folder / "a.parquet"), str(folder / "b.parquet")]))
    assert len(with_pre) == len(cases)
    scored = apply_failed(with_pre, "unedited")
    failed_row = scored[(scored["status"] == "failed")].iloc[0]
    assert failed_row["rewrite_acc"] == 0.25 and failed_row["locality"] == 1.0
    assert np.isnan(failed_row["rephrase_acc"]) and np.isnan(failed_row["portability"])
    assert failed_row["overall"] == pytest.approx((0.25 + 1.0) / 2)
    ok = scored["status"] == "ok"
    pd.testing.assert_series_equal(scored.loc[ok, "rewrite_acc"].reset_index(drop=True),
                                   with_pre.loc[ok, "rewrite_acc"].reset_index(drop=True))
    golden = golden_layers(with_pre, layer_scores(with_pre, failed="unedited"), failed="unedited")
    row = golden[(golden["dataset"] == "a") & (golden["metric"] == "rewrite_acc")].iloc[0]
    # t1 at layers 1 and 2 (the proxy tie): (0.25 + 1.0) / 2 instead of (1.0 + 1.0) / 2
    assert row["test_score_at_proxy_golden"] == pytest.approx((0.55 + 0.625 + 0.35) / 3)
    assert row["n_failed_test"] == 1
    with pytest.raises(InputError, match="no pre-edit file") as err:
        with_pre_edit(cases, read_unedited_scores([str(folder / "a.parquet")]))
    assert "analysis.failed" in str(err.value)
    # a cell whose every edit failed is scored as well, whichever frame it is cut from; a case without locality
    # prompts gets no locality score
    every = with_pre.copy()
    every.loc[every["dataset"] == "b", "status"] = "failed"
    every.loc[every["dataset"] == "b", ["rewrite_acc", "locality", "overall"]] = np.nan
    matrix = case_matrix(every, "m", "r-rome", "b", "test", "rewrite_acc", "unedited")
    assert matrix.loc["u0"].tolist() == [0.0, 0.0, 0.0]
    assert case_matrix(every, "m", "r-rome", "b", "test", "locality", "unedited").isna().all().all()
    assert case_matrix(every, "m", "r-rome", "b", "proxy", "locality", "unedited").eq(1.0).all().all()
    means = layer_scores(every, failed="unedited")
    b_test = means[(means["dataset"] == "b") & (means["split"] == "test") & (means["metric"] == "rewrite_acc")]
    assert b_test["mean"].tolist() == [0.0, 0.0, 0.0] and b_test["n"].tolist() == [1, 1, 1]


def test_regret_and_paired_test(cases, golden):
    lga = pd.concat([lga_frame("a", [0.0, 5.0, 1.0]), lga_frame("b", [3.0, 1.0, 0.0])])
    cma = pd.concat([cma_frame("a", [0.1, 0.2, 0.9]), cma_frame("b", [0.9, 0.1, 0.0])])
    regret, paired, per_case = compare_locators(cases, golden, lga, cma, n_boot=500, seed=1)
    a = regret[(regret["dataset"] == "a") & (regret["metric"] == "rewrite_acc")].set_index("locator")
    assert a.loc["bf", "ties"] == "1;2" and a.loc["lga", "layer"] == 1 and a.loc["cma", "layer"] == 2
    assert a.loc["bf", "evaluated_layers"] == "0;1;2" and (a["n"] == 3).all() and (a["n_failed"] == 0).all()
    optimum = (0.6 + 1.0 + 0.5) / 3
    assert a.loc["bf", "regret"] == pytest.approx(optimum - 1.9 / 3)
    assert a.loc["cma", "regret"] == pytest.approx(optimum - 2 / 3)
    assert a.loc["test_best", "regret"] == pytest.approx(optimum - 2 / 3)
    for _, row in a.iterrows():
        assert row["regret_low"] <= row["regret"] + 1e-12 <= row["regret_high"] + 2e-12
    pa = paired[(paired["dataset"] == "a") & (paired["metric"] == "rewrite_acc")].iloc[0]
    assert pa["lga_minus_cma"] == pytest.approx(np.mean([0.6 - 0.5, 1.0 - 1.0, 0.2 - 0.5]))
    assert pa["n_pairs"] == 3 and pa["n_nonzero"] == 2 and 0 < pa["p_value"] <= 1
    pb = paired[(paired["dataset"] == "b") & (paired["metric"] == "rewrite_acc")].iloc[0]
    assert pb["lga_layer"] == pb["cma_layer"] == 0
    assert pb["p_value"] == 1.0 and pb["note"] == "all differences zero"
    assert pa["p_holm"] >= pa["p_value"]
    wide = wide_locators(golden, regret, paired, lga, cma)
    assert {"bf_regret", "lga_regret", "cma_regret", "p_value", "p_holm", "bf_n", "lga_n_processed", "cma_flag",
            "n_failed"} <= set(wide.columns)
    pc = per_case[(per_case["dataset"] == "a") & (per_case["metric"] == "rewrite_acc")].set_index("case_id")
    assert pc.loc["t0", "bf"] == pytest.approx(0.55) and pc.loc["t0", "cma"] == pytest.approx(0.5)


def two_grid_rows() -> pd.DataFrame:
    """Dataset "a" edited by R-ROME at layers 0, 1, 2 (TABLE_A) and by MEMIT at layers 0 and 2 only (TABLE_A's
    scores there): two editors on different grids."""
    memit = {key: [v[0], v[2]] for key, v in TABLE_A.items()}
    return pd.DataFrame(rows("a", TABLE_A) + [
        {**row, "layer": [0, 2][row["layer"]]} for row in rows("a", memit, editor="memit")])


def test_evaluated_layers_and_test_best_label_are_each_editors_own():
    """Two editors on one dataset with different grids (R-ROME at 0, 1, 2; MEMIT at 0 and 2) and a test edit at a
    locator's off-grid choice (MEMIT at 1) that ties with the grid's best: each editor's row lists only its own
    evaluated layers, and the test-best layer is named (drawn from its ties), never missing."""
    memit = {key: [v[0], v[2]] for key, v in TABLE_A.items()}
    frame = two_grid_rows()
    choice_rows = [{**row, "layer": 1} for row in rows("a", {k: [v[1]] for k, v in memit.items() if k[0] == "test"},
                                                       editor="memit")]  # the choice edit ties with layer 2
    cases = add_overall(pd.concat([frame, pd.DataFrame(choice_rows)], ignore_index=True))
    golden = golden_layers(cases[~((cases["editor"] == "memit") & (cases["layer"] == 1))],
                           layer_scores(cases[~((cases["editor"] == "memit") & (cases["layer"] == 1))]))
    lga = lga_frame("a", [0.0, 5.0, 1.0])  # LGA chose layer 1: off MEMIT's grid
    regret, _, _ = compare_locators(cases, golden, lga, cma_frame("a", [0.1, 0.2, 0.9]), n_boot=100, seed=1)
    best = regret[(regret["locator"] == "test_best") & (regret["metric"] == "rewrite_acc")].set_index("editor")
    assert best.loc["memit", "evaluated_layers"] == "0;1;2" and best.loc["r-rome", "evaluated_layers"] == "0;1;2"
    grid_only = cases[~((cases["editor"] == "memit") & (cases["layer"] == 1))]  # R-ROME still has layer 1
    regret2, _, _ = compare_locators(grid_only, golden, lga, cma_frame("a", [0.1, 0.2, 0.9]), n_boot=100, seed=1)
    best2 = regret2[(regret2["locator"] == "test_best") & (regret2["metric"] == "rewrite_acc")].set_index("editor")
    assert best2.loc["memit", "evaluated_layers"] == "0;2", "another editor's layers counted as evaluated"
    assert best.loc["memit", "ties"] == "1;2" and best.loc["memit", "layer"] in (1, 2)
    # the tie differs from golden's ("2"): the label is drawn from compare's own tie with golden's key
    assert best.loc["memit", "layer"] == draw_tied([1, 2], 1, "m", "memit", "a", "rewrite_acc", "test_best")
    golden_memit = golden[(golden["editor"] == "memit") & (golden["metric"] == "rewrite_acc")].iloc[0]
    assert golden_memit["test_best_ties"] == "2" and best2.loc["memit", "layer"] == golden_memit["test_best_layer"] == 2


# TABLE_A with a test-best tie: layers 1 and 2 both average 2/3 on test (exact in binary floating point).
TIED_TEST = {**{k: v for k, v in TABLE_A.items() if k[0] == "proxy"},
             ("test", "t0"): [0.0, 0.75, 0.5], ("test", "t1"): [0.5, 1.0, 1.0], ("test", "t2"): [0.0, 0.25, 0.5]}


@pytest.mark.parametrize("seed", range(6))
def test_test_best_label_matches_golden_with_the_same_seed(seed):
    """Where golden_layers and compare_locators see the same test-best tie of two layers, both tables name the
    same layer when run with the same seed: the draw of the one tie rule with one key."""
    cases = add_overall(pd.DataFrame(rows("a", TIED_TEST)))
    golden = golden_layers(cases, layer_scores(cases), seed=seed)
    regret, _, _ = compare_locators(cases, golden, pd.DataFrame(), pd.DataFrame(), n_boot=50, seed=seed)
    for metric in ("rewrite_acc", "overall"):
        row = golden[golden["metric"] == metric].iloc[0]
        best = regret[(regret["locator"] == "test_best") & (regret["metric"] == metric)].iloc[0]
        assert row["test_best_ties"] == best["ties"] == "1;2"
        assert best["layer"] == row["test_best_layer"] == draw_tied([1, 2], seed, "m", "r-rome", "a", metric,
                                                                    "test_best")


def test_test_best_label_draw_depends_on_the_seed():
    """The same-seed test above is not vacuous: over those seeds the drawn label takes both tied layers."""
    assert {draw_tied([1, 2], seed, "m", "r-rome", "a", "rewrite_acc", "test_best") for seed in range(6)} == {1, 2}


def test_missing_locators_give_bf_only(cases, golden):
    empty = pd.DataFrame()
    regret, paired, _ = compare_locators(cases, golden, empty, empty, n_boot=100)
    assert set(regret["locator"]) == {"bf", "test_best"}
    assert paired.empty
    wide = wide_locators(golden, regret, paired, empty, empty)
    assert wide["lga_layer"].isna().all() and wide["p_value"].isna().all()
    assert "No rows" in to_markdown(paired)


def test_locator_choice_over_every_layer_and_fences():
    lga = lga_frame("a", [9.0, 5.0, 1.0, 4.0], kept=[False, True, True, True])
    pick = choice(lga, "lga", "m", "a", grid=[2, 3])
    assert pick.ties == (1,) and pick.layer == 1 and pick.grid_ties == (3,)
    per_case = pd.DataFrame({"case_id": ["x"] * 5 + ["y"] * 5, "layer": list(range(5)) * 2,
                             "contribution": [0, 1, 2, 3, 100, 0, 1, 2, 3, 100.0]})
    # sums 0, 2, 4, 6, 200 -> Q1 = 2, Q3 = 6, fences [-2, 10]: layer 4 dropped, argmax 3
    assert lga_choice_from_cases(per_case, ["x", "y"], grid=None) == [3]
    assert lga_choice_from_cases(per_case, ["x", "y"], grid=[0, 1, 4]) == [1]


def test_transfer_matrix(golden):
    scores = layer_scores(add_overall(pd.DataFrame(rows("a", TABLE_A) + rows("b", TABLE_B))))
    transfer = transfer_matrix(golden, scores)
    t = transfer[(transfer["metric"] == "rewrite_acc") & (transfer["locator"] == "bf")].set_index(["source", "target"])
    # a's proxy tie {1, 2} scores the mean over both layers on any target
    assert t.loc[("a", "b"), "source_ties"] == "1;2" and t.loc[("a", "b"), "test_score"] == pytest.approx(0.3)
    assert t.loc[("b", "a"), "source_layer"] == 0 and t.loc[("b", "a"), "test_score"] == pytest.approx(0.2)
    assert t.loc[("a", "a"), "test_score"] == pytest.approx((0.6 + 2 / 3) / 2)
    assert t.loc[("b", "a"), "gap_to_own"] == pytest.approx((0.6 + 2 / 3) / 2 - 0.2)
    assert t.loc[("a", "b"), "regret"] == pytest.approx(0.8 - 0.3)
    assert (t["n_failed"] == 0).all()


def test_bootstrap_is_seeded_and_contains_estimate():
    values = np.random.default_rng(3).uniform(0, 1, 40)
    first = bootstrap_mean_ci(values, n_boot=1000, seed=7, key=("k",))
    assert first == bootstrap_mean_ci(values, n_boot=1000, seed=7, key=("k",))
    assert first != bootstrap_mean_ci(values, n_boot=1000, seed=8, key=("k",))
    assert first.low < first.estimate < first.high
    assert first.estimate == pytest.approx(values.mean())
    single = bootstrap_mean_ci([0.3])
    assert single.low == single.high == single.estimate == 0.3
    assert np.isnan(bootstrap_mean_ci([]).estimate)


def test_wilcoxon_edge_cases():
    assert wilcoxon_paired([1, 2, 3], [1, 2, 3]).p_value == 1.0
    assert np.isnan(wilcoxon_paired([np.nan], [1.0]).p_value)
    strong = wilcoxon_paired(np.arange(10) + 1.0, np.zeros(10))
    assert strong.p_value < 0.01 and strong.n_nonzero == 10


def test_runtime_per_case_on_the_same_cases(cases):
    lga = lga_frame("a", [0.0, 5.0, 1.0])
    cma = cma_frame("a", [0.1, 0.2, 0.9])
    # LGA processed p0, p1 and an extra case x9 (not in BF's proxy); CMA traced p0 only
    lga_cases = pd.DataFrame({"model": "m", "dataset": "a", "case_id": ["p0", "p1", "x9"], "layer": 0,
                              "contribution": [1.0, 2.0, 3.0], "seconds": [0.5, 1.5, 9.0]})
    cma_cases = pd.DataFrame({"model": "m", "dataset": "a", "case_id": ["p0", "p1"], "layer": 0,
                              "p_restored": [0.3, np.nan], "seconds": [2.0, 0.1]})
    table = runtime_table(cases, lga, cma, num_layers={"m": 6}, lga_cases=lga_cases,
                          cma_cases=cma_cases).set_index("dataset")
    # proxy of "a": a case is edited at 3 grid layers x 1 s = 3 s; all 6 layers -> 6 s
    assert table.loc["a", "bf_seconds_per_case"] == pytest.approx(3.0)
    assert table.loc["a", "bf_seconds_per_case_all_layers"] == pytest.approx(6.0)
    assert table.loc["a", "lga_n_processed"] == 3 and table.loc["a", "lga_n_common"] == 2
    assert table.loc["a", "speedup_lga_vs_bf"] == pytest.approx(3.0 / 1.0)  # p0, p1: 3 s vs (0.5 + 1.5) / 2
    assert table.loc["a", "speedup_lga_vs_bf_all_layers"] == pytest.approx(6.0)
    assert table.loc["a", "cma_n_processed"] == 1
    assert table.loc["a", "speedup_cma_vs_bf_all_layers"] == pytest.approx(3.0)
    assert table.loc["a", "speedup_lga_vs_cma"] == pytest.approx(2.0 / 0.5)  # on p0, the one case both processed
    # no locator output for "b": missing with the reason, never a time measured on nothing
    assert np.isnan(table.loc["b", "lga_seconds_per_case"]) and table.loc["b", "lga_missing"] == "lga not run"
    assert np.isnan(table.loc["b", "speedup_lga_vs_bf"]) and table.loc["b", "bf_seconds_per_case"] == pytest.approx(3.0)


def test_runtime_of_a_locator_that_processed_nothing_is_missing(cases):
    cma = cma_frame("a", [np.nan, np.nan, np.nan])
    cma_cases = pd.DataFrame({"model": "m", "dataset": "a", "case_id": ["p0", "p1"], "layer": 0,
                              "p_restored": [np.nan, np.nan], "seconds": [0.1, 0.1]})
    table = runtime_table(cases, None, cma, cma_cases=cma_cases, num_layers={"m": 6}).set_index("dataset")
    assert np.isnan(table.loc["a", "cma_seconds_per_case"]) and np.isnan(table.loc["a", "speedup_cma_vs_bf_all_layers"])
    assert "processed no case" in table.loc["a", "cma_missing"]


def test_proxy_size_sensitivity(cases, golden):
    assert proxy_sizes(1) == [1] and proxy_sizes(100, 5)[0] == 1 and proxy_sizes(100, 5)[-1] == 100
    sens = proxy_size_sensitivity(cases, golden, repeats=10, seed=0)
    a = sens[(sens["dataset"] == "a") & (sens["metric"] == "rewrite_acc") & (sens["locator"] == "bf")]
    full = a[a["proxy_size"] == 2].iloc[0]
    assert full["n_draws"] == 1 and full["agreement_full"] == 1.0
    assert full["regret"] == pytest.approx((0.6 + 1.0 + 0.5) / 3 - (0.6 + 2 / 3) / 2)
    # one proxy case: p0 picks {1}, p1 picks {2}; neither is the full tie set {1, 2}
    assert a[a["proxy_size"] == 1].iloc[0]["agreement_full"] == 0.0
    again = proxy_size_sensitivity(cases, golden, repeats=10, seed=0)
    pd.testing.assert_frame_equal(sens, again)


def test_proxy_size_sensitivity_uses_each_editors_own_grid():
    """R-ROME edited at layers 0, 1, 2 and MEMIT at 0 and 2 only: LGA's and CMA's subset picks for MEMIT are made
    within MEMIT's grid (layer 2 here), never at R-ROME's layer 1, which MEMIT's test split cannot score."""
    cases = add_overall(two_grid_rows())
    golden = golden_layers(cases, layer_scores(cases))
    # every proxy case puts layer 1 first and layer 2 second (sums 1, 3, 2: inside the fences)
    lga_cases = pd.DataFrame({"model": "m", "dataset": "a", "case_id": ["p0"] * 3 + ["p1"] * 3,
                              "layer": [0, 1, 2] * 2, "contribution": [0.5, 1.5, 1.0] * 2})
    cma_cases = pd.DataFrame({"model": "m", "dataset": "a", "case_id": ["p0"] * 3 + ["p1"] * 3,
                              "layer": [0, 1, 2] * 2, "p_restored": [0.1, 0.9, 0.5] * 2})
    sens = proxy_size_sensitivity(cases, golden, lga_cases, cma_cases, repeats=5, seed=0)
    sens = sens[(sens["dataset"] == "a") & (sens["metric"] == "rewrite_acc") & sens["locator"].isin(["lga", "cma"])]
    optimum_memit = (0.5 + 1.0 + 0.5) / 3  # per-case best over MEMIT's layers 0 and 2
    for _, row in sens[sens["editor"] == "memit"].iterrows():
        assert row["n_chosen"] == row["n_draws"] > 0, "a pick off MEMIT's grid was dropped"
        assert row["agreement_full"] == 1.0 and row["agreement_test_best"] == 1.0
        assert row["regret"] == pytest.approx(optimum_memit - 2 / 3)
    for _, row in sens[sens["editor"] == "r-rome"].iterrows():  # R-ROME's grid has layer 1: picked there
        assert row["n_chosen"] == row["n_draws"] > 0
        assert row["regret"] == pytest.approx((0.6 + 1.0 + 0.5) / 3 - 0.6)
