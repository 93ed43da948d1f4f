from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from tabular_helpers import QualityReport

import vision_helpers
from vision_helpers import (
    STAT_COLUMNS,
    batch_stats,
    equalize_histogram,
    image_stats,
    quality_report,
)


def good_image(seed: int) -> NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    return rng.integers(20, 236, size=(48, 64), dtype=np.uint8)


def test_image_stats_known_values() -> None:
    img = np.array([[0, 255], [0, 255]], dtype=np.uint8)
    stats = image_stats(img)
    assert list(stats) == list(STAT_COLUMNS)
    assert all(type(v) is float for v in stats.values())
    assert stats["mean"] == 0.5
    assert stats["std"] == stats["contrast"] == 0.5
    assert (stats["min"], stats["max"], stats["dynamic_range"]) == (0.0, 1.0, 1.0)
    assert stats["michelson_contrast"] == 1.0
    assert stats["entropy"] == pytest.approx(1.0)
    assert stats["saturated_ratio"] == 1.0


def test_image_stats_scale_independent_of_dtype() -> None:
    img = good_image(0)
    as_uint8 = image_stats(img)
    as_float = image_stats(img.astype(np.float32) / 255)
    for key in STAT_COLUMNS:
        assert as_float[key] == pytest.approx(as_uint8[key], abs=1e-6), key


def test_flat_image_stats() -> None:
    stats = image_stats(np.full((8, 8), 0.0))
    assert stats["contrast"] == 0.0 and stats["entropy"] == 0.0
    assert stats["michelson_contrast"] == 0.0  # no division by zero
    assert math.copysign(1.0, stats["entropy"]) == 1.0
    assert image_stats(np.full((8, 8), 100, np.uint8))["std"] == 0.0


def test_entropy_of_uniform_levels_is_eight_bits() -> None:
    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert image_stats(img)["entropy"] == pytest.approx(8.0)


def test_image_stats_rejects_batches() -> None:
    with pytest.raises(ValueError, match="2-D"):
        image_stats(np.zeros((2, 4, 4), np.uint8))


def test_batch_stats_from_array_and_list() -> None:
    images = [good_image(1), good_image(2)[:30, :20], np.full((5, 5), 0.5)]
    table = batch_stats(images)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == list(STAT_COLUMNS)
    assert table.index.name == "image" and list(table.index) == [0, 1, 2]
    assert all(str(t) == "float64" for t in table.dtypes)
    assert table.loc[1].to_dict() == pytest.approx(image_stats(images[1]))

    stacked = np.stack([good_image(3), good_image(4)])
    from_array = batch_stats(stacked)
    assert from_array.loc[1, "mean"] == pytest.approx(image_stats(stacked[1])["mean"])
    assert from_array.equals(batch_stats(iter(list(stacked))))


def test_batch_stats_validation() -> None:
    with pytest.raises(ValueError, match="no images"):
        batch_stats([])
    with pytest.raises(ValueError, match="3-D"):
        batch_stats(good_image(0))
    with pytest.raises(ValueError, match="image 1:"):
        batch_stats([good_image(0), np.full((3, 3), 2.0)])


def test_quality_report_passes_for_good_images() -> None:
    images = np.stack([good_image(s) for s in range(4)])
    report = quality_report(images, min_entropy=6.0)
    assert isinstance(report, QualityReport)
    assert report.passed, report.to_json()
    assert {c.column for c in report.checks} == {"contrast", "saturated_ratio", "entropy"}
    assert json.loads(report.to_json())["passed"] is True


def test_quality_report_fails_for_flat_images() -> None:
    flat = np.full((48, 64), 128, dtype=np.uint8)
    report = quality_report([good_image(0), flat, good_image(1)])
    assert not report.passed
    (failure,) = report.failures
    assert failure.column == "contrast"
    assert "image 1" in failure.message
    assert report.to_dict()["n_failed"] == 1


def test_quality_report_flags_saturation_and_equalisation_fixes_low_contrast() -> None:
    saturated = good_image(0).copy()
    saturated[:, :16] = 255  # a quarter of the pixels clipped to white
    report = quality_report([saturated])
    assert [f.column for f in report.failures] == ["saturated_ratio"]

    dull = (good_image(5) // 16 + 120).astype(np.uint8)  # 14 grey levels in the mid range
    assert not quality_report([dull]).passed
    assert quality_report([equalize_histogram(dull)], max_saturated_ratio=0.2).passed


def test_quality_report_threshold_validation() -> None:
    with pytest.raises(ValueError, match="min_contrast"):
        quality_report([good_image(0)], min_contrast=2.0)
    with pytest.raises(ValueError, match="max_saturated_ratio"):
        quality_report([good_image(0)], max_saturated_ratio=-0.1)
    with pytest.raises(ValueError, match="min_entropy"):
        quality_report([good_image(0)], min_entropy=9.0)


def test_package_metadata() -> None:
    # a release version as `make bump` writes it (PEP 440), whichever it is: a bump needs no test edit
    assert re.fullmatch(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", vision_helpers.__version__)
    for name in vision_helpers.__all__:
        assert hasattr(vision_helpers, name)
