"""MLflow endpoints of GenAI features tracklog does not have, answered as MLflow answers a feature
its server lacks: 501 ``NOT_IMPLEMENTED`` naming the feature — not a 404 that reads like a typo.

Evaluation datasets, the AI gateway and its secrets, scorers and online scoring, issues, review
queues and label schemas, prompt optimization (MLflow's prompt lab), webhooks and workspaces
(docs/server.md, "Not implemented"). Tracing is not among them.
"""

from __future__ import annotations

from typing import Any

from tracklog.server.errors import ApiError
from tracklog.server.routing import Access, Call, Route

__all__ = ["FEATURES", "ROUTES"]

# the first segment of the endpoint's path under /api/{2,3}.0/mlflow/ → what the feature is called
FEATURES = {
    "datasets": "Evaluation datasets",
    "gateway": "The AI gateway",
    "gateway-proxy": "The AI gateway",
    "scorers": "Scorers and online scoring",
    "issues": "Issues",
    "review-queues": "Review queues",
    "label-schemas": "Label schemas",
    "prompt-optimization": "Prompt optimization",
    "webhooks": "Webhooks",
    "workspaces": "Workspaces",
}


def not_supported(call: Call, body: Any) -> None:
    feature = call.params.get("feature") or "This feature"
    raise ApiError("NOT_IMPLEMENTED", f"{feature} is not supported by this server (tracklog): see docs/server.md, "
                                      "\"Not implemented\"")


def _handler(feature: str) -> Any:
    def handler(call: Call, body: Any) -> None:
        call.params["feature"] = feature
        not_supported(call, body)

    handler.__name__ = f"not_supported_{feature.split()[-1].lower()}"
    return handler


ROUTES: list[Route] = [
    *(Route(method, f"{segment}{suffix}", None, handler, Access("any"))
      for segment, handler in ((s, _handler(f)) for s, f in FEATURES.items())
      for suffix in ("", "/{rest:path}")
      for method in ("GET", "POST", "PATCH", "PUT", "DELETE")),
    Route("POST", "runs/create-promptlab-run", None, _handler("The prompt lab"), Access("any")),
]
