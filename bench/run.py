"""Run the Nexod benchmarks: ``make bench`` or ``.venv/bin/python bench/run.py [--quick] [--backend ...]``."""

from __future__ import annotations

import sys
from pathlib import Path


def _main() -> int:
    # Run as a script, this file's folder is on sys.path, not the repository root, which the
    # `bench` package and `tests.servers` live under.
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
