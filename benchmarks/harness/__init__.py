"""The benchmark driver's parts: one engine, data step or report per module (see bench.py)."""
