from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabular_helpers import FittedImputer, Imputer, impute
from tabular_helpers.impute import FORMAT, ColumnFill, ImputerFormatError


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "num": [1.0, np.nan, 3.0, 10.0, np.nan],
            "cat": pd.Series(["a", None, "b", "b", "a"], dtype="object"),
            "count": pd.array([1, None, 2, 2, 5], dtype="Int64"),
        }
    )


def test_mean_fills_only_missing_and_leaves_input_untouched(df: pd.DataFrame) -> None:
    original = df.copy()
    out = Imputer("mean").fit(df, ["num"]).transform(df)
    assert out is not df
    pd.testing.assert_frame_equal(df, original)
    assert out["num"].tolist() == [1.0, 14 / 3, 3.0, 10.0, 14 / 3]
    pd.testing.assert_series_equal(out["cat"], df["cat"])


def test_median_most_frequent_constant(df: pd.DataFrame) -> None:
    fitted = Imputer().fit(
        df,
        strategy="median",
        overrides={"cat": "most_frequent", "count": "constant"},
        fill_value={"count": 0},
    )
    assert fitted.fill_values == {"num": 3.0, "cat": "a", "count": 0}
    out = fitted.transform(df)
    assert out["num"].tolist() == [1.0, 3.0, 3.0, 10.0, 3.0]
    # "a" and "b" tie with two occurrences each: the smallest value wins.
    assert out["cat"].tolist() == ["a", "a", "b", "b", "a"]
    assert out["count"].tolist() == [1, 0, 2, 2, 5]
    assert str(out["count"].dtype) == "Int64"
    assert not out.isna().any().any()


def test_nullable_integer_with_fractional_mean_becomes_float(df: pd.DataFrame) -> None:
    out = impute(df, "mean", columns=["count"])
    assert out["count"].tolist() == pytest.approx([1, 2.5, 2, 2, 5])


def test_default_string_dtype_column() -> None:
    frame = pd.DataFrame({"s": pd.Series(["x", None, "x", "y"], dtype="string")})
    out = impute(frame, "most_frequent")
    assert out["s"].tolist() == ["x", "x", "x", "y"]
    assert out["s"].dtype == frame["s"].dtype


def test_constructor_settings_and_fit_keywords(df: pd.DataFrame) -> None:
    imputer = Imputer("constant", fill_value=-1.0)
    assert imputer.fit(df, ["num"]).fill_values == {"num": -1.0}
    assert imputer.fit(df, ["num"], strategy="median").fill_values == {"num": 3.0}
    assert imputer == Imputer("constant", fill_value=-1.0)
    with pytest.raises(AttributeError):
        imputer.strategy = "mean"  # type: ignore[misc]


def test_fit_transform_equals_fit_then_transform(df: pd.DataFrame) -> None:
    imputer = Imputer("most_frequent")
    pd.testing.assert_frame_equal(imputer.fit_transform(df), imputer.fit(df).transform(df))


def test_unknown_strategy_raises() -> None:
    with pytest.raises(ValueError, match="unknown imputation strategy 'mode'"):
        Imputer("mode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="for column 'a'"):
        Imputer(overrides={"a": "avg"})  # type: ignore[dict-item]


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_numeric_strategy_on_text_column_raises(df: pd.DataFrame, strategy: str) -> None:
    with pytest.raises(ValueError, match="needs a numeric column.*'cat'"):
        Imputer(strategy).fit(df)  # type: ignore[arg-type]


def test_bool_column_is_not_numeric() -> None:
    frame = pd.DataFrame({"flag": pd.array([True, None, False], dtype="boolean")})
    with pytest.raises(ValueError, match="needs a numeric column"):
        impute(frame, "mean")
    assert impute(frame, "most_frequent")["flag"].tolist() == [True, False, False]


def test_all_missing_column() -> None:
    frame = pd.DataFrame({"empty": [np.nan, np.nan]})
    for strategy in ("mean", "median", "most_frequent"):
        with pytest.raises(ValueError, match="no non-missing values"):
            impute(frame, strategy)
    assert impute(frame, "constant", fill_value=7)["empty"].tolist() == [7.0, 7.0]


def test_constant_requires_fill_value(df: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="requires a fill_value"):
        impute(df, "constant")


def test_column_validation(df: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="not found"):
        Imputer().fit(df, ["nope"])
    with pytest.raises(ValueError, match="not being imputed"):
        Imputer(overrides={"cat": "most_frequent"}).fit(df, ["num"])
    with pytest.raises(TypeError, match="not a string"):
        Imputer().fit(df, "num")
    fitted = Imputer().fit(df, ["num"])
    with pytest.raises(ValueError, match="missing from the DataFrame"):
        fitted.transform(df.drop(columns="num"))


def test_non_finite_fill_value_rejected() -> None:
    frame = pd.DataFrame({"x": [1.0, np.inf, np.nan]})
    with pytest.raises(ValueError, match="not finite"):
        impute(frame, "mean")


def test_json_round_trip_is_exact(df: pd.DataFrame) -> None:
    frame = df.assign(
        when=pd.to_datetime(["2024-01-01", None, "2024-01-01", "2023-05-06", None], utc=True),
        flag=[True, None, True, False, True],
    )
    fitted = Imputer("most_frequent", overrides={"num": "mean", "count": "median"}).fit(frame)
    text = fitted.to_json()
    data = json.loads(text)
    assert data["format"] == FORMAT
    assert [c["column"] for c in data["columns"]] == ["num", "cat", "count", "when", "flag"]
    restored = FittedImputer.from_json(text)
    assert restored == fitted
    assert restored.to_json() == text
    pd.testing.assert_frame_equal(restored.transform(frame), fitted.transform(frame))


def test_save_load(tmp_path: Path, df: pd.DataFrame) -> None:
    fitted = Imputer("most_frequent").fit(df)
    path = fitted.save(tmp_path / "sub" / "imputer.json")
    assert path.exists()
    assert FittedImputer.load(path) == fitted
    assert [p.name for p in path.parent.iterdir()] == ["imputer.json"]  # no temp files left


def test_fitted_imputer_is_frozen(df: pd.DataFrame) -> None:
    fitted = Imputer().fit(df, ["num"])
    with pytest.raises(AttributeError):
        fitted.fills = ()  # type: ignore[misc]
    values = fitted.fill_values
    values["num"] = 0.0
    assert fitted.fill_values["num"] == pytest.approx(14 / 3)


@pytest.mark.parametrize(
    "payload",
    [
        "[]",
        '{"format": "something-else", "columns": []}',
        json.dumps({"format": FORMAT, "columns": {}}),
        json.dumps({"format": FORMAT, "columns": [{"column": "a", "strategy": "mean"}]}),
        json.dumps(
            {"format": FORMAT, "columns": [{"column": "a", "strategy": "x", "fill_value": 1}]}
        ),
        json.dumps(
            {"format": FORMAT, "columns": [{"column": "a", "strategy": "mean", "fill_value": []}]}
        ),
    ],
)
def test_from_json_rejects_invalid(payload: str) -> None:
    with pytest.raises(ValueError):
        FittedImputer.from_json(payload)


def test_format_error_is_specific() -> None:
    with pytest.raises(ImputerFormatError, match="unsupported imputer format"):
        FittedImputer.from_json('{"format": "v0"}')


def test_transform_reports_incompatible_fill() -> None:
    fitted = FittedImputer((ColumnFill("s", "constant", 1.5),))
    frame = pd.DataFrame({"s": pd.Series(["x", None], dtype="string")})
    with pytest.raises(ValueError, match="cannot fill column 's'"):
        fitted.transform(frame)
