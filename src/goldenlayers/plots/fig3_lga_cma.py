"""Fig. 3: LGA against CMA per dataset, across models (test scores at each locator's layer, SEM bars).

Rows: metrics; columns: models. A black tick marks the best fixed layer on test (the ceiling of any
one-layer locator); an asterisk above a pair marks a Wilcoxon signed-rank p < 0.05 (paired over test cases).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._style import (LOCATOR_COLORS, LOCATOR_LABELS, dataset_label, empty_figure, metric_label, order_datasets,
                     order_metrics, setup)

INPUTS = ("regret", "lga_vs_cma")
SCOPE = "editor"
STEM = "fig3_lga_cma"


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
    models = sorted(regret["model"].unique())
    metrics = order_metrics(regret["metric"].unique())
    datasets = order_datasets(regret["dataset"].unique())
    width = max(3.0, 0.75 * len(datasets) + 1.0)
    fig, axes = plt.subplots(len(metrics), len(models), figsize=(width * len(models), 2.3 * len(metrics) + 0.6),
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
                ax.bar(x + offset, rows["test_mean"].to_numpy(dtype="float64"), bar,
                       yerr=np.nan_to_num(rows["test_sem"].to_numpy(dtype="float64")), capsize=2,
                       color=LOCATOR_COLORS[loc], label=LOCATOR_LABELS[loc], error_kw={"elinewidth": 0.8})
            best = sel[sel["locator"] == "test_best"].set_index("dataset").reindex(datasets)
            ax.scatter(x, best["test_mean"].to_numpy(dtype="float64"), marker="_", s=300, color="black",
                       linewidths=1.5, zorder=5, label=LOCATOR_LABELS["test_best"])
            if len(paired):
                sig = paired[(paired["model"] == model) & (paired["metric"] == metric)].set_index("dataset")
                for xi, dataset in zip(x, datasets):
                    if dataset in sig.index and sig.loc[dataset, "p_value"] < 0.05:
                        ax.text(xi, 1.04, "*", ha="center", va="bottom", fontsize=12)
            ax.set_ylim(0, 1.15)
            ax.set_yticks(np.linspace(0, 1, 6))
            ax.set_xlim(-0.6, len(datasets) - 0.4)
            ax.grid(axis="x", visible=False)
            if r == 0:
                ax.set_title(model)
            if c == 0:
                ax.set_ylabel(metric_label(metric))
            ax.set_xticks(x, [dataset_label(d) for d in datasets], rotation=30, ha="right")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], marker="$*$", color="black", linestyle="", markersize=8))
    labels.append("Wilcoxon p < 0.05")
    fig.legend(handles, labels, loc="upper center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(f"LGA vs CMA on test queries ({editor})", y=1.04)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig
