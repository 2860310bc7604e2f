"""Regret of each locator: sample-wise optimum minus the test score at the locator's layer.

Per (model, editor): one panel per metric, datasets on the x axis, a point per locator (BF on proxy, LGA,
CMA, each at its own choice, and the best evaluated fixed layer on test as the floor) with its 95% bootstrap
interval over test cases and n (test cases) beside it; "no data" marks a locator without an estimate.
Lower is better; 0 means the one layer is as good as editing every case at its own best layer.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._style import (LOCATOR_COLORS, LOCATOR_LABELS, dataset_label, empty_figure, metric_label, n_text, no_data,
                     order_datasets, order_metrics, setup)

INPUTS = ("regret",)
SCOPE = "model_editor"
STEM = "regret"
MARKERS = {"bf": "s", "lga": "o", "cma": "^", "test_best": "D"}


def draw(tables, model: str, editor: str):
    setup()
    regret = tables["regret"]
    sel = regret[(regret["model"] == model) & (regret["editor"] == editor)]
    if sel.empty or sel["regret"].isna().all():
        return empty_figure(f"No regret estimates for {model} / {editor}.")
    metrics = order_metrics(sel["metric"].unique())
    datasets = order_datasets(sel["dataset"].unique())
    locators = [loc for loc in ("bf", "lga", "cma", "test_best") if (sel["locator"] == loc).any()]
    ncols = min(3, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    width = max(3.2, 0.8 * len(datasets) + 1.4)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 3.2 * nrows), squeeze=False, sharey=True)
    x = np.arange(len(datasets))
    step = 0.7 / max(1, len(locators))
    top = float(np.nanmax(sel["regret_high"].to_numpy(dtype="float64")))
    sel = sel[sel["locator"].isin(locators)]
    for ax, metric in zip(axes.flat, metrics):
        for k, loc in enumerate(locators):
            rows = sel[(sel["metric"] == metric) & (sel["locator"] == loc)].set_index("dataset").reindex(datasets)
            est = rows["regret"].to_numpy(dtype="float64")
            lo = np.clip(est - rows["regret_low"].to_numpy(dtype="float64"), 0, None)
            hi = np.clip(rows["regret_high"].to_numpy(dtype="float64") - est, 0, None)
            offset = (k - (len(locators) - 1) / 2) * step
            ax.errorbar(x + offset, est, yerr=np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)]), fmt=MARKERS[loc],
                        color=LOCATOR_COLORS[loc], label=LOCATOR_LABELS[loc], capsize=2, markersize=5,
                        elinewidth=1, linestyle="none")
            for xi, e, h, n, present in zip(x + offset, est, rows["regret_high"].to_numpy(dtype="float64"),
                                            rows["n"], rows["locator"].notna()):
                if present and np.isfinite(e):
                    n_text(ax, xi + step * 0.35, (h if np.isfinite(h) else e), n, rotation=90)
                elif present or loc in ("bf", "test_best"):
                    no_data(ax, xi, 0.0)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(metric_label(metric))
        ax.set_xticks(x, [dataset_label(d) for d in datasets], rotation=30, ha="right")
        ax.set_xlim(-0.6, len(datasets) - 0.4)
        ax.set_ylim(-0.02, max(0.05, top * 1.1))
        ax.grid(axis="x", visible=False)
    for ax in axes[:, 0]:
        ax.set_ylabel("regret (optimum - achieved)")
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(f"Regret of layer locators on test (95% bootstrap CI): {model}, {editor}", y=1.05)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig
