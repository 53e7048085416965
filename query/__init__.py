"""Ask: the MLflow search grammar compiled to SQL, read-only SQL, result shapes.

Imports `projections` and `eventlog`; never `tracklog`. The full query layer is issue 3's work.
"""

__all__: list[str] = []
