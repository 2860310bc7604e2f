"""Fig. 2: per model, layers x datasets heatmap of |test score(layer) - test score(best fixed layer on test)|.

Cells: absolute deviation of a layer's mean test Rewrite Accuracy (by default) from the best fixed layer's on
test (not the sample-wise optimum). White stars mark the best fixed layers on test; a solid black outline
marks the golden layer chosen on the proxy split, dashed outlines the layers of a proxy tie (scored as the
mean over the tied layers: the one tie rule of goldenlayers.analysis.ties). Grey cells: no data; an
editor without any test score gets a figure saying so, not an all-grey heatmap.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.patches import Rectangle

from ..analysis.golden import parse_ties
from ._style import dataset_label, empty_figure, metric_label, order_datasets, setup

INPUTS = ("layer_scores", "golden_layers")
SCOPE = "model_editor"
STEM = "fig2_deviation"


def deviation_matrix(layer_scores, model: str, editor: str, metric: str = "rewrite_acc"):
    """(layers x datasets) absolute deviation from each dataset's best layer on test."""
    sel = layer_scores[(layer_scores["model"] == model) & (layer_scores["editor"] == editor)
                       & (layer_scores["split"] == "test") & (layer_scores["metric"] == metric)]
    if sel.empty:
        return None
    table = sel.pivot_table(index="layer", columns="dataset", values="mean", aggfunc="mean")
    # a layer whose every edit failed (a row with a missing mean, which the pivot drops) is put back as a grey row
    table = table.reindex(index=sorted(sel["layer"].unique()), columns=order_datasets(sel["dataset"].unique()))
    return (table.max(axis=0) - table).abs()


def draw(tables, model: str, editor: str, metric: str = "rewrite_acc"):
    setup()
    dev = deviation_matrix(tables["layer_scores"], model, editor, metric)
    if dev is None or dev.empty:
        return empty_figure(f"No test scores for {model} / {editor} ({metric_label(metric)}).")
    if dev.isna().to_numpy().all():  # e.g. every edit of the editor failed: no colour scale to draw
        return empty_figure(f"No test scores for {model} / {editor} ({metric_label(metric)}): "
                            "every edit failed or was not scored.")
    golden = tables["golden_layers"]
    golden = golden[(golden["model"] == model) & (golden["editor"] == editor) & (golden["metric"] == metric)]
    layers, datasets = list(dev.index), list(dev.columns)
    annotate = len(layers) <= 16
    fig, ax = plt.subplots(figsize=(1.25 * len(datasets) + 2.6, 0.32 * len(layers) + 1.8))
    sns.heatmap(dev, ax=ax, cmap="mako_r", vmin=0, annot=annotate, fmt=".2f", annot_kws={"fontsize": 7},
                cbar_kws={"label": f"|{metric_label(metric)} - best layer's| (test)"}, linewidths=0.5,
                linecolor="white", mask=dev.isna())
    for j, dataset in enumerate(datasets):
        column = dev[dataset]
        for i, layer in enumerate(layers):
            if np.isfinite(column.iloc[i]) and column.iloc[i] <= 1e-12:
                ax.plot(j + (0.16 if annotate else 0.5), i + 0.5, marker="*", color="white", markersize=9,
                        markeredgecolor="black", markeredgewidth=0.5)
        row = golden[golden["dataset"] == dataset]
        if len(row):
            ties = parse_ties(row["proxy_ties"].iloc[0])
            for layer in ties:
                if layer in layers:
                    i = layers.index(layer)
                    ax.add_patch(Rectangle((j + 0.04, i + 0.04), 0.92, 0.92, fill=False, edgecolor="black",
                                           linewidth=2.0, linestyle="-" if len(ties) == 1 else "--"))
    ax.set_xticklabels([dataset_label(d) for d in datasets], rotation=30, ha="right")
    ax.set_yticklabels([str(layer) for layer in layers], rotation=0)
    ax.set_xlabel("")
    ax.set_ylabel("edited layer")
    handles = [
        plt.Line2D([], [], marker="*", color="white", markeredgecolor="black", markersize=10, linestyle="",
                   label="best fixed layer on test"),
        Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=2.0, label="golden layer from proxy"),
        Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=2.0, linestyle="--",
                  label="proxy tie (scored as the mean)"),
    ]
    if dev.isna().to_numpy().any():
        handles.append(Rectangle((0, 0), 1, 1, facecolor="lightgrey", edgecolor="none",
                                 label="no data (not edited, or every edit failed)"))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(3, len(handles)),
              frameon=False, fontsize=8)
    ax.set_facecolor("lightgrey")
    fig.suptitle(f"{model}, {editor}: distance from the best fixed layer on test", fontsize=10, fontweight="bold")
    fig.tight_layout()
    return fig
