"""Benchmarks against reference implementations; `python -m bench` writes bench/results.*."""
