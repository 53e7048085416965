"""tracklog's errors (defined in `eventlog.errors`, the bottom layer); see there for the tree."""

from eventlog.errors import *  # noqa: F403
from eventlog.errors import __all__ as __all__  # noqa: PLC0414
