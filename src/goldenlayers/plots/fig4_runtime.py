"""Fig. 4: runtime of golden-layer search (LGA, CMA, brute force with the reference editor), per model.

Left: seconds against the mean query length in tokens, one point per dataset. Right: seconds against the
proxy size: the measured jobs as points, and lines for the measured cost per proxy case times the proxy
size (all three searches do one unit of work per proxy case; BF additionally per layer). BF on a layer grid
sparser than the model is drawn both as measured (grid) and extrapolated to all layers (dashed).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from ._style import LOCATOR_COLORS, dataset_label, empty_figure, setup

INPUTS = ("runtime",)
SCOPE = "model"
STEM = "fig4_runtime"


def _series(sel):
    n_grid = sel["n_grid_layers"].max() if len(sel) else 0
    num_layers = sel["num_layers"].dropna().max() if sel["num_layers"].notna().any() else None
    series = [("lga_seconds", "LGA", LOCATOR_COLORS["lga"], "-"), ("cma_seconds", "CMA", LOCATOR_COLORS["cma"], "-")]
    editor = sel["bf_editor"].dropna().iloc[0] if sel["bf_editor"].notna().any() else "?"
    if num_layers is not None and n_grid and n_grid < num_layers:
        series += [("bf_seconds", f"BF, {editor}, {n_grid}-layer grid", LOCATOR_COLORS["bf"], "-"),
                   ("bf_seconds_all_layers", f"BF, {editor}, all {int(num_layers)} layers (extrapolated)",
                    "black", "--")]
    else:
        series += [("bf_seconds", f"BF, {editor}", LOCATOR_COLORS["bf"], "-")]
    return [s for s in series if sel[s[0]].notna().any()]


def draw(tables, model: str):
    setup()
    runtime = tables["runtime"]
    sel = runtime[runtime["model"] == model].copy()
    if sel.empty:
        return empty_figure(f"No runtime measurements for {model}.")
    series = _series(sel)
    if not series:
        return empty_figure(f"No runtime measurements for {model}.")
    fig, (ax_tok, ax_size) = plt.subplots(1, 2, figsize=(10.5, 3.8))
    by_tokens = sel.sort_values("mean_query_tokens")
    for column, label, color, style in series:
        ax_tok.plot(by_tokens["mean_query_tokens"], by_tokens[column], marker="o", linestyle=style, color=color,
                    label=label)
    if by_tokens["mean_query_tokens"].notna().any():
        top = by_tokens[[s[0] for s in series]].max(axis=1)
        labels = by_tokens.assign(_top=top).dropna(subset=["mean_query_tokens"]).groupby("mean_query_tokens")
        for tokens, group in labels:  # datasets with the same query length share one stacked label
            ax_tok.annotate("\n".join(dataset_label(d) for d in group["dataset"]), (tokens, group["_top"].max()),
                            textcoords="offset points", xytext=(0, 6), ha="center", va="bottom", fontsize=7)
        ax_tok.margins(x=0.12, y=0.25)
    else:
        ax_tok.text(0.5, 0.5, "mean query length not recorded\n(no LGA/CMA output)", transform=ax_tok.transAxes,
                    ha="center", va="center", fontsize=9, color="grey")
        ax_tok.set_xticks([])
        ax_tok.set_yticks([])
    ax_tok.set_xlabel("mean query length (tokens)")
    ax_tok.set_ylabel("seconds")
    values = sel[[s[0] for s in series]].to_numpy(dtype="float64")
    values = values[np.isfinite(values) & (values > 0)]
    log_scale = values.size > 0 and values.max() / values.min() > 20  # log only when the methods differ a lot
    if log_scale and by_tokens["mean_query_tokens"].notna().any():
        ax_tok.set_yscale("log")
    elif by_tokens["mean_query_tokens"].notna().any():
        ax_tok.set_ylim(bottom=0)
    ax_tok.set_title("vs query length")

    n_max = int(sel["n_proxy"].max()) if sel["n_proxy"].notna().any() else 1
    sizes = np.linspace(1, max(n_max, 2) * 1.5, 50)
    for column, label, color, style in series:
        valid = sel[sel[column].notna() & sel["n_proxy"].notna() & (sel["n_proxy"] > 0)]
        per_case = float((valid[column] / valid["n_proxy"].astype(float)).mean()) if len(valid) else np.nan
        ax_size.scatter(valid["n_proxy"].astype(float), valid[column], color=color, s=18, zorder=3)
        if np.isfinite(per_case):
            ax_size.plot(sizes, per_case * sizes, linestyle=style, color=color, label=label, linewidth=1.2)
    ax_size.set_xlabel("proxy size (cases)")
    ax_size.set_ylabel("seconds")
    if log_scale:
        ax_size.set_yscale("log")
    else:
        ax_size.set_ylim(bottom=0)
    ax_size.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_size.set_title("vs proxy size (points: measured; lines: per-case cost x size)", fontsize=9)
    for ax in (ax_tok, ax_size) if log_scale else ():
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    handles, labels = ax_tok.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(4, len(handles)), frameon=False,
               bbox_to_anchor=(0.5, 1.0), fontsize=8)
    fig.suptitle(f"Runtime of golden-layer search: {model}", y=1.07)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig
