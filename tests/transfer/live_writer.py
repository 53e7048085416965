"""A live writer for the concurrent-sync test: ``python live_writer.py STORE PREFIX RUNS [LATE_EXPERIMENT]``.

Logs RUNS runs into the experiment ``shared`` (made before the syncs start), each with a param,
a tag and 200 points of two metrics flushed in four pieces, so segments keep appearing while the
syncs run; halfway, creates LATE_EXPERIMENT (if given) and logs the rest of its runs there.
"""

from __future__ import annotations

import sys
import time

import tracklog


def main(store: str, prefix: str, runs: int, late: str | None) -> None:
    client = tracklog.Client(store)
    experiment_id = client.get_experiment_by_name("shared").experiment_id
    for i in range(runs):
        if late and i == runs // 2:
            experiment_id = client.create_experiment(late)
        run = client.create_run(experiment_id, run_name=f"{prefix}-{i}")
        client.log_param(run.info.run_id, "i", str(i))
        for piece in range(4):
            for step in range(piece * 50, piece * 50 + 50):
                client.log_metric(run.info.run_id, "loss", 1 / (step + 1), step=step)
                client.log_metric(run.info.run_id, "acc", step / 200, step=step)
            client.flush()
            time.sleep(0.02)
        client.set_tag(run.info.run_id, "writer", prefix)
        client.set_terminated(run.info.run_id)
        client.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
