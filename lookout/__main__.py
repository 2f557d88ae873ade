"""`python -m lookout`: the same as the `lookout` command (lookout/cli/main.py)."""

from __future__ import annotations

import sys

from lookout.cli.main import main

sys.exit(main())
