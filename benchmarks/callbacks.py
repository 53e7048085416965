"""Per-step overhead of tracklog's XGBoost and LightGBM callbacks against a bare training loop.

    python -m benchmarks.callbacks [--rounds N]

Trains the same small model with and without the callback (same data, same rounds), best of a
few repetitions, and reports the extra time per boosting round (the callback logs one metric
point per evaluation per round into a fresh local store).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import numpy as np


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds
    import lightgbm as lgb
    import xgboost as xgb

    import tracklog
    from tracklog.integrations.lightgbm import TracklogCallback as LgbCallback
    from tracklog.integrations.xgboost import TracklogCallback as XgbCallback

    tracklog.set_tracking_uri(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    x = rng.random((200, 5))
    y = (x[:, 0] > 0.5).astype(int)
    dtrain = xgb.DMatrix(x, y)
    xparams = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
    lparams = {"objective": "binary", "num_leaves": 4, "verbose": -1, "num_threads": 1}

    def xgb_run(callbacks: list) -> None:
        xgb.train(xparams, dtrain, rounds, evals=[(dtrain, "train")], verbose_eval=False, callbacks=callbacks)

    def lgb_run(callbacks: list) -> None:
        data = lgb.Dataset(x, y, free_raw_data=False)
        lgb.train(lparams, data, rounds, valid_sets=[data], valid_names=["train"], callbacks=callbacks)

    print(f"{'framework':<10} {'bare ms/round':>14} {'with callback':>14} {'overhead us/round':>18}")
    for name, run, make in (("xgboost", xgb_run, XgbCallback), ("lightgbm", lgb_run, LgbCallback)):
        bare = _best(lambda run=run: run([]))
        logged = _best(lambda run=run, make=make: run([make()]))
        print(f"{name:<10} {bare / rounds * 1e3:>14.3f} {logged / rounds * 1e3:>14.3f} "
              f"{(logged - bare) / rounds * 1e6:>18.1f}")
    tracklog.flush()


if __name__ == "__main__":
    main()
