"""Model serving: requests per second of tracklog's scoring server against ``mlflow models serve``.

One small scikit-learn model (a logistic regression on 8 float columns) is saved once with
tracklog (skops format, which MLflow loads with its own ``mlflow.sklearn`` loader), then served
by ``tracklog models serve`` (tracklog target) or ``mlflow models serve --env-manager local``
(MLflow target), each alone on the machine, one worker each, on loopback. The load generator is
one keep-alive HTTP connection sending ``dataframe_split`` bodies back to back for a fixed time
(batch sizes 1 and 1,000 rows) after a warm-up; every response is checked for the right number
of predictions. Requests per second and the median / p99 latency are reported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.procs import free_port, wait_ready
from benchmarks.stats import clock, percentile
from benchmarks.targets import Target
from benchmarks.workloads import Figures, Sizes

__all__ = ["MODEL_WORKLOADS"]

BATCHES = (1, 1000)
COLUMNS = [f"x{i}" for i in range(8)]




def _model(folder: Path) -> Path:
    """The model folder, saved by tracklog (both servers load it)."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from tracklog.models import sklearn as tl_sklearn

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((500, len(COLUMNS))), columns=COLUMNS)
    y = (x.sum(axis=1) > len(COLUMNS) / 2).astype(int)
    path = folder / "model"
    tl_sklearn.save_model(LogisticRegression().fit(x, y), path, input_example=x.head(2))
    return path


def _body(batch: int) -> bytes:
    import numpy as np

    rows = np.random.default_rng(batch).random((batch, len(COLUMNS))).round(6).tolist()
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}}).encode()




def _drive(port: int, body: bytes, batch: int, seconds: float) -> dict[str, float]:
    """Back-to-back requests on one keep-alive connection for `seconds`."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}

    def one() -> int:
        conn.request("POST", "/invocations", body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")
        return len(json.loads(payload)["predictions"])

    for _ in range(20):  # warm-up
        one()
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = clock()
        got = one()
        samples.append((clock() - start) / 1e6)
        if got != batch:
            raise RuntimeError(f"{got} predictions for {batch} rows")
    conn.close()
    samples.sort()
    total_s = sum(samples) / 1e3
    return {"rps": len(samples) / total_s, "median_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99),
            "requests": len(samples)}


def serving(target: Target, sizes: Sizes) -> Figures:
    folder = Path(tempfile.mkdtemp(prefix=f"tracklog-bench-serve-{target.name}-"))
    seconds = sizes.serve_seconds
    try:
        model = _model(folder)
        port = free_port()
        # MLflow starts `uvicorn` by name: the virtualenv's bin folder must be on PATH
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        env = {**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true", "PATH": path}
        if target.library == "mlflow":
            command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model), "-p", str(port),
                       "-h", "127.0.0.1", "--env-manager", "local", "-w", "1"]
        else:
            command = [sys.executable, "-m", "tracklog.cli", "models", "serve", "-m", str(model), "--port", str(port),
                       "--workers", "1"]
        log_file = (folder / "server.log").open("wb")
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        figures: Figures = {"seconds_per_batch_size": seconds}
        try:
            started = clock()
            wait_ready(proc, f"http://127.0.0.1:{port}/ping", 120.0)
            figures["startup_s"] = (clock() - started) / 1e9
            for batch in BATCHES:
                found = _drive(port, _body(batch), batch, seconds)
                figures.update({f"b{batch}_{k}": v for k, v in found.items()})
        except Exception as exc:
            log_file.flush()
            tail = (folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}; server log tail:\n{tail}") from exc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log_file.close()
        return figures
    finally:
        shutil.rmtree(folder, ignore_errors=True)


MODEL_WORKLOADS: dict[str, Any] = {"serving": serving}
