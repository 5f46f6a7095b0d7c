"""Knowledge-base benchmarks: ``bench/kb.py quality | scale | ingest | all`` (``make bench-kb``)."""

from __future__ import annotations

import sys
from pathlib import Path


def _main() -> int:
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.knowledge.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
