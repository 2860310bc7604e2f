"""Beyond the paper: each test case at its own LGA layer. The per-case choice (Tukey on one case, the tie rule),
the lookup into the edits with layers that were not edited, the table and the claims row; on hand-built inputs
with every expected number worked out below, and through the CLI on the synthetic tree (tests/synthetic.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import synthetic
from goldenlayers import cli
from goldenlayers.analysis.claims import claims_table
from goldenlayers.analysis.compare import compare_locators
from goldenlayers.analysis.golden import golden_layers
from goldenlayers.analysis.locators import lga_case_choices, lga_choice_from_cases
from goldenlayers.analysis.per_case_layer import (CHOICES, COLUMNS, choice_counts, per_case_layer_table,
                                                  scores_at_case_choices)
from goldenlayers.analysis.scores import add_overall, case_matrix, layer_scores
from goldenlayers.locate.tukey import tukey_golden
from test_claims import check_claims

NAN = np.nan
# Rewrite accuracy of dataset "a" (model "m", editor "r-rome"). The sweep grid is layers 0, 1, 2 (both splits);
# the test split is also edited at layer 4 (LGA's fixed choice, an edit_choice job); layers 3 and 5 never are.
PROXY = {"p0": [0.0, 1.0, 0.0], "p1": [0.0, 1.0, 0.5]}                     # BF's golden layer: 1
TEST = {  # layers 0, 1, 2, then 4; None: a failed edit
    "t0": [0.2, 0.4, 1.0, 0.6],
    "t1": [0.5, 0.5, 0.0, 0.9],
    "t2": [1.0, 0.0, 0.5, 0.0],
    "t3": [0.0, 0.6, None, 0.3],
    "t4": [0.3, 0.3, 0.3, 0.3],
}
# Each test case's LGA contributions over the model's 6 layers.
#   t0: sorted 0 0 1 1 2 3 -> linear Q1 0.25, Q3 1.75, fences [-1.25, 3.25]: all kept, argmax 2
#   t1: same fences, argmax 3 (never edited: not covered); within the grid {0, 1, 2}: tie 1|2
#   t2: sorted 0 1 1 2 2 100 -> Q1 1, Q3 2, fences [0, 3]: 100 (layer 0) dropped; tie 2|4; within the grid: 2
#   t3: as t0 (layer 2), but its edit there failed: covered, no score
#   t4: skipped by LGA (every contribution NaN): no layer
CONTRIBUTIONS = {
    "t0": [0, 1, 3, 2, 1, 0],
    "t1": [0, 1, 1, 3, 2, 0],
    "t2": [100, 1, 2, 1, 2, 0],
    "t3": [0, 1, 3, 2, 1, 0],
    "t4": [NAN] * 6,
}


def edit_rows(split, table, layers):
    rows = []
    for case, values in table.items():
        for layer, value in zip(layers, values):
            rows.append({"model": "m", "editor": "r-rome", "dataset": "a", "split": split, "layer": layer,
                         "case_id": case, "status": "failed" if value is None else "ok",
                         "rewrite_acc": NAN if value is None else value, "rephrase_acc": NAN, "locality": NAN,
                         "portability": NAN, "seconds": 1.0})
    return rows


def contribution_frame(table, dataset="a"):
    return pd.DataFrame([{"model": "m", "dataset": dataset, "case_id": case, "layer": layer, "contribution": value}
                         for case, values in table.items() for layer, value in enumerate(values)])


@pytest.fixture(scope="module")
def inputs():
    grid_test = {case: values[:3] for case, values in TEST.items()}
    cases = add_overall(pd.DataFrame(edit_rows("proxy", PROXY, [0, 1, 2]) + edit_rows("test", grid_test, [0, 1, 2])))
    at_choice = add_overall(pd.DataFrame(edit_rows("test", {c: v[3:] for c, v in TEST.items()}, [4])))
    evaluated = pd.concat([cases, at_choice], ignore_index=True)
    golden = golden_layers(cases, layer_scores(cases))
    lga = pd.DataFrame({"model": "m", "dataset": "a", "layer": np.arange(6), "score": [0, 1, 2, 3, 9, 0.0],
                        "kept": True, "is_golden": np.arange(6) == 4, "n_cases": 2, "seconds": 1.0,
                        "mean_query_tokens": 5.0})
    regret, _, per_case = compare_locators(evaluated, golden, lga, pd.DataFrame(), n_boot=300, seed=0)
    table, extended = per_case_layer_table(cases, evaluated, regret, per_case, contribution_frame(CONTRIBUTIONS),
                                           n_boot=300, seed=0)
    return {"cases": cases, "evaluated": evaluated, "regret": regret, "per_case": per_case, "table": table,
            "extended": extended}


# ------------------------------------------------------------------------------------------------ the choice


def test_each_case_gets_the_golden_layers_rule_on_its_own_contributions():
    frame = contribution_frame(CONTRIBUTIONS)
    assert lga_case_choices(frame) == {"t0": (2,), "t1": (3,), "t2": (2, 4), "t3": (2,)}   # t4 skipped: absent
    assert lga_case_choices(frame, grid=[0, 1, 2]) == {"t0": (2,), "t1": (1, 2), "t2": (2,), "t3": (2,)}
    # the fences are the case's own: summed over the cases, layer 0 (100) would be kept by other fences
    for case, values in CONTRIBUTIONS.items():
        if case != "t4":
            assert lga_case_choices(frame)[case] == tuple(lga_choice_from_cases(frame, [case], None))
            assert tukey_golden(range(6), values).golden.ties == lga_case_choices(frame)[case]


def test_ties_follow_the_projects_tie_rule():
    # layers 0 and 1 differ by 1e-13 < TIE_ATOL: tied (the mean over both scores it), though not exactly equal
    frame = contribution_frame({"w": [1.0, 1.0 + 1e-13, 0.5, 0.9]})
    assert lga_case_choices(frame) == {"w": (0, 1)}
    # a fence drops the outlier of this case only
    frame = contribution_frame({"x": [0.0, 1.0, 2.0, 3.0, 100.0], "y": [5.0, 5.0, 1.0, 2.0, 3.0]})
    assert lga_case_choices(frame) == {"x": (3,), "y": (0, 1)}
    assert lga_case_choices(frame, grid=[2, 4]) == {"x": (2,), "y": (4,)}   # layer 4 of x is outside its fences


# ------------------------------------------------------------------------------------------------ the lookup


def test_lookup_with_layers_that_were_not_edited(inputs):
    matrix = case_matrix(inputs["evaluated"], "m", "r-rome", "a", "test", "rewrite_acc")
    edited = {c: {0, 1, 2, 4} for c in TEST}
    choices = lga_case_choices(contribution_frame(CONTRIBUTIONS))
    scores, covered = scores_at_case_choices(matrix, edited, choices, list(TEST))
    assert scores["t0"] == pytest.approx(1.0)
    assert np.isnan(scores["t1"]) and not covered["t1"]          # layer 3 was never edited: missing, not 0
    assert scores["t2"] == pytest.approx((0.5 + 0.0) / 2)         # tie 2|4: the mean over both layers
    assert np.isnan(scores["t3"]) and covered["t3"]              # edited at 2, but the edit failed
    assert np.isnan(scores["t4"]) and not covered["t4"]          # no layer chosen
    assert covered.tolist() == [True, False, True, True, False]
    # a case edited at only some of its tied layers is not covered
    partly = {**edited, "t2": {0, 1, 2}}
    scores, covered = scores_at_case_choices(matrix, partly, choices, list(TEST))
    assert np.isnan(scores["t2"]) and not covered["t2"]
    assert choice_counts(choices, list(TEST)) == "2 (2), 2|4 (1), 3 (1)"


def test_table_beside_the_fixed_layers_and_the_optimum(inputs):
    table = inputs["table"]
    assert list(table.columns) == COLUMNS
    cell = table[table["metric"] == "rewrite_acc"].set_index("choice")
    assert list(cell.index) == list(CHOICES) and set(table["metric"]) == {"rewrite_acc", "overall"}
    assert (cell["n_test"] == 5).all() and (cell["evaluated_layers"] == "0;1;2;4").all()
    # fixed layers: BF 1 (proxy), LGA 4; the sample-wise optimum over the evaluated layers 0, 1, 2, 4
    assert cell.loc["bf", "layers"] == "1" and cell.loc["bf", "score"] == pytest.approx(1.8 / 5)
    assert cell.loc["lga", "layers"] == "4" and cell.loc["lga", "score"] == pytest.approx(2.1 / 5)
    assert cell.loc["optimum", "score"] == pytest.approx((1.0 + 0.9 + 1.0 + 0.6 + 0.3) / 5)
    # ... equal to the locators' own rows
    regret = inputs["regret"]
    rows = regret[regret["metric"] == "rewrite_acc"].set_index("locator")
    for name in ("bf", "lga"):
        assert cell.loc[name, "score"] == pytest.approx(rows.loc[name, "test_mean"])
        assert cell.loc[name, "regret"] == pytest.approx(rows.loc[name, "regret"])
        assert cell.loc[name, "n"] == rows.loc[name, "n"] == 5
    # each case at its own layer over every layer: t0 1.0, t2 0.25; t1 (layer 3) and t3 (failed) have no score
    own = cell.loc["lga_per_case"]
    assert own["score"] == pytest.approx(0.625) and own["n"] == 2
    assert (own["n_chosen"], own["n_covered"], own["n_failed"]) == (4, 3, 1)   # t3's failed edit at layer 2
    assert own["layers"] == "2 (2), 2|4 (1), 3 (1)"
    assert own["minus_bf"] == pytest.approx(((1.0 - 0.4) + (0.25 - 0.0)) / 2) and own["n_pairs_bf"] == 2
    assert own["minus_lga"] == pytest.approx(((1.0 - 0.6) + (0.25 - 0.0)) / 2) and own["n_pairs_lga"] == 2
    assert own["regret"] == pytest.approx(((1.0 - 1.0) + (1.0 - 0.25)) / 2) and own["n_pairs_optimum"] == 2
    for name in ("score", "minus_bf", "minus_lga", "regret"):
        low, high = f"{name}_low", f"{name}_high"
        if name == "regret":
            low, high = "regret_low", "regret_high"
        assert own[low] <= own[name] + 1e-12 <= own[high] + 2e-12
    # within the grid: t0 1.0 (2), t1 0.25 (tie 1|2), t2 0.5 (2); t3 failed
    grid = cell.loc["lga_per_case_grid"]
    assert grid["score"] == pytest.approx((1.0 + 0.25 + 0.5) / 3)
    assert (grid["n"], grid["n_chosen"], grid["n_covered"], grid["n_failed"]) == (3, 4, 4, 1)
    assert (cell.loc["bf", "n_failed"], cell.loc["lga", "n_failed"], cell.loc["optimum", "n_failed"]) == (0, 0, 1)
    # a row is not compared with itself: missing, never 0
    assert np.isnan(cell.loc["bf", "minus_bf"]) and cell.loc["bf", "n_pairs_bf"] == 0
    assert np.isnan(cell.loc["optimum", "regret"]) and np.isnan(cell.loc["lga", "minus_lga"])


def test_claims_row_beyond_the_paper(inputs):
    extended = inputs["extended"]
    assert len(extended) == len(inputs["per_case"])
    claims = claims_table(extended, pd.DataFrame(), pd.DataFrame(), "r-rome", n_boot=300)
    check_claims(claims)
    b1 = claims.set_index("claim").loc["B1"]
    assert b1["figure"] == pytest.approx(0.425) and b1["n"] == 2 and b1["direction"] == "above"
    assert "beyond the paper" in b1["statement"]
    # without LGA on the test split the row is there, without data
    plain = claims_table(inputs["per_case"], pd.DataFrame(), pd.DataFrame(), "r-rome", n_boot=300)
    check_claims(plain)
    assert plain.set_index("claim").loc["B1", "n"] == 0 and plain.set_index("claim").loc["B1", "verdict"] == \
        "inconclusive"


def test_without_lga_every_cell_keeps_its_rows(inputs):
    table, _ = per_case_layer_table(inputs["cases"], inputs["evaluated"], inputs["regret"], inputs["per_case"],
                                    pd.DataFrame(columns=["model", "dataset", "case_id", "layer", "contribution"]),
                                    n_boot=100)
    own = table[table["choice"] == "lga_per_case"]
    assert len(own) == 2 and (own["n"] == 0).all() and own["score"].isna().all()
    assert (own["note"] == "LGA not run on the test split").all()


# ------------------------------------------------------------------------------------------------ the command


def test_analyse_writes_the_table_on_the_synthetic_tree(tmp_path):
    """collect-edits, aggregate and analyse on the synthetic tree: a grid of 3 of 6 layers, so some cases' own
    layers are not edited; the table says how many were covered and scores the others, never 0."""
    layers = [0, 2, 4]
    written = synthetic.write_tree(tmp_path, {"m": 6}, ["r-rome"], ["counterfact", "zsre"], {"m": layers},
                                   n_proxy=4, n_test=8)
    tables = tmp_path / "results" / "tables"
    case_tables = []
    for dataset in ("counterfact", "zsre"):
        inputs = [str(p) for p in written["edits"] if f"/{dataset}/" in str(p)]
        out = tables / "cases" / f"{dataset}.parquet"
        assert cli.main(["collect-edits", "--inputs", *inputs, "--output", str(out)]) == 0
        case_tables.append(str(out))
    assert cli.main(["aggregate", "--cases", *case_tables, "--out-dir", str(tables)]) == 0
    code = cli.main(["analyse", "--cases", *case_tables, "--golden", str(tables / "golden_layers.parquet"),
                     "--layer-scores", str(tables / "layer_scores.parquet"),
                     "--lga", *map(str, written["lga"]), "--lga-cases", *map(str, written["lga_cases"]),
                     "--lga-test-cases", *map(str, written["lga_test_cases"]),
                     "--cma", *map(str, written["cma"]), "--cma-cases", *map(str, written["cma_cases"]),
                     "--out-dir", str(tables), "--n-boot", "200", "--repeats", "2"])
    assert code == 0
    table = pd.read_csv(tables / "per_case_layer.csv")
    assert set(table["choice"]) == set(CHOICES)
    assert len(table) == len(pd.read_csv(tables / "golden_layers.csv")) * len(CHOICES)
    for dataset in ("counterfact", "zsre"):
        per_case = pd.read_parquet(tmp_path / f"results/locate/m/{dataset}/lga_test_cases.parquet")
        # the covered count, from the locate stage's own Tukey rule (locate/tukey.py), independently
        own = {case: tukey_golden(g["layer"].tolist(), g["contribution"].to_numpy()).golden.ties
               for case, g in per_case.groupby("case_id")}
        expected = sum(set(t) <= set(layers) for t in own.values())
        rows = table[(table["dataset"] == dataset) & (table["choice"] == "lga_per_case")]
        assert (rows["n_covered"] == expected).all() and (rows["n_chosen"] == 8).all(), (own, rows)
        # synthetic failures (every 5th test case) leave fewer scored than covered; none is scored 0 for missing
        assert (rows["n"] <= rows["n_covered"]).all()
        assert (rows["score"].isna() == (rows["n"] == 0)).all()
        grid = table[(table["dataset"] == dataset) & (table["choice"] == "lga_per_case_grid")]
        assert (grid["n_covered"] == 8).all() and grid["score"].notna().all()
    markdown = (tables / "per_case_layer.md").read_text()
    assert "own LGA layer" in markdown and "covered / test" in markdown and "lga_per_case_grid" in markdown
    claims = pd.read_csv(tables / "claims.csv")
    check_claims(claims.fillna({"rule": ""}))
    assert "B1" in set(claims["claim"])
