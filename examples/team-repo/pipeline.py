"""The team's pipeline: two steps, one on a released helper by the pin in pins.json, one on the
environment `scoring` (a helper, rich and the team's own `team_scoring`, locked in pins.json).

    python pipeline.py image      # or: package
compiles it to team-scoring-<mode>.yaml and runs it once with kfp.local (Docker).
(No `from __future__ import annotations`: KFP reads the step signatures' types at run time.)
"""

import sys
from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output

from helperhub.pipelines import Delivery, helper_component, run_locally

MODE = sys.argv[1] if len(sys.argv) > 1 else "image"
delivery = Delivery.from_lock("pins.json", mode=MODE)


@helper_component(helpers=["vision-helpers"], delivery=delivery)
def image_features(n: int, seed: int, features: Output[Dataset]) -> None:
    """Low-contrast grey images, enhanced and summarised by the shared vision helpers."""
    import numpy as np
    import pandas as pd
    from vision_helpers import batch_stats, equalize_adaptive

    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    yy, xx = np.mgrid[0:16, 0:16]
    blob = np.exp(-((yy - 7.5) ** 2 + (xx - 7.5) ** 2) / 12.0)
    grey = 0.45 + 0.03 * rng.standard_normal((n, 16, 16)) + 0.05 * label[:, None, None] * blob
    raw = (np.clip(grey, 0.0, 1.0) * 255).astype(np.uint8)
    enhanced = np.stack([equalize_adaptive(img, tiles=(2, 2), clip_limit=0.02) for img in raw])
    stats = batch_stats(enhanced)
    frame = pd.DataFrame({
        "centre": enhanced[:, 5:11, 5:11].mean(axis=(1, 2)) / 255.0 - stats["mean"].to_numpy(),
        "contrast": stats["contrast"].to_numpy(),
        "label": label,
    })
    frame.loc[rng.random(n) < 0.1, "contrast"] = np.nan  # gaps, for the tabular helpers to fill
    frame.to_csv(features.path, index=False)


@helper_component(environment="scoring", delivery=delivery)
def score(features: Input[Dataset]) -> float:
    """Impute, fit and score with the shared tabular helpers and the team's own feature list: the
    cross-validated accuracy, logged with rich."""
    import pandas as pd
    from rich.console import Console
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from tabular_helpers import Imputer
    from team_scoring import FEATURES, summary

    frame = pd.read_csv(features.path)
    filled = Imputer("median").fit(frame, columns=["contrast"]).transform(frame)
    x, y = filled[list(FEATURES)], filled["label"]
    accuracy = float(cross_val_score(LogisticRegression(max_iter=500), x, y, cv=3).mean())
    Console().print(summary(accuracy, len(frame)))
    return accuracy


@dsl.pipeline(name="team-scoring")
def team_scoring(n: int = 120, seed: int = 7) -> float:
    features = image_features(n=n, seed=seed)
    return score(features=features.outputs["features"]).output


if __name__ == "__main__":
    compiler.Compiler().compile(team_scoring, f"team-scoring-{MODE}.yaml")
    accuracy = run_locally(team_scoring, delivery, Path(".runs") / MODE)
    print(f"{MODE}: accuracy {accuracy:.4f}")
