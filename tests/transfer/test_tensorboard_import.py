"""`tracklog import tensorboard`: log folders written by TensorBoard's own writer come over, once."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.histogram import summary_v2 as histogram_summary
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

import tracklog
from eventlog import SourceNotFoundError, TransferError, UnsupportedSourceError
from tracklog.cli import main
from tracklog.transfer import _segments, import_tensorboard

BASE = float(int(time.time()) + 1000)  # summaries' wall times (s): after the file_version event each file starts with


class Logs:
    """One event file written by TensorBoard's `EventFileWriter`; remembers every scalar point
    as (run, tag, step, float32 value, wall time in ms)."""

    def __init__(self, folder: Path, run: str, points: list[tuple[str, str, int, float, int]]) -> None:
        self.writer = EventFileWriter(str(folder), max_queue_size=1000, flush_secs=3600)
        self.run = run
        self.points = points
        self.seen: set[str] = set()

    def _event(self, wall: float, step: int, summary: summary_pb2.Summary) -> None:
        self.writer.add_event(event_pb2.Event(wall_time=wall, step=step, summary=summary))

    def scalar(self, tag: str, value: float, step: int, wall: float, *, tensor: bool = False) -> None:
        """`simple_value` as PyTorch's writer makes it, or the scalars plugin's tensor as TF 2's
        (whose metadata comes with a tag's first value only)."""
        if tensor:
            summary = scalar_summary.scalar_pb(tag, value)
            if tag in self.seen:
                summary.value[0].ClearField("metadata")
            self.seen.add(tag)
        else:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        self._event(wall, step, summary)
        self.points.append((self.run, tag, step, float(np.float32(value)), round(wall * 1000)))

    def text(self, tag: str, text: object, step: int, wall: float) -> None:
        self._event(wall, step, text_summary.text_pb(tag, text))

    def hparams(self, values: dict[str, object], wall: float) -> None:
        self._event(wall, 0, hp.hparams_pb(values, start_time_secs=wall))

    def config(self, wall: float) -> None:
        self._event(wall, 0, hp.hparams_config_pb(
            hparams=[hp.HParam("lr", hp.RealInterval(1e-4, 1e-1)), hp.HParam("opt", hp.Discrete(["adam", "sgd"]))],
            metrics=[hp.Metric("val/acc", display_name="Accuracy", dataset_type=hp.Metric.VALIDATION),
                     hp.Metric("loss", group="train", description="cross entropy")],
            time_created_secs=wall))

    def session_end(self, status: int, wall: float) -> None:
        end = plugin_data_pb2.HParamsPluginData(session_end_info=plugin_data_pb2.SessionEndInfo(status=status))
        self._event(wall, 0, summary_pb2.Summary(value=[summary_pb2.Summary.Value(
            tag=hparams_metadata.SESSION_END_INFO_TAG, tensor=hparams_metadata.NULL_TENSOR,
            metadata=hparams_metadata.create_summary_metadata(end))]))

    def close(self) -> None:
        self.writer.close()


def make_logdir(root: Path) -> list[tuple[str, str, int, float, int]]:
    """A hyperparameter search as TF's hparams tutorial lays it out (config at the top, one folder
    per trial), a trial with a nested eval folder written in two files, and text summaries."""
    points: list[tuple[str, str, int, float, int]] = []
    top = Logs(root, "logs", points)
    top.config(BASE)
    top.close()
    for i, (lr, status) in enumerate([(0.01, api_pb2.STATUS_SUCCESS), (0.1, api_pb2.STATUS_FAILURE)]):
        trial = Logs(root / f"trial-{i}", f"trial-{i}", points)
        trial.hparams({"lr": lr, "opt": "adam", "layers": 3, "batch_norm": True}, BASE + 1)
        for step in range(50):
            trial.scalar("loss", 1.0 / (step + 1 + i), step, BASE + 2 + step * 0.25)
            trial.scalar("val/acc", 0.01 * step + i / 3, step, BASE + 2.125 + step * 0.25, tensor=True)
        trial.scalar("loss", float("nan"), 50, BASE + 20.0001)
        trial.text("notes", f"trial **{i}**", 10, BASE + 3)
        trial.text("notes", "again", 10, BASE + 3.5)
        trial.text("table", [["metric", "value"], ["acc", "0.9"]], 49, BASE + 14)
        trial.session_end(status, BASE + 21)
        trial.close()
    for part in range(2):  # a writer reopened: two files in one folder; the restart rewrites step 4
        evaluation = Logs(root / "trial-0" / "eval", "trial-0/eval", points)
        for step in range(5):
            evaluation.scalar("val/loss", step * 1.5 + part, step + 4 * part, BASE + 30 + part * 10 + step)
        evaluation.close()
        time.sleep(0.01)
    (root / "trial-1" / "nothing-here").mkdir()
    return points


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> tuple[Path, list[tuple[str, str, int, float, int]]]:
    root = tmp_path_factory.mktemp("tb") / "logs"
    return root, make_logdir(root)


def _runs(store: str) -> dict[str, Any]:
    client = tracklog.Client(store)
    experiment = client.get_experiment_by_name("logs")
    assert experiment is not None
    return {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}


def _points(store: str) -> list[tuple[str, str, int, float, int]]:
    rows = tracklog.sql("SELECT r.run_name, m.key, m.step, m.value, m.timestamp FROM metrics m "
                        "JOIN runs r USING (run_id)", uri=store).arrow().to_pylist()
    return sorted((r["run_name"], r["key"], r["step"], r["value"], r["timestamp"]) for r in rows)


def _events(store: str) -> dict[str, int]:
    rows = tracklog.sql("SELECT kind, count(*) AS n FROM events GROUP BY kind", uri=store).arrow().to_pylist()
    return {r["kind"]: r["n"] for r in rows}


def _same(a: list[tuple], b: list[tuple]) -> bool:
    """Equal point lists, NaN equal to NaN."""
    def key(p: tuple) -> tuple:
        return tuple("nan" if isinstance(x, float) and math.isnan(x) else x for x in p)
    return sorted(map(key, a)) == sorted(map(key, b))


def test_every_scalar_point_arrives_with_its_step_value_and_wall_time(logdir, tmp_path):
    """simple_value and TF 2 scalar tensors alike, both files of a reopened writer, a rewritten
    step and a NaN: the metrics view holds exactly the points TensorBoard's writer wrote."""
    root, written = logdir
    store = str(tmp_path / "store")
    report = import_tensorboard(str(root), store, progress=False)
    assert _same(_points(store), written)
    assert report.metric_points == len(written) == 2 * 101 + 10
    assert report.runs == 4 and report.experiments == 1


def test_hparams_become_params_and_the_config_keeps_the_metric_definitions(logdir, tmp_path):
    root, _ = logdir
    store = str(tmp_path / "store")
    import_tensorboard(str(root), store, progress=False)
    runs = _runs(store)
    assert runs["trial-0"].data.params == {"lr": "0.01", "opt": "adam", "layers": "3", "batch_norm": "True"}
    assert runs["trial-1"].data.params["lr"] == "0.1"
    assert (runs["trial-0"].info.status, runs["trial-1"].info.status) == ("FINISHED", "FAILED")
    top = runs["logs"]
    assert top.data.tags["tensorboard.hparams.metrics"] == "val/acc,loss"
    local = tracklog.artifacts.download_artifacts(run_id=top.info.run_id, artifact_path="tensorboard/hparams_config.json",
                                                  dst_path=str(tmp_path / "dl"), tracking_uri=store)
    config = json.loads(Path(local).read_text())
    assert [m["name"]["tag"] for m in config["metricInfos"]] == ["val/acc", "loss"]
    assert config["metricInfos"][0]["displayName"] == "Accuracy"
    assert config["metricInfos"][0]["datasetType"] == "DATASET_VALIDATION"
    assert config["metricInfos"][1] == {"name": {"group": "train", "tag": "loss"}, "description": "cross entropy"}
    assert {h["name"] for h in config["hparamInfos"]} == {"lr", "opt"}


def test_folders_map_to_runs_and_nested_folders_to_nested_runs(logdir, tmp_path):
    root, _ = logdir
    store = str(tmp_path / "store")
    import_tensorboard(str(root), store, progress=False)
    runs = _runs(store)
    assert set(runs) == {"logs", "trial-0", "trial-1", "trial-0/eval"}  # no run for a folder without event files
    parent = {name: r.data.tags.get("mlflow.parentRunId") for name, r in runs.items()}
    assert parent == {"logs": None, "trial-0": runs["logs"].info.run_id, "trial-1": runs["logs"].info.run_id,
                      "trial-0/eval": runs["trial-0"].info.run_id}
    assert {name: r.data.tags["tensorboard.run"] for name, r in runs.items()} == {
        "logs": ".", "trial-0": "trial-0", "trial-1": "trial-1", "trial-0/eval": "trial-0/eval"}
    assert runs["trial-0/eval"].info.start_time <= round((BASE + 30) * 1000)
    assert runs["trial-0/eval"].info.end_time == round((BASE + 44) * 1000)
    assert runs["trial-1"].info.start_time <= round((BASE + 1) * 1000)


def test_text_summaries_become_artifacts(logdir, tmp_path):
    root, _ = logdir
    store = str(tmp_path / "store")
    import_tensorboard(str(root), store, progress=False)
    run = _runs(store)["trial-1"]
    dest = tmp_path / "dl"
    tracklog.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="tensorboard/text", dst_path=str(dest),
                                          tracking_uri=store)
    files = {str(p.relative_to(dest / "tensorboard" / "text")): p.read_text() for p in dest.rglob("*.md")}
    assert files == {"notes/step_10.md": "trial **1**", "notes/step_10-2.md": "again",
                     "table/step_49.md": "| metric | value |\n| --- | --- |\n| acc | 0.9 |"}
    rows = tracklog.sql("SELECT run_id, path, sha256 FROM artifacts WHERE path LIKE 'tensorboard/text/%'",
                        uri=store).arrow().to_pylist()
    assert sorted((r["path"], r["sha256"]) for r in rows if r["run_id"] == run.info.run_id) == sorted(
        (f"tensorboard/text/{name}", hashlib.sha256(text.encode()).hexdigest()) for name, text in files.items())


def test_a_second_import_adds_nothing_and_the_import_is_recorded(logdir, tmp_path):
    root, _ = logdir
    store = str(tmp_path / "store")
    import_tensorboard(str(root), store, progress=False)
    before = _events(store)
    again = import_tensorboard(str(root), store, progress=False)
    assert (again.runs, again.runs_skipped, again.segments, again.metric_points) == (0, 4, 0, 0)
    assert _events(store) == before
    record = tracklog.sql("SELECT actor, source, source_kind, runs, metric_points FROM events "
                          "WHERE kind = 'SourceImported'", uri=store).arrow().to_pylist()
    assert record == [{"actor": tracklog.Client(store).store.log.writer.actor, "source": str(root),
                       "source_kind": "tensorboard", "runs": 4, "metric_points": 212}]


def test_a_run_that_grew_comes_again_under_its_run_id_with_each_point_once(tmp_path):
    root = tmp_path / "logs"
    points: list[tuple[str, str, int, float, int]] = []
    first = Logs(root, "logs", points)
    for step in range(10):
        first.scalar("loss", step, step, BASE + step)
    first.close()
    store = str(tmp_path / "store")
    import_tensorboard(str(root), store, progress=False)
    run_id = _runs(store)["logs"].info.run_id
    more = Logs(root, "logs", points)  # training went on: a new file in the same folder
    for step in range(10, 15):
        more.scalar("loss", step, step, BASE + step)
    more.close()
    report = import_tensorboard(str(root), store, progress=False)
    assert report.runs == 1 and report.experiments == 0
    assert [r.info.run_id for r in _runs(store).values()] == [run_id]
    assert _points(store) == sorted(points)


def test_a_run_that_grew_brings_only_what_is_new_each_time(tmp_path):
    """Points appended to an open event file, a text summary, then a new file in the folder: each
    re-import appends the new points, artifact and end time, and nothing twice."""
    root = tmp_path / "logs"
    points: list[tuple[str, str, int, float, int]] = []
    live = Logs(root, "logs", points)
    for step in range(10):
        live.scalar("loss", step, step, BASE + step)
    live.writer.flush()
    store = str(tmp_path / "store")
    import_tensorboard(str(root), store, progress=False)
    for step in range(10, 20):
        live.scalar("loss", step, step, BASE + step, tensor=True)
    live.text("notes", "more", 15, BASE + 15)
    live.writer.flush()
    grown = import_tensorboard(str(root), store, progress=False)
    import_tensorboard(str(root), store, progress=False)
    live.close()
    more = Logs(root, "logs", points)  # training went on: a new file in the same folder
    for step in range(20, 25):
        more.scalar("loss", step, step, BASE + step)
    more.close()
    import_tensorboard(str(root), store, progress=False)
    again = import_tensorboard(str(root), store, progress=False)
    assert _points(store) == sorted(points)
    assert (grown.runs, grown.metric_points, again.runs, again.runs_skipped, again.segments) == (1, 10, 0, 1, 0)
    assert _events(store) == {"ExperimentCreated": 1, "RunStarted": 1, "RunTagSet": 2, "ArtifactLogged": 1,
                              "RunEnded": 3, "MetricLogged": 25, "SourceImported": 3}
    assert _runs(store)["logs"].info.end_time == round((BASE + 24) * 1000)


def test_a_re_import_killed_before_its_record_ends_with_every_event_once(tmp_path, monkeypatch):
    """A re-import stopped after publishing a generation but before recording it: the rerun finds
    the same generation and state, writes the same segments, and nothing lands twice."""
    root = tmp_path / "logs"
    points: list[tuple[str, str, int, float, int]] = []
    first = Logs(root, "logs", points)
    for step in range(10):
        first.scalar("loss", step, step, BASE + step)
    first.close()
    store = str(tmp_path / "store")
    import_tensorboard(str(root), store, progress=False)
    more = Logs(root, "logs", points)
    for step in range(10, 15):
        more.scalar("loss", step, step, BASE + step)
    more.close()

    def killed(self, log, writer, state, note=""):
        writer.flush_control()
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(_segments.Lineage, "finish", killed)
        with pytest.raises(KeyboardInterrupt):
            import_tensorboard(str(root), store, progress=False)
    report = import_tensorboard(str(root), store, progress=False)
    assert (report.runs, report.metric_points, report.segments) == (1, 5, 0)  # its segments were there
    assert _points(store) == sorted(points)
    assert _events(store) == {"ExperimentCreated": 1, "RunStarted": 1, "RunTagSet": 2, "RunEnded": 2,
                              "MetricLogged": 15, "SourceImported": 2}


def test_into_a_named_experiment_the_store_already_has(logdir, tmp_path):
    root, written = logdir
    store = str(tmp_path / "store")
    client = tracklog.Client(store)
    mine = client.create_experiment("mine", artifact_location=str(tmp_path / "elsewhere"))
    client.flush()
    report = import_tensorboard(str(root), store, experiment="mine", progress=False)
    client = tracklog.Client(store)
    runs = client.search_runs([mine])
    assert report.experiments == 0 and len(runs) == 4
    assert all(r.info.artifact_uri.startswith(f"file://{tmp_path / 'elsewhere'}") or
               r.info.artifact_uri.startswith(str(tmp_path / "elsewhere")) for r in runs)
    assert "logs" not in {e.name for e in client.search_experiments()}


def test_a_log_folder_comes_into_a_store_once_whatever_the_experiment(logdir, tmp_path):
    """Run ids derive from the log folder and the run's path: a second import into another
    experiment creates that experiment and finds every run already there."""
    root, _ = logdir
    store = str(tmp_path / "store")
    import_tensorboard(str(root), store, experiment="a", progress=False)
    again = import_tensorboard(str(root), store, experiment="b", progress=False)
    assert (again.experiments, again.runs, again.runs_skipped) == (1, 0, 4)
    client = tracklog.Client(store)
    ids = {e.name: e.experiment_id for e in client.search_experiments()}
    assert len({ids["a"], ids["b"], ids["Default"]}) == 3
    assert len(client.search_runs([ids["a"]])) == 4 and client.search_runs([ids["b"]]) == []


def test_tags_that_are_not_metric_keys_are_renamed_with_a_warning(tmp_path):
    root = tmp_path / "logs"
    logs = Logs(root, "logs", [])
    logs.scalar("loss (train)", 1.0, 0, BASE)
    logs.scalar("acc@1", 0.5, 0, BASE)
    logs.close()
    store = str(tmp_path / "store")
    report = import_tensorboard(str(root), store, progress=False)
    assert sorted(_runs(store)["logs"].data.metrics) == ["acc_1", "loss _train_"]
    assert any("scalar tag 'acc@1' imported as metric 'acc_1'" in w for w in report.warnings)


def test_summaries_without_a_counterpart_are_skipped_and_named(tmp_path):
    root = tmp_path / "logs"
    logs = Logs(root, "logs", [])
    logs.scalar("loss", 1.0, 0, BASE)
    for step in range(3):
        logs._event(BASE + step, step, histogram_summary.histogram_pb("weights", np.arange(10.0) * step))
    logs.writer.add_event(event_pb2.Event(wall_time=BASE, graph_def=b"a graph"))
    logs.close()
    report = import_tensorboard(str(root), str(tmp_path / "store"), progress=False)
    assert report.metric_points == 1
    assert report.warnings == ["run '.': summaries not imported (no tracklog counterpart): 1 graph_def, 3 histograms"]


def _damage(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _one_run(root: Path, steps: int = 20) -> Path:
    logs = Logs(root, "logs", [])
    for step in range(steps):
        logs.scalar("loss", step, step, BASE + step)
    logs.close()
    return next(root.glob("events.out.tfevents.*"))


def test_a_damaged_event_file_stops_the_import_with_an_error_naming_it(tmp_path, capsys):
    root = tmp_path / "logs"
    path = _one_run(root)
    _damage(path, path.stat().st_size // 2)
    store = str(tmp_path / "store")
    with pytest.raises(TransferError, match=f"the event file {path} is damaged at record .* move it out"):
        import_tensorboard(str(root), store, progress=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "tensorboard", str(root), "--store", store])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert f"error: the event file {path} is damaged" in err and "Traceback" not in err


def test_a_file_that_is_not_an_event_file_is_refused(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "events.out.tfevents.123.host").write_text("this is not a TFRecord file, just text that is long enough")
    with pytest.raises(TransferError, match="events.out.tfevents.123.host is damaged at record 1"):
        import_tensorboard(str(root), str(tmp_path / "store"), progress=False)


def test_a_file_cut_short_is_imported_up_to_the_cut_with_a_warning(tmp_path):
    """What a writer killed mid-write leaves: the records before the cut come over."""
    root = tmp_path / "logs"
    path = _one_run(root)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 3)
    store = str(tmp_path / "store")
    report = import_tensorboard(str(root), store, progress=False)
    assert report.metric_points == 19
    assert [w for w in report.warnings if "cut short" in w] == [
        f"{path}: the last record is cut short (its writer stopped mid-write?); the 20 record(s) before it were imported"]


def test_bad_log_folders_are_refused_with_typed_errors(tmp_path, capsys):
    with pytest.raises(SourceNotFoundError, match="no TensorBoard log folder at .*nothing.* is not a folder"):
        import_tensorboard(str(tmp_path / "nothing"), str(tmp_path / "store"))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("x")
    with pytest.raises(SourceNotFoundError, match="no TensorBoard event files .* in .*empty or any folder below it"):
        import_tensorboard(str(tmp_path / "empty"), str(tmp_path / "store"))
    with pytest.raises(UnsupportedSourceError, match="is not a local folder"):
        import_tensorboard("gs://bucket/logs", str(tmp_path / "store"))
    with pytest.raises(SystemExit):
        main(["import", "tensorboard", str(tmp_path / "nothing"), "--store", str(tmp_path / "store")])
    assert "error: no TensorBoard log folder at" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


def test_cli_import_prints_what_came(logdir, tmp_path, capsys):
    root, written = logdir
    store = str(tmp_path / "store")
    main(["import", "tensorboard", str(root), "--store", store, "--experiment", "tb"])
    out = capsys.readouterr().out
    assert f"imported from {root} into" in out
    assert f"1 new experiment(s), 4 run(s) (0 already there), {len(written)} metric point(s), 7 artifact file(s)" in out
    assert len(tracklog.Client(store).search_runs([tracklog.Client(store).get_experiment_by_name("tb").experiment_id])) == 4
    main(["import", "--help"])
    assert "tensorboard  Import a TensorBoard log folder" in capsys.readouterr().out


def test_an_import_killed_halfway_then_rerun_ends_with_every_event_once(tmp_path):
    """SIGKILL a real `tracklog import tensorboard` process mid-way; the rerun completes it exactly once."""
    root = tmp_path / "logs"
    points: list[tuple[str, str, int, float, int]] = []
    for r in range(30):
        logs = Logs(root / f"run-{r:02d}", f"run-{r:02d}", points)
        for step in range(2000):
            logs.scalar("loss", step * 0.5, step, BASE + step)
            logs.scalar("acc", step * 0.25, step, BASE + step, tensor=True)
        logs.close()
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKLOG_")}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    cmd = [sys.executable, "-m", "tracklog.cli", "import", "tensorboard", str(root), "--store", str(store)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    claims = store / "_claims" / "imports"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(os.listdir(claims) if claims.is_dir() else []) < 5:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(os.listdir(claims))
    assert 5 <= done_before < 31, "the import was not killed halfway"
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    totals = tracklog.sql("SELECT count(*) AS n, count(DISTINCT (writer_id, writer_seq)) AS ids FROM events "
                          "WHERE kind = 'MetricLogged'", uri=str(store)).arrow().to_pylist()
    assert totals == [{"n": 30 * 4000, "ids": 30 * 4000}]
    starts = tracklog.sql("SELECT run_id, count(*) AS n FROM events WHERE kind IN ('RunStarted', 'RunEnded') "
                          "GROUP BY run_id", uri=str(store)).arrow().to_pylist()
    assert len(starts) == 30 and {r["n"] for r in starts} == {2}
    assert _points(str(store)) == sorted(points)
