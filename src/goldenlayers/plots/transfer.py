"""Cross-dataset transfer matrix: the brute-force golden layer of dataset A's proxy split (rows), scored on
dataset B's test split (columns). Cell colour and first line: mean test score; second line: the layer
("L8|18" for a tie, scored as the mean over the tied layers); third line: n test cases. "no data" marks a
cell without a score.
Compare a cell with the diagonal cell of its column (B's own proxy golden layer)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from ._style import dataset_label, empty_figure, metric_label, order_datasets, order_metrics, setup, ties_label

INPUTS = ("transfer",)
SCOPE = "model_editor"
STEM = "transfer"


def draw(tables, model: str, editor: str, locator: str = "bf"):
    setup()
    transfer = tables["transfer"]
    sel = transfer[(transfer["model"] == model) & (transfer["editor"] == editor) & (transfer["locator"] == locator)]
    if sel.empty:
        return empty_figure(f"No transfer results for {model} / {editor}.")
    metrics = order_metrics(sel["metric"].unique())
    datasets = order_datasets(set(sel["source"]) | set(sel["target"]))
    labels = [dataset_label(d) for d in datasets]
    ncols = min(3, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    side = 0.75 * len(datasets) + 2.2
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, (side - 0.4) * nrows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        rows = sel[sel["metric"] == metric]
        score = rows.pivot_table(index="source", columns="target", values="test_score", aggfunc="mean")
        score = score.reindex(index=datasets, columns=datasets)
        layer = rows.set_index(["source", "target"])["source_ties"]
        count = rows.set_index(["source", "target"])["n"]
        text = np.full(score.shape, "", dtype=object)
        for i in range(score.shape[0]):
            for j in range(score.shape[1]):
                value = score.iat[i, j]
                key = (datasets[i], datasets[j])
                if np.isfinite(value):
                    text[i, j] = f"{value:.2f}\n{ties_label(layer.get(key, ''))}\nn={int(count.get(key, 0))}"
                else:
                    ax.text(j + 0.5, i + 0.5, "no data", ha="center", va="center", fontsize=6, color="grey")
        sns.heatmap(score, ax=ax, vmin=0, vmax=1, cmap="viridis", annot=text, fmt="", cbar=True,
                    annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white", mask=score.isna(),
                    cbar_kws={"label": "test score", "shrink": 0.8}, square=True)
        for k in range(len(datasets)):
            ax.add_patch(plt.Rectangle((k, k), 1, 1, fill=False, edgecolor="white", linewidth=1.8))
        ax.set_title(metric_label(metric))
        ax.set_xticklabels(labels, rotation=35, ha="right")
        ax.set_yticklabels(labels, rotation=0)
        ax.set_xlabel("scored on (test split)")
        ax.set_ylabel("golden layer from (proxy split)")
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    fig.suptitle(f"Cross-dataset transfer of golden layers: {model}, {editor}")
    fig.tight_layout()
    return fig
