from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tabular_helpers import classification_metrics, load_model, make_classifier, save_model


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.3, size=120) > 0).astype(int)
    return x, y


@pytest.mark.parametrize("kind", ["logistic", "random_forest", "gradient_boosting"])
def test_make_classifier_fits(kind: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("sklearn")
    x, y = data
    params = {} if kind == "logistic" else {"n_estimators": 10}
    model = make_classifier(kind, random_state=3, **params)  # type: ignore[arg-type]
    model.fit(x, y)
    assert classification_metrics(y, model.predict(x))["accuracy"] > 0.8


def test_make_classifier_defaults_and_overrides() -> None:
    pytest.importorskip("sklearn")
    model = make_classifier()
    assert type(model).__name__ == "LogisticRegression"
    assert model.max_iter == 1000  # type: ignore[attr-defined]
    assert model.random_state == 0  # type: ignore[attr-defined]
    tuned = make_classifier("logistic", max_iter=50, C=0.1)
    assert tuned.max_iter == 50  # type: ignore[attr-defined]
    forest = make_classifier("random_forest", random_state=5, n_estimators=3)
    assert forest.random_state == 5  # type: ignore[attr-defined]


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown classifier kind 'svm'"):
        make_classifier("svm")  # type: ignore[arg-type]


def test_missing_sklearn_message(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "sklearn" or name.startswith("sklearn."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"tabular-helpers\[model\]"):
        make_classifier()


def test_save_load_round_trip(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("sklearn")
    x, y = data
    model = make_classifier("random_forest", n_estimators=5).fit(x, y)
    path = save_model(model, tmp_path / "models" / "model.pkl")
    restored = load_model(path)
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))
    assert [p.name for p in path.parent.iterdir()] == ["model.pkl"]


def test_save_load_plain_object(tmp_path: Path) -> None:
    path = save_model({"weights": [1, 2, 3]}, tmp_path / "m.pkl")
    assert load_model(path) == {"weights": [1, 2, 3]}


def test_metrics_values() -> None:
    y_true = [1, 0, 1, 1, 0, 0, 1, 0]
    y_pred = [1, 0, 0, 1, 1, 0, 1, 0]
    m = classification_metrics(y_true, y_pred)
    assert m == pytest.approx({"accuracy": 0.75, "precision": 0.75, "recall": 0.75, "f1": 0.75})
    assert all(type(v) is float for v in m.values())


def test_metrics_string_labels_and_zero_division() -> None:
    m = classification_metrics(["spam", "ham", "ham"], ["ham", "ham", "ham"], pos_label="spam")
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0


def test_roc_auc_rank_based_with_ties() -> None:
    assert classification_metrics([0, 0, 1, 1], [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])[
        "roc_auc"
    ] == pytest.approx(0.75)
    # every score tied: chance level
    assert classification_metrics([0, 1, 0, 1], [0, 1, 0, 1], [0.5] * 4)["roc_auc"] == 0.5
    # one positive/negative pair tied counts as one half
    assert classification_metrics([0, 1, 1], [0, 1, 1], [0.2, 0.2, 0.9])["roc_auc"] == 0.75
    assert np.isnan(classification_metrics([1, 1], [1, 1], [0.1, 0.2])["roc_auc"])


def test_roc_auc_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=500)
    scores = np.round(rng.normal(size=500) + y, 1)  # rounding creates many ties
    pred = (scores > 0.5).astype(int)
    ours = classification_metrics(y, pred, scores)
    assert ours["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, scores))
    assert ours["f1"] == pytest.approx(metrics.f1_score(y, pred))
    assert ours["precision"] == pytest.approx(metrics.precision_score(y, pred))
    assert ours["recall"] == pytest.approx(metrics.recall_score(y, pred))


def test_metrics_validation() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        classification_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="binary labels"):
        classification_metrics([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="pos_label"):
        classification_metrics(["a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        classification_metrics([], [])
    with pytest.raises(ValueError, match="one-dimensional"):
        classification_metrics([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics([0, 1], [0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="y_score"):
        classification_metrics([0, 1], [0, 1], [0.1])
