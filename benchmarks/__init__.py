"""Benchmarks: the same workloads against tracklog and MLflow, run with ``python -m benchmarks.run``."""
