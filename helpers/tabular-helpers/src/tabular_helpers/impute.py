"""Column imputation for pandas DataFrames.

Pipeline steps fit an imputer on training data, persist it as plain JSON next to
the model, and re-apply exactly the same fill values at serving/evaluation time.
The JSON format is deliberately small and versioned so that it can be read by
other tools and survives library upgrades.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast, get_args

import numpy as np
import pandas as pd

__all__ = [
    "FORMAT",
    "ColumnFill",
    "FillValue",
    "FittedImputer",
    "Imputer",
    "ImputerFormatError",
    "Strategy",
    "impute",
]

Strategy: TypeAlias = Literal["mean", "median", "most_frequent", "constant"]
"""Supported imputation strategies."""

FillValue: TypeAlias = "bool | int | float | str | pd.Timestamp"
"""Values an imputer can store; restricted so that JSON round-trips are exact."""

FORMAT = "tabular-helpers.imputer.v1"
"""Value of the ``"format"`` key in serialised imputers; bump on incompatible change."""


class ImputerFormatError(ValueError):
    """Serialised imputer data is malformed or of an unsupported format."""


_STRATEGIES: tuple[str, ...] = get_args(Strategy)
_NUMERIC_ONLY = frozenset({"mean", "median"})


def _validate_strategy(strategy: str, column: Hashable | None = None) -> Strategy:
    if strategy not in _STRATEGIES:
        where = f" for column {column!r}" if column is not None else ""
        raise ValueError(
            f"unknown imputation strategy {strategy!r}{where}; "
            f"expected one of: {', '.join(sorted(_STRATEGIES))}"
        )
    return cast(Strategy, strategy)


def _plain_value(value: Any, column: Hashable) -> FillValue:
    """Convert numpy/pandas scalars to plain Python values that JSON can represent."""
    if isinstance(value, (np.datetime64, datetime)) and not isinstance(value, pd.Timestamp):
        value = pd.Timestamp(value)
    elif isinstance(value, (np.bool_, np.integer, np.floating, np.str_)):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"fill value for column {column!r} is not finite: {value!r}")
        return value
    if isinstance(value, (bool, int, str, pd.Timestamp)):
        return cast(FillValue, value)
    raise ValueError(
        f"fill value {value!r} for column {column!r} has unsupported type "
        f"{type(value).__name__}; supported: bool, int, float, str, pandas.Timestamp"
    )


def _encode_value(value: FillValue) -> Any:
    if isinstance(value, pd.Timestamp):
        return {"timestamp": value.isoformat()}
    return value


def _decode_value(raw: Any, column: Hashable) -> FillValue:
    if isinstance(raw, dict):
        if set(raw) != {"timestamp"} or not isinstance(raw["timestamp"], str):
            raise ImputerFormatError(f"invalid encoded fill value for column {column!r}: {raw!r}")
        return cast(FillValue, pd.Timestamp(raw["timestamp"]))
    if isinstance(raw, (bool, int, float, str)):
        return _plain_value(raw, column)
    raise ImputerFormatError(f"invalid fill value for column {column!r}: {raw!r}")


def _is_numeric(series: pd.Series) -> bool:
    # Booleans are numeric to pandas, but a mean of 0.4 cannot fill a bool column.
    return bool(
        pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
    )


def _most_frequent(series: pd.Series) -> Any:
    counts = series.value_counts(dropna=True)
    top = counts[counts == counts.max()].index
    # Ties are broken by the smallest value (like scikit-learn) so results never
    # depend on row order; fall back to first occurrence for unorderable values.
    try:
        return min(top)
    except TypeError:
        return top[0]


@dataclass(frozen=True)
class ColumnFill:
    """How one column is filled: the strategy used at fit time and the learned value."""

    column: str | int
    strategy: Strategy
    fill_value: FillValue


@dataclass(frozen=True)
class FittedImputer:
    """Immutable result of :meth:`Imputer.fit`; applies the learned fill values."""

    fills: tuple[ColumnFill, ...]

    @property
    def columns(self) -> tuple[str | int, ...]:
        """Columns this imputer fills, in fit order."""
        return tuple(f.column for f in self.fills)

    @property
    def fill_values(self) -> dict[str | int, FillValue]:
        """A fresh ``{column: fill_value}`` dict (mutating it does not affect the imputer)."""
        return {f.column: f.fill_value for f in self.fills}

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Return a new DataFrame with missing values filled; ``df`` is never modified."""
        missing = [f.column for f in self.fills if f.column not in df.columns]
        if missing:
            raise ValueError(f"columns seen at fit time are missing from the DataFrame: {missing}")
        out = df.copy()
        for fill in self.fills:
            try:
                out[fill.column] = _fill_series(out[fill.column], fill.fill_value)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"cannot fill column {fill.column!r} (dtype {out[fill.column].dtype}) "
                    f"with {fill.fill_value!r}: {exc}"
                ) from exc
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable representation (see :data:`FORMAT`)."""
        return {
            "format": FORMAT,
            "columns": [
                {
                    "column": f.column,
                    "strategy": f.strategy,
                    "fill_value": _encode_value(f.fill_value),
                }
                for f in self.fills
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedImputer:
        """Inverse of :meth:`to_dict`; rejects unknown formats instead of guessing."""
        fmt = data.get("format")
        if fmt != FORMAT:
            raise ImputerFormatError(f"unsupported imputer format {fmt!r}; expected {FORMAT!r}")
        entries = data.get("columns")
        if not isinstance(entries, list):
            raise ImputerFormatError("invalid imputer data: 'columns' must be a list")
        fills = []
        for entry in entries:
            if not isinstance(entry, dict) or set(entry) != {"column", "strategy", "fill_value"}:
                raise ImputerFormatError(f"invalid imputer column entry: {entry!r}")
            column = entry["column"]
            if isinstance(column, bool) or not isinstance(column, (str, int)):
                raise ImputerFormatError(f"invalid column label in imputer data: {column!r}")
            fills.append(
                ColumnFill(
                    column=column,
                    strategy=_validate_strategy(str(entry["strategy"]), column),
                    fill_value=_decode_value(entry["fill_value"], column),
                )
            )
        return cls(tuple(fills))

    def to_json(self) -> str:
        """Serialise to a JSON string; ``FittedImputer.from_json`` restores an equal object."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> FittedImputer:
        """Parse the output of :meth:`to_json`."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ImputerFormatError("invalid imputer JSON: top level must be an object")
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write JSON to ``path`` atomically (readers never see a half-written file)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.to_json())
                fh.write("\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FittedImputer:
        """Read an imputer written by :meth:`save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _compatible(dtype: Any, value: FillValue) -> bool:
    """Whether ``value`` fits ``dtype`` without pandas silently changing the dtype."""
    types = pd.api.types
    if types.is_bool_dtype(dtype):
        return isinstance(value, bool)
    if types.is_numeric_dtype(dtype):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if types.is_datetime64_any_dtype(dtype):
        return isinstance(value, pd.Timestamp)
    if isinstance(dtype, pd.StringDtype):
        return isinstance(value, str)
    return True  # other extension dtypes (e.g. categorical) validate values themselves


def _fill_series(series: pd.Series, value: FillValue) -> pd.Series:
    mask = series.isna()
    if not mask.any():
        return series
    if series.dtype == object:
        # Masked assignment avoids pandas 2.2's deprecated silent downcasting in fillna.
        filled = series.copy()
        filled[mask] = value
        return filled
    if not _compatible(series.dtype, value):
        # pandas < 4 would silently upcast (e.g. float -> object); refuse instead so a
        # column never changes meaning behind the caller's back.
        raise TypeError(f"{type(value).__name__} value is incompatible with the column dtype")
    if (
        pd.api.types.is_integer_dtype(series.dtype)
        and isinstance(value, float)
        and not value.is_integer()
    ):
        # Nullable integer columns cannot hold e.g. a mean of 2.5 without losing it.
        series = series.astype("Float64")
    return series.fillna(value)


def _compute_fill(
    series: pd.Series, column: Hashable, strategy: Strategy, fill_value: Any
) -> FillValue:
    if strategy == "constant":
        if fill_value is None:
            raise ValueError(f"strategy 'constant' for column {column!r} requires a fill_value")
        return _plain_value(fill_value, column)
    if strategy in _NUMERIC_ONLY and not _is_numeric(series):
        raise ValueError(
            f"strategy {strategy!r} needs a numeric column, but column {column!r} has dtype "
            f"{series.dtype}; use 'most_frequent' or 'constant' for it"
        )
    non_missing = series.dropna()
    if non_missing.empty:
        raise ValueError(
            f"column {column!r} has no non-missing values to learn a {strategy!r} fill value "
            "from; use strategy 'constant' with a fill_value"
        )
    if strategy == "mean":
        return _plain_value(float(non_missing.mean()), column)
    if strategy == "median":
        return _plain_value(float(non_missing.median()), column)
    return _plain_value(_most_frequent(non_missing), column)


class Imputer:
    """Unfitted imputation settings; :meth:`fit` learns fill values from a DataFrame.

    Instances are immutable so one configured imputer can be shared safely between
    pipeline steps. Keyword arguments of :meth:`fit` take precedence over the
    constructor's, which allows ``Imputer().fit(df, strategy="median")``.
    """

    __slots__ = ("_fill_value", "_overrides", "_strategy")

    def __init__(
        self,
        strategy: Strategy = "mean",
        *,
        fill_value: FillValue | Mapping[Hashable, FillValue] | None = None,
        overrides: Mapping[Hashable, Strategy] | None = None,
    ) -> None:
        self._strategy = _validate_strategy(strategy)
        self._fill_value = dict(fill_value) if isinstance(fill_value, Mapping) else fill_value
        self._overrides = {col: _validate_strategy(s, col) for col, s in (overrides or {}).items()}

    @property
    def strategy(self) -> Strategy:
        """Default strategy for columns without an override."""
        return self._strategy

    @property
    def fill_value(self) -> FillValue | Mapping[Hashable, FillValue] | None:
        """Constant fill value, or per-column mapping of them."""
        if isinstance(self._fill_value, dict):
            return dict(self._fill_value)
        return self._fill_value

    @property
    def overrides(self) -> dict[Hashable, Strategy]:
        """Per-column strategies that replace :attr:`strategy` (a copy)."""
        return dict(self._overrides)

    def __repr__(self) -> str:
        return (
            f"Imputer(strategy={self._strategy!r}, fill_value={self._fill_value!r}, "
            f"overrides={self._overrides!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Imputer):
            return NotImplemented
        return (self._strategy, self._fill_value, self._overrides) == (
            other._strategy,
            other._fill_value,
            other._overrides,
        )

    __hash__ = None  # type: ignore[assignment]  # holds dicts, so not hashable

    def fit(
        self,
        df: pd.DataFrame,
        columns: Iterable[Hashable] | None = None,
        *,
        strategy: Strategy | None = None,
        overrides: Mapping[Hashable, Strategy] | None = None,
        fill_value: FillValue | Mapping[Hashable, FillValue] | None = None,
    ) -> FittedImputer:
        """Learn one fill value per column.

        ``columns`` defaults to every column of ``df``. ``overrides`` maps column
        names to a strategy replacing the default for that column; ``fill_value``
        is used by ``"constant"`` and may be a per-column mapping.
        """
        default = _validate_strategy(strategy) if strategy is not None else self._strategy
        per_column = dict(self._overrides)
        per_column.update({c: _validate_strategy(s, c) for c, s in (overrides or {}).items()})
        fill = fill_value if fill_value is not None else self._fill_value

        if isinstance(columns, str):
            raise TypeError("columns must be an iterable of column names, not a string")
        selected = list(df.columns) if columns is None else list(columns)
        unknown = [c for c in selected if c not in df.columns]
        if unknown:
            raise ValueError(f"columns not found in DataFrame: {unknown}")
        if len(set(selected)) != len(selected):
            raise ValueError(f"duplicate column names in columns: {selected}")
        stray = [c for c in per_column if c not in selected]
        if stray:
            raise ValueError(f"overrides refer to columns that are not being imputed: {stray}")

        fills = []
        for column in selected:
            if isinstance(column, bool) or not isinstance(column, (str, int)):
                raise TypeError(
                    f"column label {column!r} is not a str or int and cannot be serialised"
                )
            col_strategy = per_column.get(column, default)
            col_fill = fill.get(column) if isinstance(fill, Mapping) else fill
            value = _compute_fill(df[column], column, col_strategy, col_fill)
            fills.append(ColumnFill(column=column, strategy=col_strategy, fill_value=value))
        return FittedImputer(tuple(fills))

    def fit_transform(
        self, df: pd.DataFrame, columns: Iterable[Hashable] | None = None
    ) -> pd.DataFrame:
        """Fit on ``df`` and return the imputed copy."""
        return self.fit(df, columns).transform(df)


def impute(
    df: pd.DataFrame,
    strategy: Strategy = "mean",
    *,
    columns: Iterable[Hashable] | None = None,
    fill_value: FillValue | Mapping[Hashable, FillValue] | None = None,
    overrides: Mapping[Hashable, Strategy] | None = None,
) -> pd.DataFrame:
    """One-shot imputation when the fitted values need not be reused."""
    imputer = Imputer(strategy, fill_value=fill_value, overrides=overrides)
    return imputer.fit(df, columns).transform(df)
