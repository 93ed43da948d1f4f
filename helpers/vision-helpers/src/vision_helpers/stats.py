"""Per-image statistics and a data-quality gate for image batches.

Statistics are reported on a [0, 1] intensity scale for every dtype, so one set
of thresholds works for uint8 and float pipelines alike. The quality gate reuses
``tabular_helpers`` checks on the per-image statistics table, giving image and
tabular pipeline steps the same report format.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from tabular_helpers import QualityReport, check_quality

from vision_helpers.contrast import LEVELS, _to_levels, _to_unit, _validate_image

__all__ = ["STAT_COLUMNS", "batch_stats", "image_stats", "quality_report"]

STAT_COLUMNS: tuple[str, ...] = (
    "mean",
    "std",
    "min",
    "max",
    "contrast",
    "michelson_contrast",
    "entropy",
    "dynamic_range",
    "saturated_ratio",
)
"""Keys of :func:`image_stats` and columns of :func:`batch_stats`, in order."""


def image_stats(img: NDArray[Any]) -> dict[str, float]:
    """Summary statistics of one 2-D grey image (intensities on a [0, 1] scale).

    ``contrast`` is the RMS contrast (standard deviation of intensities),
    ``michelson_contrast`` is (max - min) / (max + min), ``entropy`` is the
    Shannon entropy in bits of the 256-bin histogram (0..8), and
    ``saturated_ratio`` is the share of pixels in the lowest or highest bin.
    """
    arr = _validate_image(img, allow_batch=False)
    unit = _to_unit(arr)
    hist = np.bincount(_to_levels(unit).ravel(), minlength=LEVELS)
    total = float(unit.size)
    probs = hist[hist > 0] / total
    entropy = float(-(probs * np.log2(probs)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
    low, high = float(unit.min()), float(unit.max())
    # Exact zero for flat images (np.std leaves ~1e-16 rounding noise there).
    std = float(unit.std()) if high > low else 0.0
    return {
        "mean": float(unit.mean()),
        "std": std,
        "min": low,
        "max": high,
        "contrast": std,
        "michelson_contrast": (high - low) / (high + low) if high + low > 0 else 0.0,
        "entropy": entropy,
        "dynamic_range": high - low,
        "saturated_ratio": float(hist[0] + hist[-1]) / total,
    }


def _iter_images(images: NDArray[Any] | Iterable[NDArray[Any]]) -> list[NDArray[Any]]:
    if isinstance(images, np.ndarray):
        if images.ndim != 3:
            raise ValueError(
                f"expected a 3-D (N x H x W) batch or a sequence of 2-D images, "
                f"got an array of shape {images.shape}"
            )
        frames = list(images)
    else:
        frames = list(images)
    if not frames:
        raise ValueError("no images given")
    return frames


def batch_stats(images: NDArray[Any] | Iterable[NDArray[Any]]) -> pd.DataFrame:
    """One row of :func:`image_stats` per image; the index is the image position.

    Accepts an N x H x W array or any iterable of 2-D images (sizes may differ).
    """
    rows = []
    for position, frame in enumerate(_iter_images(images)):
        try:
            rows.append(image_stats(frame))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"image {position}: {exc}") from exc
    frame_stats = pd.DataFrame(rows, columns=list(STAT_COLUMNS), dtype="float64")
    frame_stats.index = pd.RangeIndex(len(rows), name="image")
    return frame_stats


def _check_unit_interval(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def quality_report(
    images: NDArray[Any] | Iterable[NDArray[Any]],
    *,
    min_contrast: float = 0.05,
    max_saturated_ratio: float = 0.05,
    min_entropy: float | None = None,
) -> QualityReport:
    """Gate a batch on image quality using ``tabular_helpers.check_quality``.

    Fails when any image's RMS contrast is below ``min_contrast`` (flat or washed
    out), more than ``max_saturated_ratio`` of its pixels are clipped to black or
    white, or (optionally) its entropy in bits is below ``min_entropy``. Failing
    image positions are listed in the check messages.
    """
    _check_unit_interval("min_contrast", min_contrast)
    _check_unit_interval("max_saturated_ratio", max_saturated_ratio)
    if min_entropy is not None and (
        isinstance(min_entropy, bool)
        or not isinstance(min_entropy, (int, float))
        or not 0 <= min_entropy <= 8
    ):
        raise ValueError(f"min_entropy must be a number of bits in [0, 8], got {min_entropy!r}")
    ranges: dict[Any, tuple[float | None, float | None]] = {
        "contrast": (min_contrast, None),
        "saturated_ratio": (None, max_saturated_ratio),
    }
    if min_entropy is not None:
        ranges["entropy"] = (min_entropy, None)
    return check_quality(batch_stats(images), ranges=ranges)
