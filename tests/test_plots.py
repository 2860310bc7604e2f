"""Every figure module draws from small synthetic tables and writes a non-empty PDF and PNG."""

from __future__ import annotations

import importlib

import pandas as pd
import pytest

import synthetic
from goldenlayers.analysis.compare import compare_locators, wide_locators
from goldenlayers.analysis.golden import golden_layers
from goldenlayers.analysis.runtime import runtime_table
from goldenlayers.analysis.scores import add_overall, layer_scores
from goldenlayers.analysis.sensitivity import proxy_size_sensitivity
from goldenlayers.analysis.transfer import transfer_matrix
from goldenlayers.plots import FIGURES
from goldenlayers.plots._style import save_figure

LAYERS = [0, 2, 4, 5]
DATASETS = ["counterfact", "zsre"]


@pytest.fixture(scope="module")
def tables():
    frames, lga, lga_cases, cma, cma_cases = [], [], [], [], []
    for dataset in DATASETS:
        for split, n in (("proxy", 3), ("test", 4)):
            for layer in LAYERS:
                frames.append(synthetic.edit_results("m", "r-rome", dataset, split, layer, n, 6,
                                                     failed_every=4 if split == "test" else 0))
        ids = [f"{dataset}-proxy-{i}" for i in range(3)]
        for kind, make, out, out_cases in (("lga", synthetic.lga_tables, lga, lga_cases),
                                           ("cma", synthetic.cma_tables, cma, cma_cases)):
            summary, per_case = make("m", dataset, ids, 6)
            out.append(summary)
            out_cases.append(per_case.assign(model="m", dataset=dataset))
    cases = add_overall(pd.concat(frames, ignore_index=True))
    cases[["rephrase_acc", "locality", "portability"]] = float("nan")  # two metrics keep the figures small and fast
    scores = layer_scores(cases)
    golden = golden_layers(cases, scores)
    lga, cma = pd.concat(lga, ignore_index=True), pd.concat(cma, ignore_index=True)
    regret, paired, _ = compare_locators(cases, golden, lga, cma, n_boot=50)
    lga_cases, cma_cases = pd.concat(lga_cases), pd.concat(cma_cases)
    return {
        "layer_scores": scores, "golden_layers": golden, "regret": regret, "lga_vs_cma": paired,
        "locators": wide_locators(golden, regret, paired, lga, cma, min_cases=5),
        "transfer": transfer_matrix(golden, scores, lga, cma),
        "runtime": runtime_table(cases, lga, cma, num_layers={"m": 6}, lga_cases=lga_cases, cma_cases=cma_cases),
        "proxy_size": proxy_size_sensitivity(cases, golden, lga_cases, cma_cases, repeats=3),
    }


@pytest.mark.parametrize("name", FIGURES)
def test_figure_writes_pdf_and_png(name, tables, tmp_path):
    module = importlib.import_module(f"goldenlayers.plots.{name}")
    scope = {"model": "m", "editor": "r-rome"}
    scope = {k: v for k, v in scope.items() if k in module.SCOPE}
    assert set(module.INPUTS) <= set(tables)
    paths = save_figure(module.draw({k: tables[k] for k in module.INPUTS}, **scope), tmp_path / name, dpi=40)
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    for path in paths:
        assert path.stat().st_size > 2000
    assert paths[0].read_bytes().startswith(b"%PDF") and paths[1].read_bytes()[:4] == b"\x89PNG"


def test_missing_inputs_draw_an_explanation(tables, tmp_path):
    from goldenlayers.plots import fig3_lga_cma

    no_locators = tables["regret"][tables["regret"]["locator"].isin(["bf", "test_best"])]
    fig = fig3_lga_cma.draw({"regret": no_locators, "lga_vs_cma": tables["lga_vs_cma"].iloc[0:0],
                             "locators": tables["locators"]}, editor="r-rome")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("Neither LGA nor CMA" in t for t in texts)
    assert all(p.stat().st_size > 0 for p in save_figure(fig, tmp_path / "empty", dpi=40))


def test_absent_bars_say_no_data_and_intervals_show_n(tables, tmp_path):
    from goldenlayers.plots import fig3_lga_cma, fig4_runtime

    regret = tables["regret"].copy()
    gone = (regret["locator"] == "cma") & (regret["dataset"] == "zsre")
    regret.loc[gone, ["test_mean", "test_sem"]] = float("nan")  # CMA chose nothing on zsre
    fig = fig3_lga_cma.draw({"regret": regret, "lga_vs_cma": tables["lga_vs_cma"], "locators": tables["locators"]},
                            editor="r-rome")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no data" in texts and any(t.startswith("n=") for t in texts)
    # every scored bar names the layer(s) it was scored at (a reader sees which layer a locator picked)
    scored = regret[(regret["editor"] == "r-rome") & regret["locator"].isin(["lga", "cma"]) & regret["test_mean"].notna()
                    & (regret["test_mean"] >= 0.14)]
    from goldenlayers.plots._style import ties_label
    for ties in scored["ties"]:
        assert ties_label(ties) in texts, ties
    save_figure(fig, tmp_path / "fig3", dpi=40)
    runtime = tables["runtime"].copy()
    runtime["cma_seconds_per_case"] = float("nan")
    runtime["cma_missing"] = "cma processed no case"
    fig = fig4_runtime.draw({"runtime": runtime}, model="m")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("cma processed no case") == len(runtime) and any(t.startswith("n=") for t in texts)
    assert not fig.axes[0].get_lines()  # bars per dataset, no line joining datasets
    save_figure(fig, tmp_path / "fig4", dpi=40)


def test_a_layer_whose_every_edit_failed_stays_a_grey_row(tables, tmp_path):
    """Fig. 2: a layer with no score on any dataset (every edit failed, e.g. R-ROME at a model's last layer) is a
    grey "no data" row, not a layer silently missing from the axis."""
    from goldenlayers.plots import fig2_deviation

    scores = tables["layer_scores"].copy()
    last = scores["layer"] == max(LAYERS)
    scores.loc[last, ["mean", "sem"]] = float("nan")
    scores.loc[last, "n"] = 0
    dev = fig2_deviation.deviation_matrix(scores, "m", "r-rome")
    assert list(dev.index) == LAYERS and dev.loc[max(LAYERS)].isna().all()
    fig = fig2_deviation.draw({"layer_scores": scores, "golden_layers": tables["golden_layers"]}, "m", "r-rome")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("no data") for label in labels)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [str(layer) for layer in LAYERS]
    save_figure(fig, tmp_path / "fig2", dpi=40)


def test_tie_labels_stay_short():
    """A tie of many layers (rewrite accuracy at its ceiling over most of a 30-layer grid) is labelled by count
    over its lowest and highest layer (two short lines), so the label fits its bar; ties of up to MAX_TIES_LISTED
    layers list every layer."""
    from goldenlayers.plots._style import MAX_TIES_LISTED, ties_label

    assert ties_label("8") == "L8" and ties_label("8;18") == "L8|18" and ties_label("") == ""
    assert MAX_TIES_LISTED == 4
    assert ties_label("0;3;9;27") == "L0|3|9|27"  # exactly MAX_TIES_LISTED: listed
    assert ties_label([0, 3, 9, 18, 27]) == "5 tied\nL0 to L27"  # one more: collapsed, not read as 0-27 in full
    assert ties_label("0;3;9;18;27") == ties_label([0, 3, 9, 18, 27])
    assert ties_label(list(range(0, 21))) == "21 tied\nL0 to L20"
    # in a bar, anything wider than one layer name is written upright, along the bar
    import matplotlib.pyplot as plt
    from goldenlayers.plots._style import layer_text
    fig, ax = plt.subplots()
    for x, ties in enumerate(["8", "8;18", ";".join(map(str, range(21)))]):
        layer_text(ax, x, 0.9, 0.05, ties)
    layer_text(ax, 3, 0.05, 0.01, "29")   # a short bar: the name goes above its interval
    rotations = {t.get_text(): t.get_rotation() for t in ax.texts}
    assert rotations == {"L8": 0, "L8|18": 90, "21 tied\nL0 to L20": 90, "L29": 0}
    assert [t.get_position()[1] for t in ax.texts] == pytest.approx([0.02, 0.02, 0.02, 0.12])
    plt.close(fig)


def test_runtime_labels_each_datasets_own_grid(tables, tmp_path):
    """Fig. 4: with one grid for every dataset its size is in the BF legend entry; when a dataset has its own grid
    (e.g. ZsRE at every third layer), each dataset's tick label carries its size and the legend is generic."""
    from goldenlayers.plots import fig4_runtime

    def labels(runtime):
        fig = fig4_runtime.draw({"runtime": runtime}, model="m")
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ticks = [t.get_text().split("\n")[0] for t in fig.axes[0].get_xticklabels()]
        save_figure(fig, tmp_path / "fig4", dpi=40)
        return legend, ticks

    legend, ticks = labels(tables["runtime"])
    assert f"BF (r-rome), {len(LAYERS)}-layer grid" in legend and ticks == ["CounterFact", "ZsRE"]
    runtime = tables["runtime"].copy()
    runtime.loc[runtime["dataset"] == "zsre", "n_grid_layers"] = 2
    legend, ticks = labels(runtime)
    assert "BF (r-rome), each dataset's layer grid" in legend
    assert not any("-layer grid" in label for label in legend)
    assert ticks == [f"CounterFact ({len(LAYERS)}-layer grid)", "ZsRE (2-layer grid)"]


def test_an_editor_without_any_score_draws_an_explanation(tables, tmp_path):
    """Fig. 2: an editor whose every test score is missing (every edit failed) gets a figure saying so, not an
    all-grey heatmap with an undefined colour bar."""
    import warnings

    from goldenlayers.plots import fig2_deviation

    scores = tables["layer_scores"].copy()
    scores[["mean", "sem"]] = float("nan")
    scores["n"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # seaborn's "All-NaN slice" on an all-missing matrix
        fig = fig2_deviation.draw({"layer_scores": scores, "golden_layers": tables["golden_layers"]}, "m", "r-rome")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(fig.axes) == 1 and any(t.startswith("No test scores for m / r-rome") for t in texts)
    assert all(p.stat().st_size > 0 for p in save_figure(fig, tmp_path / "fig2_empty", dpi=40))
