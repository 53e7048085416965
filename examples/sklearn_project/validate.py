"""Entry point `validate`: k-fold cross-validation of the ElasticNet; logs each fold's R² as
a step of the metric `fold_r2`, and their mean."""

from __future__ import annotations

import argparse

from _tracking import tracking_library
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import KFold, cross_val_score

mlflow = tracking_library()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alpha", default="0.5")
    parser.add_argument("--folds", default="5")
    args = parser.parse_args(argv)

    X, y = load_diabetes(return_X_y=True)
    with mlflow.start_run():
        mlflow.log_params({"alpha": args.alpha, "folds": args.folds})
        folds = KFold(n_splits=int(args.folds), shuffle=True, random_state=42)
        scores = cross_val_score(ElasticNet(alpha=float(args.alpha), random_state=42), X, y, cv=folds, scoring="r2")
        for step, score in enumerate(scores):
            mlflow.log_metric("fold_r2", float(score), step=step)
        mlflow.log_metric("mean_r2", float(scores.mean()))
        print(f"{len(scores)}-fold R²: mean {scores.mean():.4f}")


if __name__ == "__main__":
    main()
