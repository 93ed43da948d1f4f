"""The example pipeline (load -> preprocess -> create model -> train -> evaluate), with every
component using shared helpers through the factory instead of copied code.

The step functions are plain module-level functions: KFP ships their source, so they import
what they use inside their bodies.
"""


from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from helperhub.core import defaults
from helperhub.pipelines.delivery import Delivery
from helperhub.pipelines.factory import helper_component

PIPELINE_NAME = "helper-example"
TABULAR = "tabular-helpers"
VISION = "vision-helpers"


def load_data(n_samples: int, seed: int, table: Output[Dataset], images: Output[Dataset]) -> None:
    """A small dataset made here: tabular features with gaps, and low-contrast grey images
    whose centre is slightly brighter for the positive class."""
    import numpy as np
    import pandas as pd
    from tabular_helpers import check_quality

    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n_samples)
    frame = pd.DataFrame({
        "x1": rng.normal(2.0 * label, 1.0),
        "x2": rng.normal(-1.5 * label, 1.0),
        "x3": rng.uniform(0.0, 1.0, n_samples),
        "label": label,
    })
    for column in ("x1", "x2"):
        frame.loc[rng.random(n_samples) < 0.1, column] = np.nan
    report = check_quality(frame, schema={"x1": "float", "x2": "float", "x3": "float", "label": "integer"})
    if not report.passed:
        raise ValueError(f"generated data failed its schema: {report.to_json()}")
    frame.to_csv(table.path, index=False)

    yy, xx = np.mgrid[0:16, 0:16]
    blob = np.exp(-((yy - 7.5) ** 2 + (xx - 7.5) ** 2) / 12.0)
    noise = 0.03 * rng.standard_normal((n_samples, 16, 16))
    grey = 0.45 + noise + 0.05 * label[:, None, None] * blob
    with open(images.path, "wb") as fh:
        np.save(fh, (np.clip(grey, 0.0, 1.0) * 255).astype(np.uint8))


def preprocess(table: Input[Dataset], images: Input[Dataset], features: Output[Dataset],
               quality: Output[Metrics]) -> None:
    """Impute, gate on quality, enhance image contrast and derive image features."""
    import numpy as np
    import pandas as pd
    from tabular_helpers import Imputer, check_quality
    from vision_helpers import batch_stats, equalize_adaptive, quality_report

    frame = pd.read_csv(table.path)
    filled = Imputer("median").fit(frame, columns=["x1", "x2"]).transform(frame)
    report = check_quality(filled, max_missing_ratio=0.0, max_duplicate_ratio=0.01)
    if not report.passed:
        raise ValueError(f"quality gate failed: {report.to_json()}")

    with open(images.path, "rb") as fh:
        raw = np.load(fh)
    enhanced = np.stack([equalize_adaptive(img, tiles=(2, 2), clip_limit=0.02) for img in raw])
    image_report = quality_report(enhanced, min_contrast=0.05, max_saturated_ratio=0.5)
    stats = batch_stats(enhanced)
    centre = enhanced[:, 5:11, 5:11].mean(axis=(1, 2)) / 255.0
    filled["centre"] = centre - stats["mean"].to_numpy()
    filled["img_contrast"] = stats["contrast"].to_numpy()
    filled.to_csv(features.path, index=False)

    quality.log_metric("rows", float(len(filled)))
    quality.log_metric("tabular_checks_passed", float(report.passed))
    quality.log_metric("image_checks_passed", float(image_report.passed))


def create_model(kind: str, seed: int, model: Output[Model]) -> None:
    """An untrained classifier, saved for the training step."""
    from tabular_helpers import make_classifier, save_model

    save_model(make_classifier(kind, random_state=seed), model.path)  # type: ignore[arg-type]


def train(features: Input[Dataset], model: Input[Model], trained: Output[Model]) -> None:
    """Fit the model created upstream on the first 75 % of rows."""
    import pandas as pd
    from tabular_helpers import load_model, save_model

    frame = pd.read_csv(features.path)
    cut = int(len(frame) * 0.75)
    clf = load_model(model.path)
    clf.fit(frame.drop(columns=["label"]).iloc[:cut], frame["label"].iloc[:cut])
    save_model(clf, trained.path)


def evaluate(features: Input[Dataset], trained: Input[Model], metrics: Output[Metrics],
             plot: Output[dsl.Artifact]) -> float:
    """Metrics on the held-out 25 % and a distribution plot; returns the accuracy."""
    import pandas as pd
    from tabular_helpers import classification_metrics, load_model, plot_distributions, save_figure

    frame = pd.read_csv(features.path)
    cut = int(len(frame) * 0.75)
    test = frame.iloc[cut:]
    clf = load_model(trained.path)
    x = test.drop(columns=["label"])
    scores = classification_metrics(test["label"], clf.predict(x), clf.predict_proba(x)[:, 1])
    for name, value in sorted(scores.items()):
        metrics.log_metric(name, round(float(value), 6))
    save_figure(plot_distributions(frame), plot.path)
    return round(float(scores["accuracy"]), 6)


def build_pipeline(delivery: Delivery, target: str | None = None) -> Callable[..., Any]:
    """The example pipeline with every step's helpers delivered as ``delivery`` says, for
    ``target`` of the lock (None: the delivery's, else each helper's first)."""
    if target is not None:
        delivery = replace(delivery, target=target)
    tab, tab_model, tab_plots = [TABULAR], [f"{TABULAR}[model]"], [f"{TABULAR}[model,plots]"]
    load_c = helper_component(load_data, helpers=tab, delivery=delivery)
    pre_c = helper_component(preprocess, helpers=[TABULAR, VISION], delivery=delivery)
    create_c = helper_component(create_model, helpers=tab_model, delivery=delivery)
    train_c = helper_component(train, helpers=tab_model, delivery=delivery)
    eval_c = helper_component(evaluate, helpers=tab_plots, delivery=delivery)

    on = f" for target {delivery.target}" if delivery.target not in (None, defaults.TARGET_NAME) else ""

    @dsl.pipeline(name=PIPELINE_NAME, description=f"Shared helpers delivered as {delivery.mode}{on}")  # type: ignore[untyped-decorator]
    def helper_example(n_samples: int = 240, seed: int = 7, kind: str = "logistic") -> float:
        data = load_c(n_samples=n_samples, seed=seed)
        pre = pre_c(table=data.outputs["table"], images=data.outputs["images"])
        model = create_c(kind=kind, seed=seed)
        fitted = train_c(features=pre.outputs["features"], model=model.outputs["model"])
        result = eval_c(features=pre.outputs["features"], trained=fitted.outputs["trained"])
        return result.outputs["Output"]  # type: ignore[no-any-return]

    return helper_example  # type: ignore[no-any-return]
