"""Moving data in and out of a store: import from MLflow, export to MLflow, sync between stores,
and the live Parquet files for other engines."""

from __future__ import annotations

from tracklog.transfer.files import StoreFiles, dataset, live_file_uris
from tracklog.transfer.mlflow_import import ImportReport, import_mlflow
from tracklog.transfer.sync import SyncReport, sync

__all__ = ["ImportReport", "StoreFiles", "SyncReport", "dataset", "import_mlflow", "live_file_uris", "sync"]
