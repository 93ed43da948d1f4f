"""Contrast adjustment for grey-scale images, in pure numpy.

Images are 2-D arrays, either ``uint8`` (0..255) or floating point in [0, 1];
3-D arrays are treated as a batch of N images of shape H x W and processed image
by image. Every function returns a new array of the input's dtype and value
range, so steps can be chained without conversions, and results are
deterministic (no randomness, no threading-dependent reductions).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

__all__ = ["adjust_gamma", "equalize_adaptive", "equalize_histogram"]

_ScalarT = TypeVar("_ScalarT", bound=np.generic)

LEVELS = 256
"""Histogram bins; float images are binned as ``round(x * 255)``."""

_GRID = np.arange(LEVELS, dtype=np.float64) / (LEVELS - 1)


def _validate_image(img: object, *, allow_batch: bool) -> NDArray[Any]:
    """Check type, shape, dtype and value range; raise with a message saying what to fix."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(img).__name__}")
    allowed = "2-D (H x W) or 3-D (N x H x W)" if allow_batch else "2-D (H x W)"
    if img.ndim not in ((2, 3) if allow_batch else (2,)):
        raise ValueError(f"expected a {allowed} grey-scale image array, got shape {img.shape}")
    if img.size == 0:
        raise ValueError(f"image must not be empty, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(
            f"unsupported image dtype {img.dtype}; expected uint8 (0..255) or float in [0, 1]"
        )
    if not np.all(np.isfinite(img)):
        raise ValueError("float image contains NaN or infinite values")
    low, high = float(img.min()), float(img.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"float image values must lie in [0, 1], got range [{low:.4g}, {high:.4g}]; "
            "rescale it or convert to uint8"
        )
    return img


def _to_unit(img: NDArray[Any]) -> NDArray[np.float64]:
    """Intensities as float64 in [0, 1], whatever the input dtype."""
    if img.dtype == np.uint8:
        return img.astype(np.float64) / (LEVELS - 1)
    return img.astype(np.float64)


def _to_levels(unit: NDArray[np.float64]) -> NDArray[np.intp]:
    """Histogram bin (0..255) of each pixel; exact for uint8 input."""
    return np.rint(unit * (LEVELS - 1)).astype(np.intp)


def _from_unit(unit: NDArray[np.float64], dtype: np.dtype[_ScalarT]) -> NDArray[_ScalarT]:
    if dtype == np.uint8:
        return np.clip(np.rint(unit * (LEVELS - 1)), 0, LEVELS - 1).astype(dtype)
    return np.clip(unit, 0.0, 1.0).astype(dtype)


def _is_constant(img: NDArray[Any]) -> bool:
    return bool(img.min() == img.max())


def equalize_histogram(img: NDArray[_ScalarT]) -> NDArray[_ScalarT]:
    """Global histogram equalisation: spread intensities so their histogram is ~flat.

    The darkest present level maps to 0 and the brightest to the top of the range.
    A constant image has no contrast to spread and is returned unchanged (copied).
    """
    arr = _validate_image(img, allow_batch=True)
    if arr.ndim == 3:
        batch: NDArray[_ScalarT] = np.stack([equalize_histogram(frame) for frame in img])
        return batch
    if _is_constant(arr):
        unchanged: NDArray[_ScalarT] = img.copy()  # nothing to spread; keep the value
        return unchanged
    unit = _to_unit(arr)
    hist = np.bincount(_to_levels(unit).ravel(), minlength=LEVELS)
    cdf = np.cumsum(hist).astype(np.float64)
    cdf_min = cdf[np.flatnonzero(hist)[0]]
    lut = np.clip((cdf - cdf_min) / (cdf[-1] - cdf_min), 0.0, 1.0)
    # Interpolating the LUT keeps float inputs continuous; uint8 hits grid points exactly.
    return _from_unit(np.interp(unit, _GRID, lut), img.dtype)


def _clipped_cdf(hist: NDArray[np.float64], clip_limit: float) -> NDArray[np.float64]:
    """Normalised CDF of a tile histogram after CLAHE clipping.

    Counts above ``clip_limit * pixels`` per bin are cut and the excess is spread
    evenly over the bins that still have room (water filling), which bounds the
    slope of the mapping and hence how much noise gets amplified.
    """
    total = float(hist.sum())
    # A limit below the mean bin count cannot hold all pixels; it means "flat".
    limit = max(clip_limit * total, total / LEVELS)
    clipped = np.minimum(hist, limit)
    excess = total - float(clipped.sum())
    for _ in range(LEVELS):  # each round fills at least one bin, so this terminates
        if excess <= total * 1e-12:
            break
        room = limit - clipped
        open_bins = room > 0
        share = excess / int(open_bins.sum())
        added = np.where(open_bins, np.minimum(room, share), 0.0)
        clipped += added
        excess -= float(added.sum())
    return np.cumsum(clipped) / total


def _interp_coords(
    n: int, centres: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """For each pixel coordinate: the two nearest tile centres and the weight of the second."""
    coords = np.arange(n, dtype=np.float64)
    if centres.size == 1:
        zeros = np.zeros(n, dtype=np.intp)
        return zeros, zeros, np.zeros(n, dtype=np.float64)
    lower = np.clip(np.searchsorted(centres, coords, side="right") - 1, 0, centres.size - 2)
    lower = lower.astype(np.intp)
    upper = lower + 1
    weight = (coords - centres[lower]) / (centres[upper] - centres[lower])
    # Pixels beyond the outermost centres use the nearest tile's mapping only.
    return lower, upper, np.clip(weight, 0.0, 1.0)


def _tile_edges(size: int, count: int) -> NDArray[np.intp]:
    # Integer arithmetic spreads the remainder of a non-divisible size over the tiles.
    return ((np.arange(count + 1) * size) // count).astype(np.intp)


def equalize_adaptive(
    img: NDArray[_ScalarT], tiles: tuple[int, int] = (8, 8), clip_limit: float = 0.01
) -> NDArray[_ScalarT]:
    """Contrast-limited adaptive histogram equalisation (CLAHE).

    The image is split into ``tiles`` (rows, columns) regions, each gets its own
    clipped-histogram mapping, and every pixel blends the mappings of the four
    nearest tile centres bilinearly so no block edges appear. ``clip_limit`` is
    the maximum share of a tile's pixels per histogram bin, in (0, 1]: small
    values limit noise amplification, 1 disables clipping. Image sizes need not be
    multiples of the tile counts, but each tile must contain at least one pixel.
    """
    if (
        not isinstance(tiles, (tuple, list))
        or len(tiles) != 2
        or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in tiles)
        or min(tiles) < 1
    ):
        raise ValueError(f"tiles must be a pair of positive integers, got {tiles!r}")
    if (
        isinstance(clip_limit, bool)
        or not isinstance(clip_limit, (int, float))
        or not 0.0 < clip_limit <= 1.0
    ):
        raise ValueError(f"clip_limit must be in (0, 1], got {clip_limit!r}")
    arr = _validate_image(img, allow_batch=True)
    if arr.ndim == 3:
        batch: NDArray[_ScalarT] = np.stack(
            [equalize_adaptive(frame, tiles, clip_limit) for frame in img]
        )
        return batch
    n_rows, n_cols = int(tiles[0]), int(tiles[1])
    height, width = arr.shape
    if n_rows > height or n_cols > width:
        raise ValueError(
            f"tiles {n_rows}x{n_cols} do not fit an image of {height}x{width} pixels; "
            "use fewer tiles"
        )
    if _is_constant(arr):
        unchanged: NDArray[_ScalarT] = img.copy()  # nothing to spread; keep the value
        return unchanged

    unit = _to_unit(arr)
    levels = _to_levels(unit)
    row_edges = _tile_edges(height, n_rows)
    col_edges = _tile_edges(width, n_cols)
    luts = np.empty((n_rows, n_cols, LEVELS), dtype=np.float64)
    for i in range(n_rows):
        for j in range(n_cols):
            tile = levels[row_edges[i] : row_edges[i + 1], col_edges[j] : col_edges[j + 1]]
            hist = np.bincount(tile.ravel(), minlength=LEVELS).astype(np.float64)
            luts[i, j] = _clipped_cdf(hist, float(clip_limit))

    y0, y1, wy = _interp_coords(height, (row_edges[:-1] + row_edges[1:] - 1) / 2.0)
    x0, x1, wx = _interp_coords(width, (col_edges[:-1] + col_edges[1:] - 1) / 2.0)

    if arr.dtype == np.uint8:
        low, high, frac = levels, levels, None
    else:
        # Interpolate between neighbouring levels so float images stay smooth.
        position = unit * (LEVELS - 1)
        low = np.clip(np.floor(position), 0, LEVELS - 1).astype(np.intp)
        high = np.minimum(low + 1, LEVELS - 1)
        frac = position - low

    def mapped(rows: NDArray[np.intp], cols: NDArray[np.intp]) -> NDArray[np.float64]:
        r, c = rows[:, None], cols[None, :]
        lo = luts[r, c, low]
        return lo if frac is None else lo + (luts[r, c, high] - lo) * frac

    wx2, wy2 = wx[None, :], wy[:, None]
    top = mapped(y0, x0) * (1.0 - wx2) + mapped(y0, x1) * wx2
    bottom = mapped(y1, x0) * (1.0 - wx2) + mapped(y1, x1) * wx2
    return _from_unit(top * (1.0 - wy2) + bottom * wy2, img.dtype)


def adjust_gamma(img: NDArray[_ScalarT], gamma: float) -> NDArray[_ScalarT]:
    """Power-law intensity mapping ``out = in ** gamma`` on the [0, 1] scale.

    ``gamma < 1`` brightens dark regions, ``gamma > 1`` darkens; the mapping is
    monotonic and keeps 0 and the maximum fixed.
    """
    if (
        isinstance(gamma, bool)
        or not isinstance(gamma, (int, float))
        or not math.isfinite(gamma)
        or gamma <= 0
    ):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
    arr = _validate_image(img, allow_batch=True)
    return _from_unit(np.power(_to_unit(arr), float(gamma)), img.dtype)
