"""MLflow's entity nouns: ``Run``, ``RunInfo``, ``Metric``, ``Experiment``… (frozen Structs)."""

from projections.entities import *  # noqa: F403
from projections.entities import __all__ as __all__  # noqa: PLC0414
