from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from tabular_helpers import (
    CheckResult,
    QualityReport,
    check_duplicates,
    check_missing_ratio,
    check_quality,
    check_ranges,
    check_schema,
)


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": [25, 40, 31, 31, 130],
            "score": [0.5, np.nan, 0.2, 0.2, 0.9],
            "name": ["a", "b", "c", "c", "e"],
            "flag": [True, False, True, True, False],
            "when": pd.date_range("2024-01-01", periods=5, freq="D"),
            "noise": rng.normal(size=5),
        }
    )


def test_missing_ratio(df: pd.DataFrame) -> None:
    results = {r.column: r for r in check_missing_ratio(df, 0.1)}
    assert set(results) == set(df.columns)
    assert results["score"].passed is False
    assert results["score"].observed == pytest.approx(0.2)
    assert results["score"].threshold == 0.1
    assert results["age"].passed is True
    assert all(r.name == "missing_ratio" for r in results.values())
    assert check_missing_ratio(df, 0.2, columns=["score"])[0].passed is True
    absent = check_missing_ratio(df, 0.2, columns=["nope"])[0]
    assert absent.passed is False and "not found" in absent.message


def test_missing_ratio_empty_frame() -> None:
    (result,) = check_missing_ratio(pd.DataFrame({"a": pd.Series([], dtype=float)}), 0.0)
    assert result.passed and result.observed == 0.0


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True])
def test_ratio_validation(df: pd.DataFrame, bad: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_missing_ratio(df, bad)
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_duplicates(df, bad)


def test_ranges(df: pd.DataFrame) -> None:
    results = {
        r.column: r
        for r in check_ranges(
            df, {"age": (0, 120), "score": (None, 1.0), "name": (0, 1), "missing": (0, None)}
        )
    }
    age = results["age"]
    assert not age.passed
    assert age.observed == (25.0, 130.0)
    assert age.threshold == (0, 120)
    assert "1 of 5 values outside [0, 120]" in age.message and "rows 4" in age.message
    assert results["score"].passed  # NaN is ignored by range checks
    assert not results["name"].passed and "not numeric" in results["name"].message
    assert not results["missing"].passed and "not found" in results["missing"].message


def test_range_configuration_errors(df: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="min 5 > max 1"):
        check_ranges(df, {"age": (5, 1)})
    with pytest.raises(ValueError, match=r"\(min, max\) pair"):
        check_ranges(df, {"age": (1,)})  # type: ignore[dict-item]


def test_duplicates(df: pd.DataFrame) -> None:
    (full,) = check_duplicates(df, 0.0)
    assert full.passed  # "noise" differs in every row
    (subset,) = check_duplicates(df, 0.1, subset=["name", "age"])
    assert not subset.passed
    assert subset.observed == pytest.approx(0.2)
    assert subset.column is None
    (missing,) = check_duplicates(df, 0.1, subset=["zzz"])
    assert not missing.passed and "not found" in missing.message
    (one_column,) = check_duplicates(df, 0.5, subset="name")
    assert one_column.passed


def test_schema(df: pd.DataFrame) -> None:
    frame = df.assign(
        nullable=pd.array([1, None, 3, 4, 5], dtype="Int64"),
        obj_str=pd.Series(["x", None, "y", "z", "w"], dtype=object),
        obj_mixed=pd.Series([1, "a", 2, 3, 4], dtype=object),
    )
    schema = {
        "age": "integer",
        "score": "float",
        "noise": "numeric",
        "name": "string",
        "flag": "bool",
        "when": "datetime",
        "nullable": "integer",
        "obj_str": "string",
    }
    results = check_schema(frame, schema)  # type: ignore[arg-type]
    assert all(r.passed for r in results), [r for r in results if not r.passed]

    wrong = {
        r.column: r
        for r in check_schema(
            frame,
            {
                "age": "float",
                "flag": "numeric",
                "score": "integer",
                "name": "numeric",
                "obj_mixed": "string",
                "absent": "bool",
            },
        )
    }
    assert not any(r.passed for r in wrong.values())
    assert wrong["absent"].observed is None and "not found" in wrong["absent"].message
    assert wrong["age"].observed == "int64"
    with pytest.raises(ValueError, match="unknown column kind"):
        check_schema(frame, {"age": "int"})  # type: ignore[dict-item]


def test_check_quality_report(df: pd.DataFrame) -> None:
    report = check_quality(
        df,
        max_missing_ratio=0.25,
        ranges={"age": (0, 150)},
        max_duplicate_ratio=0.0,
        schema={"age": "integer", "name": "string"},
    )
    assert isinstance(report, QualityReport)
    assert report.passed
    assert report.failures == ()
    assert [c.name for c in report.checks][:2] == ["dtype", "dtype"]

    failing = check_quality(df, ranges={"age": (0, 120)}, max_missing_ratio=0.0)
    assert not failing.passed
    assert {(f.name, f.column) for f in failing.failures} == {
        ("missing_ratio", "score"),
        ("range", "age"),
    }
    assert check_quality(df).passed  # no checks configured
    with pytest.raises(ValueError, match="requires max_duplicate_ratio"):
        check_quality(df, duplicate_subset=["name"])


def test_report_serialisation(df: pd.DataFrame) -> None:
    report = check_quality(
        df.assign(inf=[np.inf, 1.0, 2.0, 3.0, 4.0]),
        max_missing_ratio=0.0,
        ranges={"inf": (0, None)},
        max_duplicate_ratio=0.5,
    )
    data = report.to_dict()
    assert data["passed"] is False
    assert data["n_checks"] == len(report.checks)
    assert data["n_failed"] == len(report.failures) == 1
    assert json.loads(report.to_json()) == data
    inf_range = next(c for c in data["checks"] if c["name"] == "range")
    assert inf_range["observed"] == [1.0, None]  # infinity is not valid JSON
    assert inf_range["threshold"] == [0, None]

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (bool, int, float, str)

    assert plain(data)


def test_dataclasses_are_frozen_and_combinable() -> None:
    ok = CheckResult("x", None, True, 1, 2, "fine")
    bad = CheckResult("y", "c", False, (1, 2), (None, 0.5), "broken")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ok.passed = False  # type: ignore[misc]
    combined = QualityReport((ok,)) + QualityReport((bad,))
    assert combined.checks == (ok, bad)
    assert combined.failures == (bad,)
    assert QualityReport(()).passed
    assert bad.to_dict()["observed"] == [1, 2]
