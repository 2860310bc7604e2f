"""Proxy-size sensitivity: golden-layer agreement and test regret as the proxy set grows.

Per (model, editor), for one metric (Rewrite Acc by default): top row, the fraction of random proxy subsets
of each size whose chosen layer equals the locator's choice on the whole proxy split; bottom row, the test
regret of the chosen layer (mean over subsets, band: 2.5-97.5 percentiles over subsets). One column per
locator, one line per dataset.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from ._style import LOCATOR_LABELS, dataset_label, empty_figure, metric_label, order_datasets, setup

INPUTS = ("proxy_size",)
SCOPE = "model_editor"
STEM = "proxy_size"


def draw(tables, model: str, editor: str, metric: str = "rewrite_acc"):
    setup()
    frame = tables["proxy_size"]
    sel = frame[(frame["model"] == model) & (frame["editor"] == editor) & (frame["metric"] == metric)]
    if sel.empty:
        return empty_figure(f"No proxy-size results for {model} / {editor} ({metric_label(metric)}).")
    locators = [loc for loc in ("bf", "lga", "cma") if (sel["locator"] == loc).any()]
    datasets = order_datasets(sel["dataset"].unique())
    colors = dict(zip(datasets, sns.color_palette("tab10", len(datasets))))
    fig, axes = plt.subplots(2, len(locators), figsize=(3.6 * len(locators) + 0.8, 6.0), squeeze=False,
                             sharex=True, sharey="row")
    for c, loc in enumerate(locators):
        for dataset in datasets:
            rows = sel[(sel["locator"] == loc) & (sel["dataset"] == dataset)].sort_values("proxy_size")
            if rows.empty:
                continue
            color = colors[dataset]
            axes[0, c].plot(rows["proxy_size"], rows["agreement_full"], marker="o", markersize=3, color=color,
                            label=dataset_label(dataset))
            axes[1, c].plot(rows["proxy_size"], rows["regret"], marker="o", markersize=3, color=color)
            axes[1, c].fill_between(rows["proxy_size"], rows["regret_low"], rows["regret_high"], color=color,
                                    alpha=0.15, linewidth=0)
        axes[0, c].set_title(LOCATOR_LABELS[loc])
        axes[0, c].set_ylim(-0.05, 1.05)
        axes[1, c].axhline(0, color="black", linewidth=0.8)
        axes[1, c].set_xlabel("proxy size (cases)")
        if sel["proxy_size"].max() > 20:
            axes[1, c].set_xscale("log")
        else:
            axes[1, c].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("agreement with full-proxy layer")
    axes[1, 0].set_ylabel(f"test regret ({metric_label(metric)})")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(5, len(handles)), frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    draws = int(sel["n_draws"].max()) if sel["n_draws"].notna().any() else 0
    fig.suptitle(f"Proxy-size sensitivity: {model}, {editor}\n(n = {draws} seeded proxy subsets per size, 1 at "
                 f"the full size; bands: 2.5-97.5% over subsets)", y=1.08, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig
