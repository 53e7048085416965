"""Seed a store with what every UI page shows: experiments, runs with params/metrics/tags,
parent and child runs, a running run, a long metric history, artifacts of every preview kind,
a dataset input, system metrics, a logged sklearn model registered with an alias and a prompt
(a registered model that model lists leave out).

    .venv/bin/python -m tests.ui.seed STORE [--long-points N] [--runs N]

Prints a JSON summary (ids and names the browser tests look for) on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from typing import Any


def seed(store: str, *, runs: int = 24, long_points: int = 50_000) -> dict[str, Any]:
    import tracklog
    from tracklog.entities import Metric

    tracklog.set_tracking_uri(store)
    client = tracklog.Client(store)
    rng = random.Random(7)
    t0 = int(time.time() * 1000) - 3_600_000  # histories end before now, so "as of now" shows them
    out: dict[str, Any] = {"store": store}

    vision = client.create_experiment("vision-resnet", tags={"team": "vision"})
    nlp = client.create_experiment("nlp-bert", tags={"team": "nlp"})
    client.create_experiment("scratch")
    out["experiments"] = {"vision-resnet": vision, "nlp-bert": nlp}

    run_ids = []
    for i in range(runs):
        lr = [0.1, 0.01, 0.001][i % 3]
        optimizer = ["adam", "sgd"][i % 2]
        run = client.create_run(vision, run_name=f"resnet-{i:02d}", tags={"team": "vision", "mlflow.user": "ann" if i % 2 else "bob"})
        rid = run.info.run_id
        client.log_batch(rid, params=_params({"lr": lr, "optimizer": optimizer, "layers": 18 + 16 * (i % 3), "seed": i}))
        metrics = []
        for step in range(100):
            loss = math.exp(-lr * 30 * step / 100) * (1 + 0.1 * i / runs) + rng.gauss(0, 0.01)
            metrics.append(Metric(key="loss", value=loss, timestamp=t0 + step * 1000, step=step))
            metrics.append(Metric(key="acc", value=1 - loss / 2, timestamp=t0 + step * 1000, step=step))
        client.log_batch(rid, metrics=metrics)
        client.set_terminated(rid, "FAILED" if i == 5 else "FINISHED")
        run_ids.append(rid)
    out["runs"] = run_ids

    # the run with everything: artifacts, a dataset input, a model, children
    with tracklog.start_run(experiment_id=vision, run_name="best-model",
                            description="The **champion** run: resnet-50 with cosine schedule.") as best:
        bid = best.info.run_id
        tracklog.set_tags({"team": "vision", "mlflow.source.git.commit": "3f2a9c1d0b7e", "stage": "candidate"})
        tracklog.log_params({"lr": 0.01, "optimizer": "adam", "layers": 50, "seed": 99, "schedule": "cosine"})
        for step in range(0, long_points):
            value = 1.0 / (1 + step / 1000) + (5.0 if step == long_points // 2 + 7 else 0.0)  # one spike
            tracklog.log_metric("train_loss", value, step=step, timestamp=t0 + step * 10)
        tracklog.log_metrics({"loss": 0.041, "acc": 0.987})
        for step in range(20):  # what log_system_metrics=True logs, with MLflow's names
            tracklog.log_metrics({"system/cpu_utilization_percentage": 40 + step % 7,
                                  "system/system_memory_usage_megabytes": 2048.0 + step}, step=step)
        _artifacts(tracklog)
        _dataset(tracklog)
        out["model"] = _model(tracklog)
        for j in range(2):
            with tracklog.start_run(run_name=f"fold-{j}", nested=True):
                tracklog.log_params({"fold": j})
                tracklog.log_metric("acc", 0.95 + j / 100)
    out["best_run"] = bid

    running = client.create_run(nlp, run_name="bert-live", tags={"team": "nlp"})
    client.log_batch(running.info.run_id, params=_params({"lr": 3e-5, "optimizer": "adamw"}),
                     metrics=[Metric(key="loss", value=2.0 - s / 100, timestamp=t0 + s * 1000, step=s) for s in range(50)])
    out["running_run"] = running.info.run_id
    client.flush()
    tracklog.flush()
    return out


def _params(values: dict[str, Any]) -> list[Any]:
    from tracklog.entities import Param

    return [Param(key=k, value=str(v)) for k, v in values.items()]


def _artifacts(tracklog: Any) -> None:
    tracklog.log_text("epoch 1: loss 0.9\nepoch 2: loss 0.5\n", "logs/train.log")
    tracklog.log_dict({"batch_size": 64, "augment": ["flip", "crop"], "lr": 0.01}, "config.json")
    tracklog.log_dict({"model": "resnet50", "layers": [3, 4, 6, 3]}, "config.yaml")
    tracklog.log_table({"label": ["cat", "dog", "bird"], "precision": [0.91, 0.88, 0.97]}, "eval/per_class.json")
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "predictions.csv")
        with open(csv, "w") as fh:
            fh.write("id,label,score\n" + "".join(f"{i},{'cat' if i % 2 else 'dog'},{i / 20:.2f}\n" for i in range(20)))
        tracklog.log_artifact(csv, "eval")
    try:
        import numpy as np

        y, x = np.mgrid[0:64, 0:96]
        image = np.stack([(x * 255 // 95), (y * 255 // 63), np.full_like(x, 160)], axis=-1).astype("uint8")
        tracklog.log_image(image, "plots/gradient.png")
    except ImportError:  # pillow/numpy missing: the other previews still show
        pass


def _dataset(tracklog: Any) -> None:
    from tracklog.entities import Dataset

    tracklog.log_input(Dataset(name="cifar10-train", digest="a1b2c3d4", source_type="local",
                               source="/data/cifar10", schema='{"x": "float", "label": "int"}'), context="training")


def _model(tracklog: Any) -> dict[str, Any]:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return {}
    import pandas as pd

    import tracklog.sklearn

    features = pd.DataFrame({"x0": [0.0, 1.0, 0.5, 0.9], "x1": [1.0, 0.0, 0.5, 0.1]})
    clf = LogisticRegression().fit(features, [0, 1, 0, 1])
    name = "resnet-classifier"
    tracklog.sklearn.log_model(clf, name="model", registered_model_name=name, input_example=features.head(2))
    tracklog.sklearn.log_model(clf, name="model-v2", registered_model_name=name)
    client = tracklog.Client()
    client.set_registered_model_alias(name, "champion", 1)
    client.update_registered_model(name, description="Classifies images of cats, dogs and birds.")
    client.set_registered_model_tag(name, "owner", "vision-team")
    client.transition_model_version_stage(name, 1, "Production")
    client.create_registered_model("greeting-prompt", tags={"mlflow.prompt.is_prompt": "true"})  # not a model
    return {"name": name, "alias": "champion", "versions": [1, 2]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--long-points", type=int, default=50_000)
    args = parser.parse_args(argv)
    summary = seed(args.store, runs=args.runs, long_points=args.long_points)
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
