"""Benchmarks: `make bench` (python -m tests.bench). See __main__.py for what each figure means.

Helper modules are named bench_*.py so that pytest never collects them.
"""
