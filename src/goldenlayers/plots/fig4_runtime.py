"""Fig. 4: runtime of golden-layer search per case processed (LGA, CMA, brute force with the reference editor).

One group of bars per dataset (no lines: datasets are not a series): seconds per case, on a log scale, for
LGA and CMA (each case's own time), BF over the layer grid and BF extrapolated to every layer of the model
(hatched). The mean query length is under each dataset's name; n (cases timed) sits on each bar. A search
without a time there is marked with its reason (e.g. "CMA processed no case"), never drawn as fast.
The BF grid's size is in the legend when every dataset shares one grid; when datasets have their own grids
(``datasets.<name>.layers``) it is beside each dataset's name ("WikiBio (10-layer grid)") and the legend is generic.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._style import LOCATOR_COLORS, dataset_label, empty_figure, n_text, order_datasets, setup

INPUTS = ("runtime",)
SCOPE = "model"
STEM = "fig4_runtime"


def grid_sizes(sel: pd.DataFrame) -> dict[str, int]:
    """dataset -> number of layers in its BF grid, for the datasets BF ran on (a size of 0 or missing: no BF)."""
    sizes = pd.to_numeric(sel.set_index("dataset")["n_grid_layers"], errors="coerce")
    return {d: int(n) for d, n in sizes.items() if pd.notna(n) and n > 0}


def shared_grid(sizes: dict[str, int]) -> int | None:
    """The one grid size every dataset with BF shares; None when they differ (or there is none)."""
    distinct = set(sizes.values())
    return distinct.pop() if len(distinct) == 1 else None


def _series(sel: pd.DataFrame, n_grid: int | None):
    """(column, n column, reason column, legend label, colour, hatch) per bar series; ``n_grid`` is the shared
    grid size (None: each dataset's size is in its tick label)."""
    editor = sel["bf_editor"].dropna().iloc[0] if sel["bf_editor"].notna().any() else "?"
    grid_label = f"{n_grid}-layer grid" if n_grid else "each dataset's layer grid"
    layers = sel["num_layers"].dropna()
    all_label = f"BF ({editor}), all {int(layers.max())} layers (extrapolated)" if len(layers) else "BF, all layers"
    return [
        ("lga_seconds_per_case", "lga_n_processed", "lga_missing", "LGA", LOCATOR_COLORS["lga"], None),
        ("cma_seconds_per_case", "cma_n_processed", "cma_missing", "CMA", LOCATOR_COLORS["cma"], None),
        ("bf_seconds_per_case", "n_bf_cases", None, f"BF ({editor}), {grid_label}", LOCATOR_COLORS["bf"], None),
        ("bf_seconds_per_case_all_layers", "n_bf_cases", None, all_label, LOCATOR_COLORS["bf"], "///"),
    ]


def tick_labels(datasets: list[str], tokens, sizes: dict[str, int], n_grid: int | None) -> list[str]:
    """Each dataset's name, with its grid size when the datasets' grids differ, over its mean query length."""
    labels = []
    for dataset, t in zip(datasets, tokens):
        name = dataset_label(dataset)
        if n_grid is None and dataset in sizes:
            name = f"{name} ({sizes[dataset]}-layer grid)"
        labels.append(f"{name}\n({t:.0f} query tokens)" if np.isfinite(t) else name)
    return labels


def draw(tables, model: str):
    setup()
    runtime = tables["runtime"]
    sel = runtime[runtime["model"] == model].copy()
    if sel.empty:
        return empty_figure(f"No runtime measurements for {model}.")
    datasets = order_datasets(sel["dataset"])
    sel = sel.set_index("dataset").reindex(datasets)
    flat = sel.reset_index()
    sizes = grid_sizes(flat)
    n_grid = shared_grid(sizes)
    series = _series(flat, n_grid)
    values = sel[[s[0] for s in series]].to_numpy(dtype="float64")
    if not np.isfinite(values).any():
        return empty_figure(f"No runtime measurements for {model}.")
    fig, ax = plt.subplots(figsize=(1.6 * len(datasets) + 2.5, 4.0))
    x = np.arange(len(datasets))
    bar = 0.8 / len(series)
    floor = np.nanmin(values[values > 0]) / 3 if (values > 0).any() else 1e-3
    for k, (column, n_column, why, label, color, hatch) in enumerate(series):
        offset = (k - (len(series) - 1) / 2) * bar
        heights = sel[column].to_numpy(dtype="float64")
        ax.bar(x + offset, np.where(np.isfinite(heights), heights, np.nan), bar, color=color, label=label,
               hatch=hatch, edgecolor="white" if hatch is None else "black", linewidth=0.3)
        for xi, h, n, reason in zip(x + offset, heights, sel[n_column],
                                    sel[why] if why else [""] * len(datasets)):
            if np.isfinite(h):
                n_text(ax, xi, h * 1.05, n, rotation=90)
            else:
                ax.text(xi, floor * 1.1, (reason or "no data")[:40], rotation=90, ha="center", va="bottom",
                        fontsize=6, color="grey")
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor, top=float(np.nanmax(values)) * 4)  # room for the n labels
    tokens = sel["mean_query_tokens"].to_numpy(dtype="float64")
    ax.set_xticks(x, tick_labels(datasets, tokens, sizes, n_grid), fontsize=8)
    ax.set_ylabel("seconds per case (log)")
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False, fontsize=8)
    ax.set_title(f"Runtime of golden-layer search per case: {model}\n(LGA and CMA: own time of each processed case; "
                 "BF: edits of a proxy case at every grid layer)", fontsize=9)
    fig.tight_layout()
    return fig
