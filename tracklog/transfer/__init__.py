"""Moving data in and out of a store: import from MLflow and TensorBoard, export to MLflow, sync between stores,
and the live Parquet files for other engines."""

from __future__ import annotations

from tracklog.transfer.files import StoreFiles, dataset, live_file_uris
from tracklog.transfer.mlflow_export import ExportReport, export_mlflow
from tracklog.transfer.mlflow_import import ImportReport, import_mlflow
from tracklog.transfer.sync import SyncReport, sync
from tracklog.transfer.tensorboard_import import import_tensorboard

__all__ = ["ExportReport", "ImportReport", "StoreFiles", "SyncReport", "dataset", "export_mlflow", "import_mlflow", "import_tensorboard", "live_file_uris", "sync"]
