from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from vision_helpers import adjust_gamma, equalize_adaptive, equalize_histogram, image_stats


def low_contrast(shape: tuple[int, int] = (96, 128), seed: int = 0) -> NDArray[np.uint8]:
    """Smooth structure squeezed into ~60 grey levels around mid-grey, plus mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    pattern = 25 * np.sin(xx / 9.0) * np.cos(yy / 11.0) + 0.1 * (xx - shape[1] / 2)
    noisy = 110 + pattern + rng.normal(0, 2, size=shape)
    img: NDArray[np.uint8] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return img


def test_histogram_equalisation_increases_contrast_and_uses_full_range() -> None:
    img = low_contrast()
    out = equalize_histogram(img)
    before, after = image_stats(img), image_stats(out)
    assert after["contrast"] > 3 * before["contrast"]
    assert (out.min(), out.max()) == (0, 255)
    # A global level mapping can merge bins but must not lose much information.
    assert after["entropy"] == pytest.approx(before["entropy"], abs=0.05)
    # equalised histogram is much flatter: cumulative share ~ linear in level
    cdf = np.cumsum(np.bincount(out.ravel(), minlength=256)) / out.size
    assert np.max(np.abs(cdf - np.arange(1, 257) / 256)) < 0.05


def test_histogram_equalisation_is_monotonic() -> None:
    img = low_contrast()
    out = equalize_histogram(img)
    order = np.argsort(img.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order].astype(int)) >= 0)


@pytest.mark.parametrize("func", [equalize_histogram, equalize_adaptive])
def test_adaptive_and_global_increase_entropy_or_contrast(func: Any) -> None:
    img = low_contrast()
    before, after = image_stats(img), image_stats(func(img))
    assert after["contrast"] > before["contrast"]
    assert after["dynamic_range"] > before["dynamic_range"]


def test_clahe_increases_contrast_and_entropy() -> None:
    img = low_contrast()
    out = equalize_adaptive(img, tiles=(4, 4), clip_limit=0.03)
    before, after = image_stats(img), image_stats(out)
    assert after["contrast"] > 1.5 * before["contrast"]
    assert after["entropy"] > before["entropy"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_images_keep_dtype_and_range(dtype: type[np.floating[Any]]) -> None:
    img = (low_contrast() / 255.0).astype(dtype)
    for out in (
        equalize_histogram(img),
        equalize_adaptive(img),
        adjust_gamma(img, 0.5),
    ):
        assert out.dtype == dtype
        assert out.shape == img.shape
        assert 0.0 <= out.min() and out.max() <= 1.0
    assert equalize_histogram(img).max() == pytest.approx(1.0)
    assert equalize_histogram(img).min() == pytest.approx(0.0, abs=1e-6)


def test_float_and_uint8_results_agree() -> None:
    img = low_contrast()
    as_float = img / 255.0
    for func in (equalize_histogram, equalize_adaptive):
        diff = np.abs(func(as_float) * 255 - func(img))
        assert diff.max() <= 0.5 + 1e-9  # uint8 output is the rounded float result


def test_uint8_dtype_preserved() -> None:
    img = low_contrast()
    for out in (equalize_histogram(img), equalize_adaptive(img), adjust_gamma(img, 2.0)):
        assert out.dtype == np.uint8 and out.shape == img.shape


@pytest.mark.parametrize("value", [0, 77, 255])
def test_constant_image_stays_constant(value: int) -> None:
    img = np.full((20, 30), value, dtype=np.uint8)
    for out in (equalize_histogram(img), equalize_adaptive(img)):
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, img)
        assert out is not img
    flat = np.full((9, 9), 0.25)
    np.testing.assert_array_equal(equalize_histogram(flat), flat)
    np.testing.assert_array_equal(equalize_adaptive(flat, tiles=(3, 3)), flat)


@pytest.mark.parametrize(
    ("shape", "tiles"),
    [
        ((97, 131), (8, 8)),
        ((50, 33), (7, 5)),
        ((5, 7), (5, 7)),
        ((64, 64), (1, 1)),
        ((10, 200), (1, 9)),
    ],
)
def test_clahe_non_divisible_sizes(shape: tuple[int, int], tiles: tuple[int, int]) -> None:
    img = low_contrast(shape)
    out = equalize_adaptive(img, tiles=tiles)
    assert out.shape == shape and out.dtype == np.uint8


def test_clahe_has_no_block_edges() -> None:
    # A ramp must stay smooth: tile mappings are blended, not pasted. Each tile
    # stretches its own ~20 input levels, so pasting the mappings side by side
    # would jump by ~85 levels at the tile borders.
    ramp = np.tile(np.linspace(60, 160, 150), (90, 1)).astype(np.uint8)
    out = equalize_adaptive(ramp, tiles=(3, 5), clip_limit=0.02).astype(int)
    assert np.abs(np.diff(out, axis=1)).max() <= 8
    assert np.abs(np.diff(out, axis=0)).max() == 0  # identical rows stay identical


def test_clahe_clip_limit_controls_strength() -> None:
    img = low_contrast()
    weak = image_stats(equalize_adaptive(img, clip_limit=0.001))["contrast"]
    strong = image_stats(equalize_adaptive(img, clip_limit=1.0))["contrast"]
    assert strong > weak


def test_single_tile_without_clipping_matches_global_lut_ordering() -> None:
    img = low_contrast()
    out = equalize_adaptive(img, tiles=(1, 1), clip_limit=1.0)
    order = np.argsort(img.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order].astype(int)) >= 0)
    assert out.max() == 255


def test_batches_are_processed_per_image() -> None:
    batch = np.stack([low_contrast(seed=1), low_contrast(seed=2), np.full((96, 128), 9, np.uint8)])
    for func in (equalize_histogram, equalize_adaptive):
        out = func(batch)
        assert out.shape == batch.shape and out.dtype == np.uint8
        for i in range(len(batch)):
            np.testing.assert_array_equal(out[i], func(batch[i]))
    np.testing.assert_array_equal(adjust_gamma(batch, 1.5)[0], adjust_gamma(batch[0], 1.5))


def test_deterministic() -> None:
    img = low_contrast()
    np.testing.assert_array_equal(equalize_adaptive(img), equalize_adaptive(img.copy()))
    np.testing.assert_array_equal(equalize_histogram(img), equalize_histogram(img.copy()))


def test_inputs_are_not_modified() -> None:
    img = low_contrast()
    original = img.copy()
    equalize_histogram(img)
    equalize_adaptive(img)
    adjust_gamma(img, 0.3)
    np.testing.assert_array_equal(img, original)


def test_gamma_monotonic_and_direction() -> None:
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for gamma in (0.3, 1.0, 2.2):
        out = adjust_gamma(ramp, gamma).ravel().astype(int)
        assert np.all(np.diff(out) >= 0)
        assert out[0] == 0 and out[-1] == 255
    np.testing.assert_array_equal(adjust_gamma(ramp, 1.0), ramp)
    assert adjust_gamma(ramp, 0.5).mean() > ramp.mean() > adjust_gamma(ramp, 2.0).mean()
    x = np.linspace(0, 1, 101).reshape(1, -1)
    np.testing.assert_allclose(adjust_gamma(x, 2.0), x**2)


@pytest.mark.parametrize("gamma", [0, -1, float("nan"), float("inf"), True])
def test_gamma_validation(gamma: float) -> None:
    with pytest.raises(ValueError, match="gamma must be"):
        adjust_gamma(low_contrast(), gamma)


@pytest.mark.parametrize(
    ("img", "match"),
    [
        (np.zeros(10, np.uint8), "2-D"),
        (np.zeros((2, 2, 2, 2), np.uint8), "2-D"),
        (np.zeros((0, 5), np.uint8), "empty"),
        (np.zeros((4, 4), np.uint16), "unsupported image dtype uint16"),
        (np.zeros((4, 4), bool), "unsupported image dtype bool"),
        (np.full((4, 4), 1.5), r"\[0, 1\]"),
        (np.full((4, 4), -0.1), r"\[0, 1\]"),
        (np.full((4, 4), np.nan), "NaN"),
    ],
)
def test_input_validation(img: NDArray[Any], match: str) -> None:
    for func in (equalize_histogram, equalize_adaptive, lambda a: adjust_gamma(a, 1.0)):
        with pytest.raises(ValueError, match=match):
            func(img)


def test_non_array_input() -> None:
    with pytest.raises(TypeError, match="numpy array"):
        equalize_histogram([[0, 1], [2, 3]])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tiles": (0, 4)}, "tiles"),
        ({"tiles": (4,)}, "tiles"),
        ({"tiles": (2.5, 2)}, "tiles"),
        ({"tiles": (200, 2)}, "do not fit"),
        ({"clip_limit": 0}, "clip_limit"),
        ({"clip_limit": 1.5}, "clip_limit"),
    ],
)
def test_clahe_parameter_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        equalize_adaptive(low_contrast(), **kwargs)
