"""Slow suite: PySpark in local mode (on Debian's Java runtime) reads a store's live Parquet files,
compacted and not, with no tracklog code, and gets what `search_runs` gives.

Run with ``make test-slow`` (installs PySpark from requirements-slow.lock) or
``pytest -m slow tests/transfer/test_spark_slow.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tracklog
from eventlog import EventLog
from eventlog.compaction import compact

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="make setup-slow installs PySpark (requirements-slow.lock)")
    if shutil.which("java") is None:
        pytest.skip("PySpark needs a Java runtime: apt-get install default-jre-headless")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("tracklog-files")
               .config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _log(store: str, runs: int, prefix: str) -> list[str]:
    client = tracklog.Client(store)
    exp = client.get_experiment_by_name("exp")
    experiment_id = exp.experiment_id if exp is not None else client.create_experiment("exp")
    ids = []
    for i in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"{prefix}{i}").info.run_id
        client.log_param(run_id, "lr", f"0.{i + 1}")
        for step in range(30):
            client.log_metric(run_id, "loss", 1 / (step + 1 + i), step=step)
            client.log_metric(run_id, "acc", step / 30 + i, step=step)
        client.log_metric(run_id, "loss", 5.0 + i, step=3)  # an earlier step logged last: not the latest
        client.set_terminated(run_id)
        client.flush()  # a segment per run: compaction has several to merge
        ids.append(run_id)
    return ids


def test_pyspark_reads_the_live_files_and_agrees_with_search_runs(tmp_path: Path, spark) -> None:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    store = str(tmp_path / "store")
    _log(store, 3, "before")
    log = EventLog.open(store)
    compact(log.store, "metric")  # compacted files beside segments written after
    compact(log.store, "control")
    log.close()
    _log(store, 2, "after")

    # the file lists as a user gets them: `tracklog files URI --stream S`, one per line
    files = {stream: subprocess.run([sys.executable, "-m", "tracklog.cli", "files", store, "--stream", stream],
                                    capture_output=True, text=True, check=True).stdout.split()
             for stream in ("metric", "control")}
    assert files["metric"] and files["control"]
    assert files == tracklog.dataset(store).files

    points = spark.read.parquet(*files["metric"])
    order = Window.partitionBy("run_id", "key").orderBy(F.desc("step"), F.desc("timestamp"), F.desc("value"))
    latest = (points.withColumn("n", F.row_number().over(order)).where("n = 1")
              .select("run_id", "key", "value").collect())
    from_spark: dict[str, dict[str, float]] = {}
    for row in latest:
        from_spark.setdefault(row["run_id"], {})[row["key"]] = row["value"]

    control = spark.read.option("mergeSchema", "true").parquet(*files["control"])
    params = {(r["run_id"], r["key"]): r["value"]
              for r in control.where("kind = 'ParamLogged'").select("run_id", "key", "value").collect()}
    assert points.count() == 5 * 61  # every point once: compaction left no copy behind in the live set

    client = tracklog.Client(store)
    runs = client.search_runs([client.get_experiment_by_name("exp").experiment_id], max_results=100)
    assert len(runs) == 5
    assert from_spark == {r.info.run_id: r.data.metrics for r in runs}
    assert params == {(r.info.run_id, k): v for r in runs for k, v in r.data.params.items()}
