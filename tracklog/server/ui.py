"""The web UI (``ui/dist``, built by ``npm run build``), or a page that says how to build it."""

from __future__ import annotations

import os
from typing import Any

from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.staticfiles import StaticFiles

__all__ = ["app"]

_NO_UI = """<!doctype html><meta charset="utf-8"><title>tracklog</title>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>tracklog server</h1>
<p>The tracking API is up (MLflow's REST API under <code>/api/2.0/mlflow/</code>; point MLflow at
this address with <code>mlflow.set_tracking_uri(…)</code>).</p>
<p>The web UI is not built. Build it once with:</p>
<pre>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>then restart the server (it serves <code>ui/dist</code>).</p>
</body>"""


def app(server: Any) -> Any:
    """An ASGI app for every path that is not the API's: the built UI's files, else the notice."""
    if server.ui_dir and os.path.isfile(os.path.join(server.ui_dir, "index.html")):
        return StaticFiles(directory=server.ui_dir, html=True)

    async def no_ui(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] in ("/", "/index.html"):
            response: Any = HTMLResponse(_NO_UI)
        else:
            response = PlainTextResponse("Not Found", status_code=404)
        await response(scope, receive, send)

    return no_ui
