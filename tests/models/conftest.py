"""Small fitted models and example frames shared by the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracklog.models.pyfunc import PythonModel


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.random(40), "b": rng.random(40)})
    return x


@pytest.fixture(scope="session")
def classifier(frame):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame, (frame.a + frame.b > 1).astype(int))


class Scale(PythonModel):
    """Multiplies column a by a factor read from an artifact file in load_context."""

    def load_context(self, context):
        with open(context.artifacts["factor"]) as f:
            self.factor = float(f.read())

    def predict(self, context, model_input, params=None):
        shift = (params or {}).get("shift", 0.0)
        return model_input["a"] * self.factor + shift


@pytest.fixture
def scale_model(tmp_path):
    factor = tmp_path / "factor.txt"
    factor.write_text("3")
    return Scale(), {"factor": str(factor)}
