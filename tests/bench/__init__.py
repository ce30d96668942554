"""`make bench`: sumflow's HTTP API against plain Celery calls on the same workers, in one run.

Run it with ``python -m tests.bench`` (see ``--help``). It starts its own Redis, a worker and
the API exactly as ``make run`` does, runs every scenario through both paths interleaved
(API, raw, API, raw, ...), prints a table, writes ``bench-results.json`` and ends with one
``ratio NAME VALUE`` line per target. No file here is named ``test_*.py``: pytest never
collects the benchmark.
"""
