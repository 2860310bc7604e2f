"""Table writers: one DataFrame as CSV, Markdown, LaTeX and Parquet, each written atomically.

Markdown and LaTeX are rendered here (no tabulate/jinja2 dependency): floats with a fixed number of
digits, missing values as an em dash, integers (also nullable ones) without decimals.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..io import atomic_path, write_parquet, write_text

MISSING = "—"


def _cell(value, digits: int) -> str:
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return MISSING
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}f}"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    text = str(value)
    return text if text not in ("", "nan", "<NA>", "None") else MISSING


def to_markdown(frame: pd.DataFrame, digits: int = 3, title: str | None = None, note: str | None = None) -> str:
    lines = []
    if title:
        lines += [f"### {title}", ""]
    if frame.empty:
        lines.append("_No rows: the inputs this table needs are not part of this run._")
    else:
        header = [str(c) for c in frame.columns]
        numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
        for row in frame.itertuples(index=False):
            cells = [_cell(v, digits).replace("|", "\\|") for v in row]
            lines.append("| " + " | ".join(cells) + " |")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"),
                 ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("—", "--")):
        text = text.replace(a, b) if a != "\\" else text.replace(a, b)
    return text


def to_latex(frame: pd.DataFrame, digits: int = 3, caption: str | None = None) -> str:
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in frame.columns)
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(_latex_escape(str(c)) for c in frame.columns) + r" \\", r"\midrule"]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(_cell(v, digits)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, path_stem: str | os.PathLike, formats: Iterable[str] = ("csv", "md"),
                title: str | None = None, note: str | None = None, digits: int = 3,
                metadata: dict | None = None) -> list[Path]:
    """Write ``frame`` to ``<stem>.<fmt>`` for each format in csv, md, tex, parquet; return the paths."""
    stem = Path(path_stem)
    written = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        if fmt == "csv":
            with atomic_path(path) as tmp:
                frame.to_csv(tmp, index=False, float_format="%.6g")
        elif fmt == "md":
            write_text(path, to_markdown(frame, digits=digits, title=title, note=note))
        elif fmt == "tex":
            write_text(path, to_latex(frame, digits=digits, caption=title))
        elif fmt == "parquet":
            write_parquet(path, frame, metadata=metadata)
        else:
            raise ValueError(f"unknown table format {fmt!r}")
        written.append(path)
    return written
