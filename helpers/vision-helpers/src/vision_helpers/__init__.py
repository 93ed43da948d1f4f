"""Helpers for grey-scale images in Kubeflow Pipelines components.

Contrast adjustment (:mod:`.contrast`) and per-image statistics with a
quality gate built on ``tabular_helpers`` (:mod:`.stats`). Pure numpy: no
OpenCV or SciPy needed in the container image.
"""

from vision_helpers.contrast import adjust_gamma, equalize_adaptive, equalize_histogram
from vision_helpers.stats import STAT_COLUMNS, batch_stats, image_stats, quality_report

__version__ = "1.0.0"

__all__ = [
    "STAT_COLUMNS",
    "__version__",
    "adjust_gamma",
    "batch_stats",
    "equalize_adaptive",
    "equalize_histogram",
    "image_stats",
    "quality_report",
]
