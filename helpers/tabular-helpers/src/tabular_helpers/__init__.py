"""Helpers for tabular data in Kubeflow Pipelines components.

Imputation (:mod:`.impute`), data-quality gates (:mod:`.quality`), diagnostic
plots (:mod:`.plots`, extra ``plots``) and model helpers (:mod:`.model`, extra
``model``). Optional dependencies are imported lazily, so importing this package
only needs numpy and pandas.
"""

from tabular_helpers.impute import FittedImputer, Imputer, impute
from tabular_helpers.model import (
    classification_metrics,
    load_model,
    make_classifier,
    save_model,
)
from tabular_helpers.plots import plot_distributions, plot_missingness, save_figure
from tabular_helpers.quality import (
    CheckResult,
    QualityReport,
    check_duplicates,
    check_missing_ratio,
    check_quality,
    check_ranges,
    check_schema,
)

__version__ = "1.0.0"

__all__ = [
    "CheckResult",
    "FittedImputer",
    "Imputer",
    "QualityReport",
    "__version__",
    "check_duplicates",
    "check_missing_ratio",
    "check_quality",
    "check_ranges",
    "check_schema",
    "classification_metrics",
    "impute",
    "load_model",
    "make_classifier",
    "plot_distributions",
    "plot_missingness",
    "save_figure",
    "save_model",
]
