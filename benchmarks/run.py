"""The benchmark runner; the same as `lookout bench` (see benchmarks/README.md).

.venv/bin/python benchmarks/run.py --update-readme
"""

from __future__ import annotations

import sys

from lookout.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
