"""Pick the tracking library: the one that launched this run logs it.

`tracklog run` exports TRACKLOG_RUN_ID, `mlflow run` exports MLFLOW_RUN_ID; the script then
resumes that run with the same calls (`import tracklog as mlflow` has MLflow's names). Run by
hand, tracklog is used if installed, else mlflow.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def tracking_library() -> ModuleType:
    if os.environ.get("MLFLOW_RUN_ID") and not os.environ.get("TRACKLOG_RUN_ID"):
        return importlib.import_module("mlflow")
    try:
        return importlib.import_module("tracklog")
    except ImportError:
        return importlib.import_module("mlflow")
