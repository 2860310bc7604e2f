"""Golden layers, optimum, regret, paired test, transfer, runtime and proxy-size tables on hand-built inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goldenlayers.analysis.compare import compare_locators, wide_locators
from goldenlayers.analysis.golden import golden_layers, parse_ties
from goldenlayers.analysis.locators import choice, lga_choice_from_cases
from goldenlayers.analysis.runtime import runtime_table
from goldenlayers.analysis.scores import add_overall, layer_scores
from goldenlayers.analysis.sensitivity import proxy_size_sensitivity, proxy_sizes
from goldenlayers.analysis.stats import bootstrap_mean_ci, wilcoxon_paired
from goldenlayers.analysis.tables import to_markdown
from goldenlayers.analysis.transfer import transfer_matrix

# Rewrite accuracy per (split, case) over layers 0, 1, 2 for dataset "a".
#   proxy: layer 1 and layer 2 tie (means 0.75, 0.75) -> golden layer 1, ties "1;2"
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
    assert row["proxy_golden_layer"] == 1
    assert parse_ties(row["proxy_ties"]) == [1, 2]
    assert row["test_score_at_proxy_golden"] == pytest.approx(0.6)
    assert row["test_sem_at_proxy_golden"] == pytest.approx(np.std([0.6, 1.0, 0.2], ddof=1) / np.sqrt(3))
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
    assert row["test_score_at_proxy_golden"] == pytest.approx(0.4)  # (0.6 + 0.2) / 2
    zero = golden_layers(cases, layer_scores(cases, failed="zero"), failed="zero")
    row = zero[(zero["dataset"] == "a") & (zero["metric"] == "rewrite_acc")].iloc[0]
    assert row["test_score_at_proxy_golden"] == pytest.approx(0.8 / 3)


def test_regret_and_paired_test(cases, golden):
    lga = pd.concat([lga_frame("a", [0.0, 5.0, 1.0]), lga_frame("b", [3.0, 1.0, 0.0])])
    cma = pd.concat([cma_frame("a", [0.1, 0.2, 0.9]), cma_frame("b", [0.9, 0.1, 0.0])])
    regret, paired = compare_locators(cases, golden, lga, cma, n_boot=500, seed=1)
    a = regret[(regret["dataset"] == "a") & (regret["metric"] == "rewrite_acc")].set_index("locator")
    assert a.loc["bf", "layer"] == 1 and a.loc["lga", "layer"] == 1 and a.loc["cma", "layer"] == 2
    optimum = (0.6 + 1.0 + 0.5) / 3
    assert a.loc["bf", "regret"] == pytest.approx(optimum - 0.6)
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
    wide = wide_locators(golden, regret, paired)
    assert {"bf_regret", "lga_regret", "cma_regret", "p_value"} <= set(wide.columns)


def test_missing_locators_give_bf_only(cases, golden):
    empty = pd.DataFrame()
    regret, paired = compare_locators(cases, golden, empty, empty, n_boot=100)
    assert set(regret["locator"]) == {"bf", "test_best"}
    assert paired.empty
    wide = wide_locators(golden, regret, paired)
    assert wide["lga_layer"].isna().all() and wide["p_value"].isna().all()
    assert "No rows" in to_markdown(paired)


def test_locator_choice_restricted_to_grid_and_fences():
    lga = lga_frame("a", [9.0, 5.0, 1.0, 4.0], kept=[False, True, True, True])
    pick = choice(lga, "lga", "m", "a", grid=[2, 3])
    assert pick.layer == 3 and pick.unrestricted_layer == 1
    per_case = pd.DataFrame({"case_id": ["x"] * 5 + ["y"] * 5, "layer": list(range(5)) * 2,
                             "contribution": [0, 1, 2, 3, 100, 0, 1, 2, 3, 100.0]})
    # sums 0, 2, 4, 6, 200 -> Q1 = 2, Q3 = 6, fences [-2, 10]: layer 4 dropped, argmax 3
    assert lga_choice_from_cases(per_case, ["x", "y"], grid=None) == 3
    assert lga_choice_from_cases(per_case, ["x", "y"], grid=[0, 1, 4]) == 1


def test_transfer_matrix(golden):
    scores = layer_scores(add_overall(pd.DataFrame(rows("a", TABLE_A) + rows("b", TABLE_B))))
    transfer = transfer_matrix(golden, scores)
    t = transfer[(transfer["metric"] == "rewrite_acc") & (transfer["locator"] == "bf")].set_index(["source", "target"])
    assert t.loc[("a", "b"), "source_layer"] == 1 and t.loc[("a", "b"), "test_score"] == pytest.approx(0.4)
    assert t.loc[("b", "a"), "source_layer"] == 0 and t.loc[("b", "a"), "test_score"] == pytest.approx(0.2)
    assert t.loc[("a", "a"), "test_score"] == pytest.approx(0.6)
    assert t.loc[("b", "a"), "gap_to_own"] == pytest.approx(0.6 - 0.2)
    assert t.loc[("a", "b"), "regret"] == pytest.approx(0.8 - 0.4)


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


def test_runtime_speedups(cases):
    lga = lga_frame("a", [0.0, 5.0, 1.0])
    cma = cma_frame("a", [0.1, 0.2, 0.9])
    table = runtime_table(cases, lga, cma, num_layers={"m": 6}).set_index("dataset")
    # proxy of "a": 2 cases x 3 grid layers x 1 s = 6 s; all 6 layers -> 12 s
    assert table.loc["a", "bf_seconds"] == pytest.approx(6.0)
    assert table.loc["a", "bf_seconds_all_layers"] == pytest.approx(12.0)
    assert table.loc["a", "speedup_lga_vs_bf"] == pytest.approx(3.0)
    assert table.loc["a", "speedup_lga_vs_cma"] == pytest.approx(4.0)
    assert np.isnan(table.loc["b", "lga_seconds"]) and table.loc["b", "bf_seconds"] == pytest.approx(6.0)


def test_proxy_size_sensitivity(cases, golden):
    assert proxy_sizes(1) == [1] and proxy_sizes(100, 5)[0] == 1 and proxy_sizes(100, 5)[-1] == 100
    sens = proxy_size_sensitivity(cases, golden, repeats=10, seed=0)
    a = sens[(sens["dataset"] == "a") & (sens["metric"] == "rewrite_acc") & (sens["locator"] == "bf")]
    full = a[a["proxy_size"] == 2].iloc[0]
    assert full["n_draws"] == 1 and full["agreement_full"] == 1.0
    assert full["regret"] == pytest.approx((0.6 + 1.0 + 0.5) / 3 - 0.6)
    # one proxy case: p0 picks layer 1 (in the tie set), p1 picks layer 2 (also tied): always agrees
    assert a[a["proxy_size"] == 1].iloc[0]["agreement_full"] == 1.0
    again = proxy_size_sensitivity(cases, golden, repeats=10, seed=0)
    pd.testing.assert_frame_equal(sens, again)
