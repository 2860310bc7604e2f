"""Fig. 1 / Fig. 5: golden layers chosen on the proxy split vs on the test split, scored on test queries.

One panel per metric; per dataset two bars: the test score at the proxy golden layer and at the test-best
layer (mean over test cases, SEM error bars), the chosen layer written in each bar ("L8|18" for a tie,
scored as the mean over the tied layers: the one tie rule), n (test cases) above it, and a black tick at the
sample-wise optimum (every case edited at its own best grid layer). "no data" marks a missing bar.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._style import (SPLIT_COLORS, dataset_label, empty_figure, layer_text, metric_label, n_text, no_data,
                     order_datasets, order_metrics, setup)

INPUTS = ("golden_layers",)
SCOPE = "model_editor"
STEM = "fig1_golden"


def draw(tables, model: str, editor: str):
    setup()
    golden = tables["golden_layers"]
    sel = golden[(golden["model"] == model) & (golden["editor"] == editor)]
    if sel.empty:
        return empty_figure(f"No golden-layer results for {model} / {editor}.")
    metrics = order_metrics(sel["metric"].unique())
    datasets = order_datasets(sel["dataset"].unique())
    ncols = min(3, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    width = max(3.2, 0.9 * len(datasets) + 1.2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 3.4 * nrows), squeeze=False, sharey=True)
    x = np.arange(len(datasets))
    bar = 0.38
    for ax, metric in zip(axes.flat, metrics):
        rows = sel[sel["metric"] == metric].set_index("dataset").reindex(datasets)
        series = (
            ("proxy", "golden layer from proxy", rows["test_score_at_proxy_golden"], rows["test_sem_at_proxy_golden"],
             rows["proxy_ties"], rows["n_at_proxy_golden"], -bar / 2),
            ("test", "best fixed layer on test", rows["test_best_score"], rows["test_best_sem"],
             rows["test_best_ties"], rows["n_at_test_best"], bar / 2),
        )
        for split, label, mean, err, ties, counts, offset in series:
            mean_v = mean.to_numpy(dtype="float64")
            err_v = np.nan_to_num(err.to_numpy(dtype="float64"))
            ax.bar(x + offset, np.nan_to_num(mean_v), bar, yerr=err_v, color=SPLIT_COLORS[split], label=label,
                   capsize=2, error_kw={"elinewidth": 0.8})
            for xi, m, e, tie, n in zip(x + offset, mean_v, err_v, ties, counts):
                if not np.isfinite(m):
                    no_data(ax, xi)
                    continue
                layer_text(ax, xi, m, e, tie)  # inside the bar's foot, clear of the optimum tick
                n_text(ax, xi, m + e + 0.01, n)
        optimum = rows["sample_wise_optimum"].to_numpy(dtype="float64")
        ax.scatter(x, optimum, marker="_", s=500, color="black", linewidths=1.5, zorder=5,
                   label="sample-wise optimum")
        ax.set_title(metric_label(metric))
        ax.set_xticks(x, [dataset_label(d) for d in datasets], rotation=30, ha="right")
        ax.set_ylim(0, 1.15)
        ax.set_xlim(-0.6, len(datasets) - 0.4)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.grid(axis="x", visible=False)
    for ax in axes[:, 0]:
        ax.set_ylabel("test score")
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(f"Golden layers on test queries: {model}, {editor}", y=1.06)
    fig.tight_layout()
    return fig
