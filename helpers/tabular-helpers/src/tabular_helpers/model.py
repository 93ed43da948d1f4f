"""Model helpers shared by training and evaluation pipeline steps.

scikit-learn (the ``model`` extra) is imported only by :func:`make_classifier`,
so evaluation-only steps can use :func:`classification_metrics` and
:func:`load_model`'s pickle handling with numpy alone.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Literal, Protocol, TypeAlias, cast, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Classifier",
    "ClassifierKind",
    "classification_metrics",
    "load_model",
    "make_classifier",
    "save_model",
]

ClassifierKind: TypeAlias = Literal["logistic", "random_forest", "gradient_boosting"]
"""Classifier families :func:`make_classifier` can build."""

_KINDS: tuple[str, ...] = get_args(ClassifierKind)
_INSTALL_HINT = (
    "scikit-learn is required for make_classifier; "
    "install it with: pip install 'tabular-helpers[model]'"
)


class Classifier(Protocol):
    """The part of the scikit-learn estimator API that pipeline steps rely on."""

    def fit(self, X: Any, y: Any) -> Any: ...

    def predict(self, X: Any) -> Any: ...


def make_classifier(
    kind: ClassifierKind = "logistic", *, random_state: int = 0, **params: Any
) -> Classifier:
    """Build an unfitted scikit-learn classifier with reproducible defaults.

    ``params`` are passed to the estimator and override the defaults (for
    ``"logistic"`` the default is ``max_iter=1000`` so typical data converges).
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}; expected one of: {', '.join(_KINDS)}")
    try:
        from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc

    options: dict[str, Any] = {"random_state": random_state}
    if kind == "logistic":
        options["max_iter"] = 1000
        options.update(params)
        return cast(Classifier, LogisticRegression(**options))
    options.update(params)
    if kind == "random_forest":
        return cast(Classifier, RandomForestClassifier(**options))
    return cast(Classifier, GradientBoostingClassifier(**options))


def save_model(model: object, path: str | os.PathLike[str]) -> Path:
    """Pickle ``model`` to ``path`` atomically (parent directories are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_model(path: str | os.PathLike[str]) -> Any:
    """Unpickle a model written by :func:`save_model`.

    Pickle executes code while loading: only load files produced by your own
    pipeline, never user-supplied ones.
    """
    with Path(path).open("rb") as fh:
        return pickle.load(fh)


def _as_1d(name: str, values: ArrayLike) -> NDArray[Any]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _average_ranks(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks where tied scores share the mean of their positions."""
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    starts = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(starts) - 1
    positions = np.arange(1, scores.size + 1, dtype=np.float64)
    mean_rank = np.bincount(group, weights=positions) / np.bincount(group)
    ranks = np.empty(scores.size, dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


def _roc_auc(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> float:
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")  # undefined with a single class
    ranks = _average_ranks(scores)
    # Mann-Whitney U statistic of the positives, normalised to [0, 1].
    u = float(ranks[positive].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def classification_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    y_score: ArrayLike | None = None,
    *,
    pos_label: Any = 1,
) -> dict[str, float]:
    """Binary classification metrics computed with numpy only.

    Returns accuracy, precision, recall and f1 for ``pos_label`` (precision,
    recall and f1 are 0.0 when undefined, like scikit-learn's default), plus
    ``roc_auc`` when ``y_score`` (higher = more likely positive) is given. ROC AUC
    is rank based with ties counted as half and is NaN if ``y_true`` holds a
    single class.
    """
    truth = _as_1d("y_true", y_true)
    pred = _as_1d("y_pred", y_pred)
    if truth.size == 0:
        raise ValueError("y_true is empty")
    if truth.shape != pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {truth.size} != {pred.size}")
    labels = np.unique(np.concatenate([truth, pred]))
    if labels.size > 2:
        raise ValueError(f"binary labels expected, found {labels.size}: {labels.tolist()[:10]}")
    if labels.size == 2 and not np.any(labels == pos_label):
        raise ValueError(f"pos_label {pos_label!r} is not one of the labels {labels.tolist()}")

    is_pos = np.asarray(truth == pos_label, dtype=bool)
    pred_pos = np.asarray(pred == pos_label, dtype=bool)
    tp = int(np.sum(is_pos & pred_pos))
    fp = int(np.sum(~is_pos & pred_pos))
    fn = int(np.sum(is_pos & ~pred_pos))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metrics = {
        "accuracy": float(np.mean(truth == pred)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
    if y_score is not None:
        scores = _as_1d("y_score", y_score).astype(np.float64)
        if scores.shape != truth.shape:
            raise ValueError(f"y_score and y_true differ in length: {scores.size} != {truth.size}")
        if not np.all(np.isfinite(scores)):
            raise ValueError("y_score contains NaN or infinite values")
        metrics["roc_auc"] = _roc_auc(is_pos, scores)
    return metrics
