"""MLflow -> tracklog -> MLflow: every field MLflow stores comes back, entity by entity, read
through MLflow's own client on both sides (runs matched by the ``tracklog.run_id`` tag, since
MLflow mints new run ids)."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.transfer import compare
from tracklog.transfer import export_mlflow, import_mlflow


def _round_trip(source: str, tmp_path) -> tuple[MlflowClient, MlflowClient]:
    store = str(tmp_path / "store")
    import_mlflow(source, store, progress=False)
    # back into the same kind of MLflow store: its sqlite store keeps no NaN in logged models'
    # metrics (reads 0.0), its file store does
    back = f"sqlite:///{tmp_path / 'back' / 'mlflow.db'}" if source.startswith("sqlite:") else str(tmp_path / "back")
    export_mlflow(store, back, progress=False)
    return MlflowClient(source, registry_uri=source), MlflowClient(back, registry_uri=back)


def test_round_trip_keeps_experiments_and_runs(mlflow_source, tmp_path):
    src, back = _round_trip(mlflow_source, tmp_path)
    # creation times: MLflow's API sets an experiment's creation time itself, and takes none
    assert compare.experiments(back, ViewType.ALL, times=False) == compare.experiments(src, ViewType.ALL, times=False)
    assert compare.runs(back, ViewType.ALL, key=lambda r: r.data.tags["tracklog.run_id"]) \
        == compare.runs(src, ViewType.ALL)


def test_round_trip_keeps_the_registry_and_logged_models(mlflow_source, tmp_path):
    src, back = _round_trip(mlflow_source, tmp_path)
    assert compare.registry(back) == compare.registry(src)
    assert compare.logged_models(back, ViewType.ALL, artifacts=True) \
        == compare.logged_models(src, ViewType.ALL, artifacts=True)
