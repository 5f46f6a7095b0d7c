"""Nexod benchmarks (not tests): platform overhead, runs/s and API latency on SQLite and PostgreSQL.

Run them with ``make bench`` (or ``.venv/bin/python bench/run.py --help``); see ``bench/README.md``.
"""
