"""Fig. 3: LGA against CMA per dataset, across models (test scores at each locator's own layer, SEM bars).

Rows: metrics; columns: models. Each bar is the mean over test cases at the locator's choice (over every
layer; ties scored as the mean over the tied layers), named at its foot, with its SEM and n written above it. A
black tick marks the best evaluated fixed layer on test. An asterisk marks a Wilcoxon signed-rank difference with
Holm-adjusted p < 0.05 (Holm over every cell of this figure, column ``p_holm`` of lga_vs_cma). A hatched bar with "!" rests
on a flagged locator cell (few cases, no corruption effect, all-negative S_L: the ``*_flag`` columns of the
locators table); "no data" marks a locator without a score there.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from ._style import (LABEL_INSIDE_MIN, LOCATOR_COLORS, LOCATOR_LABELS, dataset_label, empty_figure, layer_text,
                     metric_label, n_text, no_data, order_datasets, order_metrics, setup)

INPUTS = ("regret", "lga_vs_cma", "locators")
SCOPE = "editor"
STEM = "fig3_lga_cma"
ALPHA = 0.05


def _flags(locators: pd.DataFrame, editor: str, loc: str) -> dict:
    column = f"{loc}_flag"
    if locators is None or locators.empty or column not in locators.columns:
        return {}
    sel = locators[locators["editor"] == editor]
    return {(m, d): str(f) for m, d, f in sel[["model", "dataset", column]].drop_duplicates(["model", "dataset"])
            .itertuples(index=False) if isinstance(f, str) and f}


# About 70 lines on purpose: one figure drawn top to bottom (bars, intervals with n, Holm stars, no-data and
# flag marks, legend); split, its parts would only pass the same axes and frames around.
def draw(tables, editor: str):
    setup()
    regret = tables["regret"]
    regret = regret[regret["editor"] == editor]
    locators = [loc for loc in ("lga", "cma") if (regret["locator"] == loc).any()]
    if regret.empty or not locators:
        return empty_figure(f"Neither LGA nor CMA is part of this run ({editor}): nothing to compare.",
                            title="LGA vs CMA")
    paired = tables["lga_vs_cma"]
    paired = paired[paired["editor"] == editor] if len(paired) else paired
    flags = {loc: _flags(tables.get("locators"), editor, loc) for loc in locators}
    models = sorted(regret["model"].unique())
    metrics = order_metrics(regret["metric"].unique())
    datasets = order_datasets(regret["dataset"].unique())
    width = max(3.0, 0.9 * len(datasets) + 1.0)
    fig, axes = plt.subplots(len(metrics), len(models), figsize=(width * len(models), 2.5 * len(metrics) + 0.8),
                             squeeze=False, sharey=True, sharex=True)
    x = np.arange(len(datasets))
    bar = 0.8 / len(locators)
    for c, model in enumerate(models):
        for r, metric in enumerate(metrics):
            ax = axes[r, c]
            sel = regret[(regret["model"] == model) & (regret["metric"] == metric)]
            for k, loc in enumerate(locators):
                rows = sel[sel["locator"] == loc].set_index("dataset").reindex(datasets)
                offset = (k - (len(locators) - 1) / 2) * bar
                means = rows["test_mean"].to_numpy(dtype="float64")
                sems = rows["test_sem"].to_numpy(dtype="float64")
                flagged = [bool(flags[loc].get((model, d))) for d in datasets]
                ax.bar(x + offset, np.nan_to_num(means), bar, yerr=np.nan_to_num(sems), capsize=2,
                       color=LOCATOR_COLORS[loc], label=LOCATOR_LABELS[loc], error_kw={"elinewidth": 0.8},
                       hatch=None, edgecolor="white")
                for xi, m, e, n, flag, ties in zip(x + offset, means, sems, rows["n"], flagged, rows["ties"]):
                    if not np.isfinite(m):
                        no_data(ax, xi)
                        continue
                    layer_text(ax, xi, m, 0.0 if not np.isfinite(e) else e, ties)
                    if flag:
                        ax.bar(xi, m, bar, fill=False, hatch="///", edgecolor="black", linewidth=0)
                    top = m + (e if np.isfinite(e) else 0.0)
                    n_text(ax, xi, top + 0.01, n)
                    if flag:
                        # above the layer name when that sits above a short bar (layer_text)
                        ax.text(xi, top + (0.08 if m >= LABEL_INSIDE_MIN else 0.14), "!", ha="center", va="bottom",
                                fontsize=9, color="firebrick")
            best = sel[sel["locator"] == "test_best"].set_index("dataset").reindex(datasets)
            ax.scatter(x, best["test_mean"].to_numpy(dtype="float64"), marker="_", s=300, color="black",
                       linewidths=1.5, zorder=5, label=LOCATOR_LABELS["test_best"])
            if len(paired) and "p_holm" in paired.columns:
                sig = paired[(paired["model"] == model) & (paired["metric"] == metric)].set_index("dataset")
                for xi, dataset in zip(x, datasets):
                    if dataset in sig.index and sig.loc[dataset, "p_holm"] < ALPHA:
                        ax.text(xi, 1.12, "*", ha="center", va="bottom", fontsize=12)
            ax.set_ylim(0, 1.25)
            ax.set_yticks(np.linspace(0, 1, 6))
            ax.set_xlim(-0.6, len(datasets) - 0.4)
            ax.grid(axis="x", visible=False)
            if r == 0:
                ax.set_title(model)
            if c == 0:
                ax.set_ylabel(metric_label(metric))
            ax.set_xticks(x, [dataset_label(d) for d in datasets], rotation=30, ha="right")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], marker="$*$", color="black", linestyle="", markersize=8),
                Patch(fill=False, hatch="///", edgecolor="black")]
    labels += [f"Wilcoxon, Holm-adjusted p < {ALPHA:g}", "flagged (!): few cases / no corruption effect / all S_L < 0"]
    fig.legend(handles, labels, loc="upper center", ncol=3, frameon=False, bbox_to_anchor=(0.5, 1.0),
               fontsize=8)
    fig.suptitle(f"LGA vs CMA on test queries, each at its own layer ({editor}); bars: mean ± SEM, n above",
                 y=1.06)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig
