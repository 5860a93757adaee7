"""Helpers of the load benchmark (`benches/load/bench.py`): processes and /proc (`system`), declarative configs and
clients (`configs`), the report (`report`) and its SVG plot (`plot`)."""
