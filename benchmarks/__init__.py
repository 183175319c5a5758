"""Benchmarks of the performance budget: cold start, warm overhead, fleet
economy, footprint and the Secrets Manager write quota.

Scripts, not tests: ``python3 tasks.py bench`` runs ``run_all.py``, which
prints every section and writes ``benchmarks/results.json``. Every
comparison runs both sides in the same run on the same machine.
"""
