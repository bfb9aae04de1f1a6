"""Benchmarks of huitou and the report they produce (``python -m bench.run`` → ``bench/REPORT.md``)."""
