"""Entry point `main`: fit an ElasticNet on scikit-learn's diabetes data (bundled, no download)
and log its parameters and test-set metrics."""

from __future__ import annotations

import argparse

from _tracking import tracking_library
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

mlflow = tracking_library()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # parsed as text and logged as given, so the params equal the ones the runner recorded
    parser.add_argument("--alpha", default="0.5")
    parser.add_argument("--l1-ratio", default="0.1")
    parser.add_argument("--test-size", default="0.25")
    args = parser.parse_args(argv)

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=float(args.test_size), random_state=42)
    with mlflow.start_run() as run:
        mlflow.log_params({"alpha": args.alpha, "l1_ratio": args.l1_ratio, "test_size": args.test_size})
        model = ElasticNet(alpha=float(args.alpha), l1_ratio=float(args.l1_ratio), random_state=42)
        model.fit(X_train, y_train)
        predicted = model.predict(X_test)
        metrics = {
            "rmse": float(mean_squared_error(y_test, predicted) ** 0.5),
            "mae": float(mean_absolute_error(y_test, predicted)),
            "r2": float(r2_score(y_test, predicted)),
        }
        mlflow.log_metrics(metrics)
        mlflow.set_tag("model", "ElasticNet")
        print(f"run {run.info.run_id}: ElasticNet(alpha={args.alpha}, l1_ratio={args.l1_ratio}) "
              + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
