"""Shared look of every figure, and saving a figure as PDF and PNG atomically."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
logging.getLogger("fontTools").setLevel(logging.WARNING)  # font subsetting chatter when saving PDFs

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from ..io import atomic_path  # noqa: E402

METRIC_LABELS = {
    "rewrite_acc": "Rewrite Acc",
    "rephrase_acc": "Rephrase Acc",
    "locality": "Locality",
    "portability": "Portability",
    "overall": "Overall (mean)",
}
DATASET_LABELS = {
    "counterfact": "CounterFact",
    "zsre": "ZsRE",
    "wikibio": "WikiBio",
    "wiki_counterfact": "WikiCounterfact",
    "wiki_recent": "WikiRecent",
}
DATASET_ORDER = list(DATASET_LABELS)
LOCATOR_LABELS = {"bf": "BF (proxy)", "lga": "LGA", "cma": "CMA", "test_best": "Best layer on test"}
_palette = sns.color_palette("colorblind")
LOCATOR_COLORS = {"bf": _palette[7], "lga": _palette[0], "cma": _palette[1], "test_best": _palette[2]}
SPLIT_COLORS = {"proxy": _palette[0], "test": _palette[2]}


def setup() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "pdf.fonttype": 42, "axes.titleweight": "bold",
                         "svg.hashsalt": "goldenlayers", "axes.spines.top": False, "axes.spines.right": False})


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def dataset_label(dataset: str) -> str:
    return DATASET_LABELS.get(dataset, dataset)


def order_datasets(datasets) -> list[str]:
    datasets = list(dict.fromkeys(datasets))
    known = [d for d in DATASET_ORDER if d in datasets]
    return known + sorted(d for d in datasets if d not in known)


def order_metrics(metrics) -> list[str]:
    metrics = set(metrics)
    return [m for m in METRIC_LABELS if m in metrics] + sorted(metrics - set(METRIC_LABELS))


MAX_TIES_LISTED = 4
"""A tie of more layers is labelled by its count and its lowest and highest layer ("17 tied" over "L0 to L20"): a
long list overruns its bar."""


def ties_label(ties) -> str:
    """"L8" for one layer, "L8|18" for a tie (scored as the mean over the tied layers), up to
    :data:`MAX_TIES_LISTED` layers listed; a larger tie is "17 tied\\nL0 to L20": its count over its lowest and
    highest layer (two short lines that fit a bar), not a range of consecutive layers (the tied layers may skip
    some; the tables list them all). "" for none."""
    from ..analysis.ties import parse_ties

    layers = parse_ties(ties) if not isinstance(ties, (list, tuple)) else list(ties)
    if len(layers) > MAX_TIES_LISTED:
        return f"{len(layers)} tied\nL{min(layers)} to L{max(layers)}"
    return "L" + "|".join(str(layer) for layer in layers) if layers else ""


# a bar at least this tall holds its layer name at its foot (layer_text); a shorter one has it above its interval
LABEL_INSIDE_MIN = 0.14


def layer_text(ax, x, mean, err, ties) -> None:
    """Name the layer(s) a bar was scored at (:func:`ties_label`): in white at the foot of a bar tall enough to hold
    it, vertical unless it is one short layer name (a list or a collapsed tie is wider than a bar); else above the
    bar's interval."""
    text = ties_label(ties if isinstance(ties, str) else "")
    if not text:
        return
    if mean >= LABEL_INSIDE_MIN:
        ax.text(x, 0.02, text, ha="center", va="bottom", fontsize=6, color="white", fontweight="bold",
                rotation=0 if text.startswith("L") and "|" not in text else 90)
    else:
        ax.text(x, mean + err + 0.06, text, ha="center", va="bottom", fontsize=6)


def n_text(ax, x, y, n, **kwargs) -> None:
    """Write ``n=<n>`` at (x, y) (data coordinates), small and grey: every interval shows its n."""
    import pandas as pd

    if n is None or pd.isna(n):
        return
    value = int(n)
    ax.text(x, y, f"n={value}", ha="center", va="bottom", fontsize=6, color="dimgrey", **kwargs)


def no_data(ax, x, y: float = 0.02, reason: str = "no data") -> None:
    """Mark where a bar or point is absent, so an empty slot is never read as 0."""
    ax.text(x, y, reason, ha="center", va="bottom", fontsize=6, color="grey", rotation=90)


def empty_figure(message: str, title: str | None = None):
    """A small figure that says why there is nothing to draw (a locator not run, a model without data)."""
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=11)
    if title:
        ax.set_title(title)
    return fig


def save_figure(fig, stem: str | os.PathLike, dpi: int | None = None) -> list[Path]:
    """Write ``<stem>.pdf`` and ``<stem>.png`` (each via a temporary file and rename); close the figure."""
    stem = Path(stem)
    paths = []
    metadata = {"pdf": {"CreationDate": None, "Creator": "goldenlayers"}, "png": {"Software": "goldenlayers"}}
    for fmt in ("pdf", "png"):
        path = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight", metadata=metadata[fmt], **({"dpi": dpi} if dpi else {}))
        paths.append(path)
    plt.close(fig)
    return paths
