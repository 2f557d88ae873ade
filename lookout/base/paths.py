"""Where shared assets (model, footage) and caches live.

`LOOKOUT_ASSETS` names the assets folder; without it, `../shared/assets` beside the
repository (the layout of a development checkout) is used, then `../shared/assets`
relative to the working directory. Read at call time, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # lookout/base/paths.py


def assets_dir() -> Path:
    """The shared assets folder (may not exist; callers report a missing file)."""
    env = os.environ.get("LOOKOUT_ASSETS")
    if env:
        return Path(env).expanduser().resolve()
    for candidate in (
        REPO_ROOT.parent / "shared" / "assets",
        Path.cwd().parent / "shared" / "assets",
    ):
        if candidate.is_dir():
            return candidate.resolve()
    return (REPO_ROOT.parent / "shared" / "assets").resolve()


def cache_dir() -> Path:
    """Folder for derived files (e.g. models with a dynamic batch dimension)."""
    env = os.environ.get("LOOKOUT_CACHE")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "lookout"
    return base
