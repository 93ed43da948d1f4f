from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabular_helpers import plot_distributions, plot_missingness, save_figure

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    values = rng.normal(size=200)
    values[:20] = np.nan
    return pd.DataFrame(
        {
            "a": values,
            "b": rng.integers(0, 10, size=200),
            "c": rng.uniform(size=200),
            "d": rng.exponential(size=200),
            "label": ["x", "y"] * 100,
        }
    )


def test_missingness_png(tmp_path: Path, df: pd.DataFrame) -> None:
    from matplotlib.patches import Rectangle

    fig = plot_missingness(df)
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches if isinstance(patch, Rectangle)]
    assert heights == pytest.approx([0.1, 0.0, 0.0, 0.0, 0.0])
    path = save_figure(fig, tmp_path / "out" / "missing.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_distributions_png(tmp_path: Path, df: pd.DataFrame) -> None:
    fig = plot_distributions(df, bins=10)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["a", "b", "c", "d"]
    assert len(fig.axes) == 6  # 2x3 grid, two hidden
    path = save_figure(fig, tmp_path / "dist.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_distributions_column_selection(df: pd.DataFrame) -> None:
    fig = plot_distributions(df, columns=["c"])
    assert [ax.get_title() for ax in fig.axes] == ["c"]
    with pytest.raises(ValueError, match="not numeric"):
        plot_distributions(df, columns=["label"])
    with pytest.raises(ValueError, match="not found"):
        plot_distributions(df, columns=["zzz"])
    with pytest.raises(ValueError, match="no numeric columns"):
        plot_distributions(df[["label"]])
    with pytest.raises(ValueError, match="bins"):
        plot_distributions(df, bins=0)


def test_edge_cases_do_not_crash(tmp_path: Path) -> None:
    save_figure(plot_missingness(pd.DataFrame()), tmp_path / "empty.png")
    frame = pd.DataFrame({"x": [np.nan, np.inf], "y": [1.0, 2.0]})
    save_figure(plot_distributions(frame), tmp_path / "inf.png")


def test_no_pyplot_state(df: pd.DataFrame) -> None:
    plot_missingness(df)
    plot_distributions(df)
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or not pyplot.get_fignums()


def test_missing_matplotlib_message(monkeypatch: pytest.MonkeyPatch, df: pd.DataFrame) -> None:
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"tabular-helpers\[plots\]"):
        plot_missingness(df)
