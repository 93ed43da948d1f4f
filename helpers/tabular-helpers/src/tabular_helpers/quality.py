"""Data-quality checks that produce a machine-readable report.

Pipeline steps use these to gate training on data quality: the report is a plain
value object whose ``to_dict()``/``to_json()`` output can be stored as a pipeline
artifact or metadata, and whose ``passed`` flag decides whether to continue.
Problems in the *data* (a missing column, wrong dtype, out-of-range values) are
reported as failed checks; problems in the *check configuration* raise
``ValueError`` immediately.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, get_args

import numpy as np
import pandas as pd

__all__ = [
    "CheckResult",
    "ColumnKind",
    "QualityReport",
    "check_duplicates",
    "check_missing_ratio",
    "check_quality",
    "check_ranges",
    "check_schema",
]

Scalar: TypeAlias = "bool | int | float | str | None"
Value: TypeAlias = "Scalar | tuple[Scalar, ...]"
Bound: TypeAlias = "float | None"

ColumnKind: TypeAlias = Literal["numeric", "integer", "float", "string", "bool", "datetime"]
"""Dtype families understood by :func:`check_schema`."""

_KINDS: tuple[str, ...] = get_args(ColumnKind)
_MAX_LISTED = 10  # offending row labels quoted in messages


def _plain(value: Any) -> Scalar:
    """Coerce numpy/pandas scalars to JSON-safe Python values (non-finite -> None)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, pd.Timestamp):
        return str(value.isoformat())
    try:
        if bool(pd.isna(value)):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _plain_value(value: Any) -> Value:
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    return _plain(value)


def _column_name(column: Hashable | None) -> str | None:
    return None if column is None else str(column)


def _check_ratio(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check on one column (``column`` is None for table-level checks)."""

    name: str
    column: str | None
    passed: bool
    observed: Value
    threshold: Value
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict; tuples become lists."""

        def conv(v: Value) -> Any:
            return [_plain(x) for x in v] if isinstance(v, tuple) else _plain(v)

        return {
            "name": self.name,
            "column": self.column,
            "passed": bool(self.passed),
            "observed": conv(self.observed),
            "threshold": conv(self.threshold),
            "message": self.message,
        }


@dataclass(frozen=True)
class QualityReport:
    """A set of check results; ``passed`` is the single gate pipelines act on."""

    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """True when every check passed (also for an empty report)."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The failed checks, in report order."""
        return tuple(c for c in self.checks if not c.passed)

    def __add__(self, other: QualityReport) -> QualityReport:
        if not isinstance(other, QualityReport):
            return NotImplemented
        return QualityReport(self.checks + other.checks)

    def to_dict(self) -> dict[str, Any]:
        """Plain-python summary: ``passed``, counts and the list of ``checks``."""
        return {
            "passed": self.passed,
            "n_checks": len(self.checks),
            "n_failed": len(self.failures),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Strict JSON (no NaN/Infinity tokens) of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)


def _select(df: pd.DataFrame, columns: Iterable[Hashable] | None) -> list[Hashable]:
    if isinstance(columns, str):
        raise TypeError("columns must be an iterable of column names, not a string")
    return list(df.columns) if columns is None else list(columns)


def check_missing_ratio(
    df: pd.DataFrame,
    max_missing_ratio: float,
    *,
    columns: Iterable[Hashable] | None = None,
) -> tuple[CheckResult, ...]:
    """Fail columns whose share of missing values exceeds ``max_missing_ratio``."""
    threshold = _check_ratio("max_missing_ratio", max_missing_ratio)
    results = []
    for column in _select(df, columns):
        if column not in df.columns:
            results.append(
                CheckResult(
                    "missing_ratio",
                    _column_name(column),
                    False,
                    None,
                    threshold,
                    f"column {column!r} not found",
                )
            )
            continue
        series = df[column]
        n_missing = int(series.isna().sum())
        ratio = n_missing / len(series) if len(series) else 0.0
        passed = ratio <= threshold
        results.append(
            CheckResult(
                "missing_ratio",
                _column_name(column),
                passed,
                ratio,
                threshold,
                f"{n_missing} of {len(series)} values missing ({ratio:.2%}); "
                f"{'within' if passed else 'exceeds'} limit {threshold:.2%}",
            )
        )
    return tuple(results)


def check_ranges(
    df: pd.DataFrame, ranges: Mapping[Hashable, tuple[Bound, Bound]]
) -> tuple[CheckResult, ...]:
    """Fail numeric columns with any non-missing value outside ``[min, max]``.

    Either bound may be None (unbounded). Missing values are ignored here; use
    :func:`check_missing_ratio` for them.
    """
    results = []
    for column, bounds in ranges.items():
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise ValueError(f"range for column {column!r} must be a (min, max) pair")
        low, high = bounds
        if low is not None and high is not None and low > high:
            raise ValueError(f"range for column {column!r} has min {low!r} > max {high!r}")
        threshold = (_plain(low), _plain(high))
        name = _column_name(column)
        if column not in df.columns:
            results.append(
                CheckResult(
                    "range", name, False, (None, None), threshold, f"column {column!r} not found"
                )
            )
            continue
        series = df[column]
        dtype = series.dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            results.append(
                CheckResult(
                    "range",
                    name,
                    False,
                    (None, None),
                    threshold,
                    f"column {column!r} is not numeric (dtype {dtype})",
                )
            )
            continue
        values = series.dropna()
        arr = values.to_numpy(dtype="float64")
        observed = (_plain(arr.min()), _plain(arr.max())) if arr.size else (None, None)
        outside = np.zeros(arr.shape, dtype=bool)
        if low is not None:
            outside |= arr < low
        if high is not None:
            outside |= arr > high
        n_out = int(outside.sum())
        lo_txt = _fmt(low) if low is not None else "-inf"
        hi_txt = _fmt(high) if high is not None else "inf"
        span = f"[{lo_txt}, {hi_txt}]"
        if n_out:
            rows = [_plain(r) for r in values.index[outside][:_MAX_LISTED]]
            more = ", ..." if n_out > _MAX_LISTED else ""
            label = values.index.name or "rows"
            message = (
                f"{n_out} of {len(values)} values outside {span} "
                f"({label} {', '.join(map(str, rows))}{more})"
            )
        else:
            message = f"all {len(values)} values within {span}"
        results.append(CheckResult("range", name, n_out == 0, observed, threshold, message))
    return tuple(results)


def check_duplicates(
    df: pd.DataFrame,
    max_duplicate_ratio: float,
    *,
    subset: Sequence[Hashable] | None = None,
) -> tuple[CheckResult, ...]:
    """Fail when the share of rows repeating an earlier row exceeds the limit.

    With ``subset`` only those columns are compared (e.g. an ID column).
    """
    threshold = _check_ratio("max_duplicate_ratio", max_duplicate_ratio)
    if isinstance(subset, str):
        subset = [subset]
    label = "rows" if subset is None else f"rows on {list(subset)!r}"
    if subset is not None:
        unknown = [c for c in subset if c not in df.columns]
        if unknown:
            return (
                CheckResult(
                    "duplicates", None, False, None, threshold, f"columns not found: {unknown!r}"
                ),
            )
    n_dup = int(df.duplicated(subset=subset).sum()) if len(df) else 0
    ratio = n_dup / len(df) if len(df) else 0.0
    passed = ratio <= threshold
    return (
        CheckResult(
            "duplicates",
            None,
            passed,
            ratio,
            threshold,
            f"{n_dup} of {len(df)} {label} are duplicates ({ratio:.2%}); "
            f"{'within' if passed else 'exceeds'} limit {threshold:.2%}",
        ),
    )


def _matches_kind(series: pd.Series, kind: str) -> bool:
    types = pd.api.types
    dtype = series.dtype
    if kind == "numeric":
        return bool(types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype))
    if kind == "integer":
        return bool(types.is_integer_dtype(dtype) and not types.is_bool_dtype(dtype))
    if kind == "float":
        return bool(types.is_float_dtype(dtype))
    if kind == "datetime":
        return bool(types.is_datetime64_any_dtype(dtype))
    # Object columns carry no dtype information, so infer from their values.
    inferred = types.infer_dtype(series, skipna=True) if dtype == object else None
    if kind == "bool":
        return bool(types.is_bool_dtype(dtype)) or inferred == "boolean"
    if kind == "string":
        if dtype == object:
            return inferred in ("string", "empty")
        return bool(types.is_string_dtype(dtype))
    raise AssertionError(kind)  # pragma: no cover - kinds are validated by the caller


def check_schema(
    df: pd.DataFrame, schema: Mapping[Hashable, ColumnKind]
) -> tuple[CheckResult, ...]:
    """Fail columns that are absent or whose dtype is not of the expected kind."""
    for column, kind in schema.items():
        if kind not in _KINDS:
            raise ValueError(
                f"unknown column kind {kind!r} for column {column!r}; "
                f"expected one of: {', '.join(_KINDS)}"
            )
    results = []
    for column, kind in schema.items():
        name = _column_name(column)
        if column not in df.columns:
            results.append(
                CheckResult("dtype", name, False, None, kind, f"column {column!r} not found")
            )
            continue
        series = df[column]
        passed = _matches_kind(series, kind)
        observed = str(series.dtype)
        verdict = "matches" if passed else "does not match"
        message = f"dtype {observed} {verdict} expected kind {kind!r}"
        results.append(CheckResult("dtype", name, passed, observed, kind, message))
    return tuple(results)


def check_quality(
    df: pd.DataFrame,
    *,
    max_missing_ratio: float | None = None,
    ranges: Mapping[Hashable, tuple[Bound, Bound]] | None = None,
    max_duplicate_ratio: float | None = None,
    duplicate_subset: Sequence[Hashable] | None = None,
    schema: Mapping[Hashable, ColumnKind] | None = None,
) -> QualityReport:
    """Run the configured checks (a check is skipped when its argument is None).

    Order in the report: schema, missing ratio, ranges, duplicates.
    """
    checks: list[CheckResult] = []
    if schema is not None:
        checks.extend(check_schema(df, schema))
    if max_missing_ratio is not None:
        checks.extend(check_missing_ratio(df, max_missing_ratio))
    if ranges is not None:
        checks.extend(check_ranges(df, ranges))
    if max_duplicate_ratio is not None:
        checks.extend(check_duplicates(df, max_duplicate_ratio, subset=duplicate_subset))
    elif duplicate_subset is not None:
        raise ValueError("duplicate_subset requires max_duplicate_ratio")
    return QualityReport(tuple(checks))
