"""Tracking: the client, its two stores, and the fluent API.

    store.py     `TrackingStore`, what a backend does (MLflow's ``AbstractStore``)
    local.py     `LocalStore`: the event log and its DuckDB catalog (a folder, s3://…, memory://…)
    rest.py      `RestStore`: a tracking server's REST API (tracklog's or MLflow's)
    messages.py  the REST request and reply bodies (replies carry the entities themselves)
    client.py    `Client` (``MlflowClient``): checks arguments, picks the store from the URI once
    fluent.py    MLflow's module-level functions over a `Client`, the active run in a ContextVar
"""

from tracklog.tracking.client import Client, store_for
from tracklog.tracking.local import LocalStore
from tracklog.tracking.rest import RestStore
from tracklog.tracking.store import TrackingStore

__all__ = ["Client", "LocalStore", "RestStore", "TrackingStore", "store_for"]
