"""Model registry: registering versions and resolving an alias, against MLflow's sqlite registry.

Each target gets a fresh store (tracklog: a local folder; MLflow: ``sqlite:///…``, whose
registry lives in the same database). One registered model; N versions created one by one
with ``Client.create_model_version(name, source)`` (1,000; 200 with ``--quick``; fewer if
`Sizes.registry_budget_s` runs out first — each target records how many), each call timed;
an alias ``champion`` set on the middle version; then the alias resolved M times
(10,000; 1,000 with ``--quick``) two ways, each timed per call:

- ``get_model_version_by_alias(name, "champion")`` — the registry lookup;
- the ``models:/name@champion`` URI turned into the model's location — what every
  ``load_model`` does first (tracklog: ``tracklog.models._store.model_location``; MLflow:
  ``ModelsArtifactRepository.get_underlying_uri``).

MLflow resolves fewer times (a fifth); each of the three loops also stops once it has run
`Sizes.registry_budget_s` seconds (tracklog's registry reads cost tens of ms each: its registry
views are computed from the registry's events at every query). Every N is in the JSON and the
table. Medians and p99s per call, and totals.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.stats import clock, percentile
from benchmarks.targets import Target
from benchmarks.workloads import Figures, Sizes

__all__ = ["REGISTRY_WORKLOADS"]

MODEL = "bench-model"


def _timed_calls(call: Any, n: int, budget_s: float | None = None) -> list[float]:
    """µs of each of `n` calls, stopping early once `budget_s` seconds have passed."""
    samples = []
    began = clock()
    for i in range(n):
        start = clock()
        call(i)
        samples.append((clock() - start) / 1e3)  # µs
        if budget_s is not None and (clock() - began) / 1e9 > budget_s:
            break
    return samples


def _summary(prefix: str, samples: list[float]) -> Figures:
    ordered = sorted(samples)
    return {f"{prefix}_calls": len(samples), f"{prefix}_median_us": percentile(ordered, 50),
            f"{prefix}_p99_us": percentile(ordered, 99), f"{prefix}_total_s": sum(samples) / 1e6}


def registry(target: Target, sizes: Sizes) -> Figures:
    versions = sizes.registry_versions
    resolves = sizes.registry_resolves if target.library == "tracklog" else max(100, sizes.registry_resolves // 5)
    with target.fresh_store():
        os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
        client = target.client()
        client.create_registered_model(MODEL)
        figures: Figures = {}
        created = _timed_calls(lambda i: client.create_model_version(MODEL, f"/models/source-{i}"), versions,
                               budget_s=sizes.registry_budget_s)
        figures.update(_summary("create_version", created))
        versions = len(created)  # fewer than asked if the budget ran out
        figures["versions_requested"] = sizes.registry_versions
        last = client.get_model_version(MODEL, versions)
        if int(last.version) != versions:
            raise RuntimeError(f"version {versions} is {last.version}")
        client.set_registered_model_alias(MODEL, "champion", versions // 2)
        by_alias = _timed_calls(lambda i: client.get_model_version_by_alias(MODEL, "champion"), resolves,
                                budget_s=sizes.registry_budget_s)
        figures.update(_summary("alias_lookup", by_alias))
        if target.library == "tracklog":
            from tracklog.models._store import model_location

            def location(i: int) -> str:
                return model_location(f"models:/{MODEL}@champion", client)
        else:
            from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

            def location(i: int) -> str:
                return str(ModelsArtifactRepository.get_underlying_uri(f"models:/{MODEL}@champion"))

        found = location(0)
        if not found.endswith(f"source-{versions // 2 - 1}"):
            raise RuntimeError(f"models:/{MODEL}@champion resolved to {found}")
        figures.update(_summary("uri_resolve", _timed_calls(location, resolves, budget_s=sizes.registry_budget_s)))
        return figures


REGISTRY_WORKLOADS: dict[str, Any] = {"registry": registry}
