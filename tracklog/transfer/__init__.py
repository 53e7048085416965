"""Moving data in and out of a store: import from MLflow, export to MLflow, sync between stores,
and the live Parquet files for other engines."""

from __future__ import annotations

from tracklog.transfer.mlflow_import import ImportReport, import_mlflow

__all__ = ["ImportReport", "import_mlflow"]
