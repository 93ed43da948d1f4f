"""Diagnostic plots for pipeline artifacts (requires the ``plots`` extra).

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas
directly instead of ``pyplot``: pipeline containers have no display, and pyplot's
global figure registry leaks memory in long-running processes. matplotlib is
imported lazily so the rest of the package works without it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_distributions", "plot_missingness", "save_figure"]

_INSTALL_HINT = (
    "matplotlib is required for tabular_helpers.plots; "
    "install it with: pip install 'tabular-helpers[plots]'"
)


def _new_figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas; no GUI backend involved
    return fig


def plot_missingness(df: pd.DataFrame) -> Figure:
    """Bar chart of the share of missing values per column (0..1)."""
    labels = [str(c) for c in df.columns]
    ratios = [float(r) for r in df.isna().mean()] if len(df) else [0.0] * len(labels)
    fig = _new_figure(max(4.0, 0.5 * len(labels) + 2.0), 4.0)
    ax = fig.add_subplot()
    if labels:
        positions = list(range(len(labels)))
        ax.bar(positions, ratios, color="tab:red")
        ax.set_xticks(positions, labels, rotation=45, ha="right")
    else:
        ax.text(0.5, 0.5, "no columns", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("missing ratio")
    ax.set_title(f"Missing values ({len(df)} rows)")
    return fig


def plot_distributions(
    df: pd.DataFrame, columns: Iterable[Hashable] | None = None, bins: int = 20
) -> Figure:
    """Grid of histograms, one per numeric column (missing/infinite values are skipped)."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    types = pd.api.types

    def numeric(column: Hashable) -> bool:
        dtype = df[column].dtype
        return bool(types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype))

    if columns is None:
        selected = [c for c in df.columns if numeric(c)]
        if not selected:
            raise ValueError("DataFrame has no numeric columns to plot")
    else:
        if isinstance(columns, str):
            raise TypeError("columns must be an iterable of column names, not a string")
        selected = list(columns)
        unknown = [c for c in selected if c not in df.columns]
        if unknown:
            raise ValueError(f"columns not found in DataFrame: {unknown}")
        bad = [c for c in selected if not numeric(c)]
        if bad:
            raise ValueError(f"columns are not numeric and cannot be plotted: {bad}")
        if not selected:
            raise ValueError("columns is empty")

    ncols = min(3, len(selected))
    nrows = math.ceil(len(selected) / ncols)
    fig = _new_figure(4.0 * ncols, 3.0 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, column in enumerate(selected):
        ax = axes[i // ncols][i % ncols]
        values = df[column].dropna().to_numpy(dtype="float64")
        values = values[np.isfinite(values)]  # hist cannot bin infinities
        if values.size:
            ax.hist(values, bins=bins, color="tab:blue")
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(str(column))
    for j in range(len(selected), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG to ``path`` (parent directories are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", dpi=dpi)
    return target
