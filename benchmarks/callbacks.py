"""Per-step overhead of tracklog's callbacks against a bare training loop.

    python -m benchmarks.callbacks [--rounds N] [--steps N] [--only xgboost,lightgbm,lightning,transformers,keras]

For each framework that is installed, trains the same small model with and without tracklog's
callback (same data, same steps; best of a few repetitions) and reports the extra time per
step — the callback logs every value the framework reports at every step into a fresh local
store. XGBoost and LightGBM: one point per evaluation per boosting round. Lightning
(``TracklogLogger``, ``log_every_n_steps=1``), Transformers (``TracklogCallback``,
``logging_steps=1``) and Keras (``TracklogCallback(log_every_n_steps=1)``, torch backend): a
tiny model on CPU, one optimizer step per batch, 1 thread.

Whole-loop differences are small next to a training step and carry its noise (a negative
figure means "lost in it"), so the callback's own method is also timed alone: the cost of one
step's logging call (``log_metrics``/``on_log``/``on_train_batch_end`` with the values that
framework passes), best of several thousand calls.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _per_call(fn: Callable[[int], object], calls: int = 5000, repeat: int = 3) -> float:
    """Seconds per call of fn(step), best of `repeat` runs of `calls` calls."""
    best = float("inf")
    for r in range(repeat):
        start = time.perf_counter()
        for i in range(calls):
            fn(r * calls + i)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


# ---- boosting ----------------------------------------------------------------------------------


def _boosting(rounds: int) -> list[tuple[str, float, float, float | None]]:
    import lightgbm as lgb
    import xgboost as xgb

    from tracklog.integrations.lightgbm import TracklogCallback as LgbCallback
    from tracklog.integrations.xgboost import TracklogCallback as XgbCallback

    rng = np.random.default_rng(0)
    x = rng.random((200, 5))
    y = (x[:, 0] > 0.5).astype(int)
    dtrain = xgb.DMatrix(x, y)
    xparams = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
    lparams = {"objective": "binary", "num_leaves": 4, "verbose": -1, "num_threads": 1}

    def xgb_run(callbacks: list[Any]) -> None:
        xgb.train(xparams, dtrain, rounds, evals=[(dtrain, "train")], verbose_eval=False, callbacks=callbacks)

    def lgb_run(callbacks: list[Any]) -> None:
        data = lgb.Dataset(x, y, free_raw_data=False)
        lgb.train(lparams, data, rounds, valid_sets=[data], valid_names=["train"], callbacks=callbacks)

    out = []
    for name, run, make in (("xgboost", xgb_run, XgbCallback), ("lightgbm", lgb_run, LgbCallback)):
        bare = _best(lambda run=run: run([]))
        logged = _best(lambda run=run, make=make: run([make()]))
        out.append((name, bare / rounds, logged / rounds, None))
    return out


# ---- Lightning ---------------------------------------------------------------------------------


def _lightning(steps: int) -> tuple[str, float, float, float]:
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import tracklog
    from tracklog.integrations.lightning import TracklogLogger

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.save_hyperparameters({"lr": 0.05})
            self.net = torch.nn.Linear(8, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x).squeeze(-1), y)
            self.log("train_loss", loss)
            self.log("lr", 0.05)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.05)

    x = torch.rand(steps * 4, 8)
    loader = DataLoader(TensorDataset(x, x.sum(1)), batch_size=4)

    def fit(logger: Any) -> None:
        trainer = pl.Trainer(max_epochs=1, logger=logger, log_every_n_steps=1, accelerator="cpu",
                             enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
        trainer.fit(Tiny(), loader)

    bare = _best(lambda: fit(False), 3)
    logged = _best(lambda: fit(TracklogLogger()), 3)
    with tracklog.start_run():
        logger = TracklogLogger()
        value = torch.tensor(0.5)
        alone = _per_call(lambda step: logger.log_metrics({"train_loss": value, "lr": 0.05, "epoch": 0.0}, step))
    return "lightning", bare / steps, logged / steps, alone


# ---- Transformers ------------------------------------------------------------------------------


def _transformers(steps: int) -> tuple[str, float, float, float]:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback, TrainerControl, TrainerState

    import tracklog
    from tracklog.integrations.transformers import TracklogCallback

    class Tokens(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __init__(self, n: int) -> None:
            self.ids = torch.randint(1, 40, (n, 8), generator=torch.Generator().manual_seed(0))

        def __len__(self) -> int:
            return len(self.ids)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.ids[i], "labels": int(self.ids[i, 0] > 20)}

    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16, num_labels=2)
    data = Tokens(steps * 4)
    tmp = tempfile.mkdtemp()

    def train(callbacks: list[Any]) -> None:
        args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=4, num_train_epochs=1, logging_steps=1,
                                 save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
        trainer = Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=data, callbacks=callbacks)
        trainer.remove_callback(PrinterCallback)  # disable_tqdm's printing of every log: not what is measured
        trainer.train()

    bare = _best(lambda: train([]), 3)
    logged = _best(lambda: train([TracklogCallback()]), 3)
    with tracklog.start_run():
        callback, state = TracklogCallback(), TrainerState()
        callback.run.start()
        logs = {"loss": 0.69, "grad_norm": 1.2, "learning_rate": 5e-5, "epoch": 0.1}

        def on_log(step: int) -> None:
            state.global_step = step
            callback.on_log(None, state, TrainerControl(), logs=logs)

        alone = _per_call(on_log)
    return "transformers", bare / steps, logged / steps, alone


# ---- Keras -------------------------------------------------------------------------------------


def _keras(steps: int) -> tuple[str, float, float, float]:
    import keras

    import tracklog
    from tracklog.integrations.keras import TracklogCallback

    x = np.random.default_rng(0).random((steps * 4, 8)).astype("float32")
    y = (x[:, 0] > 0.5).astype("float32")

    def fit(callbacks: list[Any]) -> None:
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=callbacks)

    bare = _best(lambda: fit([]), 3)
    logged = _best(lambda: fit([TracklogCallback(log_every_n_steps=1)]), 3)
    with tracklog.start_run():
        callback = TracklogCallback(log_every_n_steps=1)
        callback.run.start()
        logs = {"loss": 0.69, "accuracy": 0.5}
        alone = _per_call(lambda step: callback.on_train_batch_end(step, logs))
    return "keras", bare / steps, logged / steps, alone


RUNNERS: dict[str, Callable[[argparse.Namespace], list[tuple[str, float, float, float | None]]]] = {
    "boosting": lambda a: _boosting(a.rounds),
    "lightning": lambda a: [_lightning(a.steps)],
    "transformers": lambda a: [_transformers(a.steps)],
    "keras": lambda a: [_keras(a.steps)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="boosting rounds (XGBoost, LightGBM)")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps (Lightning, Transformers, Keras)")
    parser.add_argument("--only", default="boosting,lightning,transformers,keras")
    args = parser.parse_args()
    import logging
    import warnings

    import tracklog

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    tracklog.set_tracking_uri(tempfile.mkdtemp())
    steps = {"xgboost": args.rounds, "lightgbm": args.rounds}
    print(f"{'framework':<13} {'bare ms/step':>13} {'with callback':>14} {'overhead us/step':>17} {'call alone us':>14} "
          f"{'fixed ms/fit':>13}")
    for name in args.only.split(","):
        try:
            rows = RUNNERS[name](args)
        except ImportError as exc:
            print(f"{name:<13} skipped: {exc}")
            continue
        for framework, bare, logged, alone in rows:
            # what the whole fit's overhead holds besides `steps` logging calls: starting and
            # ending the run, its params (one read of the run), the callback's set-up
            n = steps.get(framework, args.steps)
            alone_text = f"{alone * 1e6:>14.1f} {((logged - bare) - alone) * n * 1e3:>13.1f}" if alone is not None else ""
            print(f"{framework:<13} {bare * 1e3:>13.3f} {logged * 1e3:>14.3f} {(logged - bare) * 1e6:>17.1f} {alone_text}")
    tracklog.flush()


if __name__ == "__main__":
    main()
