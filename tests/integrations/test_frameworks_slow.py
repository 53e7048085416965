"""The slow suite's integrations: tracklog's Lightning logger, Transformers callback and Keras
callback with the real frameworks, training tiny models on CPU (a Transformers model built from
a config: nothing is downloaded). Needs ``pip install -e '.[slow]'``; run with
``pytest -m slow tests/integrations/test_frameworks_slow.py``."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported: no TensorFlow here

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tracklog  # noqa: E402

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _quiet_and_undone(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    torch.manual_seed(0)
    yield
    tracklog.autolog(disable=True)


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    x = rng.random((64, 4)).astype("float32")
    return x, (x[:, 0] + 0.5 * x[:, 2] > 0.7).astype("float32")


def _steps(run_id: str, key: str) -> list[int]:
    return [m.step for m in tracklog.Client().get_metric_history(run_id, key)]


def _artifacts(run_id: str, path: str) -> list[str]:
    return [f.path for f in tracklog.Client().list_artifacts(run_id, path)]


# ---- PyTorch Lightning -----------------------------------------------------------------------


def _lightning_module(pl):
    class Tiny(pl.LightningModule):
        def __init__(self, lr: float = 0.1, hidden: int = 4, optimizer: dict | None = None) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

        def _loss(self, batch):
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x).squeeze(-1), y)

        def training_step(self, batch, batch_idx):
            loss = self._loss(batch)
            self.log("train_loss", loss)
            self.log("train/acc@1", 1.0 - loss.detach())  # an MLflow-unsafe name, made safe
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", self._loss(batch))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return Tiny


def _loaders(xy):
    from torch.utils.data import DataLoader, TensorDataset

    x, y = (torch.from_numpy(a) for a in xy)
    return (DataLoader(TensorDataset(x[:48], y[:48]), batch_size=8),
            DataLoader(TensorDataset(x[48:], y[48:]), batch_size=8))


def test_lightning_logger(tracking_uri, xy, tmp_path) -> None:
    """Hyperparameters (nested ones flattened) as params, every `self.log` value at the trainer's
    step, the checkpoints as artifacts, and the run it started FINISHED when training ends."""
    pl = pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.callbacks import ModelCheckpoint

    from tracklog.integrations.lightning import TracklogLogger

    logger = TracklogLogger(run_name="tiny", log_model=True)
    trainer = pl.Trainer(max_epochs=2, logger=logger, log_every_n_steps=1, accelerator="cpu",
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path),
                         callbacks=[ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), monitor="val_loss", save_top_k=1)])
    trainer.fit(_lightning_module(pl)(optimizer={"name": "sgd", "momentum": 0.0}), *_loaders(xy))
    run = tracklog.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny"
    assert run.data.params["lr"] == "0.1" and run.data.params["hidden"] == "4"
    assert run.data.params["optimizer.name"] == "sgd"
    assert _steps(logger.run_id, "train_loss") == list(range(12))  # 6 batches x 2 epochs, one point per step
    assert len(_steps(logger.run_id, "val_loss")) == 2 and "train/acc_at_1" in run.data.metrics
    assert "epoch" in run.data.metrics
    checkpoints = _artifacts(logger.run_id, "checkpoints")
    assert checkpoints and all(p.endswith(".ckpt") for p in checkpoints)


def test_lightning_autolog_and_a_failing_fit(tracking_uri, xy, tmp_path) -> None:
    """`tracklog.autolog()` gives a `Trainer` without a logger tracklog's; a fit that raises
    leaves its run FAILED."""
    pl = pytest.importorskip("lightning.pytorch")
    tracklog.autolog(frameworks=["lightning"], log_models=False)
    trainer = pl.Trainer(max_epochs=1, log_every_n_steps=1, accelerator="cpu", enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, default_root_dir=str(tmp_path))
    trainer.fit(_lightning_module(pl)(), *_loaders(xy))
    (run,) = tracklog.search_runs(output_format="list")
    assert run.info.status == "FINISHED" and "train_loss" in run.data.metrics and run.data.params["lr"] == "0.1"

    Tiny = _lightning_module(pl)

    class Broken(Tiny):
        def training_step(self, batch, batch_idx):
            if batch_idx == 2:
                raise RuntimeError("boom")
            return super().training_step(batch, batch_idx)

    trainer = pl.Trainer(max_epochs=1, log_every_n_steps=1, accelerator="cpu", enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, default_root_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(Broken(), *_loaders(xy))
    statuses = sorted(r.info.status for r in tracklog.search_runs(output_format="list"))
    assert statuses == ["FAILED", "FINISHED"]


# ---- Transformers ----------------------------------------------------------------------------


def _tiny_bert():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16, num_labels=2)
    return BertForSequenceClassification(config)


class _Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(n)
        self.ids = torch.randint(1, 40, (n, 8), generator=g)
        self.labels = (self.ids[:, 0] > 20).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(8, dtype=torch.long), "labels": self.labels[i]}


def _training_args(tmp_path, **kw):
    from transformers import TrainingArguments

    settings = {"per_device_train_batch_size": 8, "num_train_epochs": 2, "learning_rate": 1e-3, "logging_steps": 1,
                "save_strategy": "epoch", "eval_strategy": "epoch", "report_to": [], "use_cpu": True,
                "disable_tqdm": True, "seed": 0}
    return TrainingArguments(output_dir=str(tmp_path / "out"), **{**settings, **kw})


def test_transformers_callback(tracking_uri, tmp_path) -> None:
    """Training arguments and the model's config as params, every logged value at the global
    step, each checkpoint folder as artifacts, inside the caller's active run."""
    pytest.importorskip("transformers")
    from transformers import Trainer

    from tracklog.integrations.transformers import TracklogCallback

    with tracklog.start_run() as active:
        trainer = Trainer(model=_tiny_bert(), args=_training_args(tmp_path), train_dataset=_Tokens(32),
                          eval_dataset=_Tokens(8), callbacks=[TracklogCallback(log_checkpoints=True)])
        trainer.train()
        assert tracklog.active_run() is not None  # the caller's run is the caller's to end
    run = tracklog.get_run(active.info.run_id)
    params = run.data.params
    assert params["learning_rate"] == "0.001" and params["num_train_epochs"] == "2" and params["hidden_size"] == "16"
    assert _steps(run.info.run_id, "loss") == list(range(1, 9))  # 4 steps x 2 epochs, logging_steps=1
    assert _steps(run.info.run_id, "eval_loss") == [4, 8]
    assert "learning_rate" in run.data.metrics and "train_runtime" in run.data.metrics
    folders = _artifacts(run.info.run_id, "checkpoints")
    assert folders == ["checkpoints/checkpoint-4", "checkpoints/checkpoint-8"]
    files = {p.rsplit("/", 1)[-1] for p in _artifacts(run.info.run_id, "checkpoints/checkpoint-8")}
    assert {"config.json", "model.safetensors"} <= files


def test_transformers_autolog(tracking_uri, tmp_path) -> None:
    pytest.importorskip("transformers")
    tracklog.autolog(frameworks=["transformers"], log_models=False)
    from transformers import Trainer

    Trainer(model=_tiny_bert(), args=_training_args(tmp_path, num_train_epochs=1, eval_strategy="no", save_strategy="no"),
            train_dataset=_Tokens(16)).train()
    (run,) = tracklog.search_runs(output_format="list")
    assert run.info.status == "FINISHED" and _steps(run.info.run_id, "loss") == [1, 2]


# ---- Keras (torch backend) -------------------------------------------------------------------


def _keras_model(keras):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_keras_callback(tracking_uri, xy) -> None:
    """The fit's settings and the optimizer's as params, epoch values at step = epoch, batch
    values every n batches, and the model as ``model/model.keras``, loadable by Keras."""
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "torch"
    from tracklog.integrations.keras import TracklogCallback

    x, y = xy
    model = _keras_model(keras)
    callback = TracklogCallback(log_every_n_steps=2, log_model=True)
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[callback])
    run = tracklog.get_run(callback.run.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["epochs"] == "3" and run.data.params["optimizer.learning_rate"] == "0.01"
    assert _steps(run.info.run_id, "loss") == [0, 1, 2] and _steps(run.info.run_id, "val_accuracy") == [0, 1, 2]
    assert _steps(run.info.run_id, "batch_loss") == [2, 4, 6, 8]  # 3 batches x 3 epochs, every 2nd
    local = tracklog.Client().download_artifacts(run.info.run_id, "model/model.keras")
    loaded = keras.saving.load_model(local)
    assert np.allclose(loaded.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0))


def test_keras_autolog_in_an_active_run(tracking_uri, xy) -> None:
    keras = pytest.importorskip("keras")
    tracklog.autolog(frameworks=["keras"], log_models=False)
    x, y = xy
    with tracklog.start_run() as active:
        _keras_model(keras).fit(x, y, epochs=2, batch_size=32, verbose=0)
        assert tracklog.active_run() is not None
    run = tracklog.get_run(active.info.run_id)
    assert _steps(run.info.run_id, "accuracy") == [0, 1] and run.data.params["batch_size"] == "32"


def test_a_failing_fit_ends_its_run_failed_under_autolog(tracking_uri, xy, tmp_path) -> None:
    """Keras and Transformers call no callback when a fit raises: under autolog the run the
    callback started ends FAILED, and the next fit gets a run of its own."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("transformers")
    from transformers import Trainer, TrainerCallback

    tracklog.autolog(frameworks=["keras", "transformers"], log_models=False)

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("keras boom")

    x, y = xy
    with pytest.raises(RuntimeError, match="keras boom"):
        _keras_model(keras).fit(x, y, epochs=2, verbose=0, callbacks=[Boom()])
    _keras_model(keras).fit(x, y, epochs=1, verbose=0)

    class TrainerBoom(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            raise RuntimeError("trainer boom")

    trainer = Trainer(model=_tiny_bert(), args=_training_args(tmp_path, eval_strategy="no", save_strategy="no"),
                      train_dataset=_Tokens(16), callbacks=[TrainerBoom()])
    with pytest.raises(RuntimeError, match="trainer boom"):
        trainer.train()
    assert tracklog.active_run() is None
    runs = tracklog.search_runs(output_format="list", order_by=["attributes.start_time"])
    assert [r.info.status for r in runs] == ["FAILED", "FINISHED", "FAILED"]
