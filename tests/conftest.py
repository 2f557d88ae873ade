from __future__ import annotations

from pathlib import Path

import pytest

from lookout.assets import assets_dir


@pytest.fixture(scope="session")
def assets() -> Path:
    path = assets_dir()
    if not (path / "models" / "yolox_nano.onnx").is_file():
        pytest.fail(f"shared assets not found at {path}; set LOOKOUT_ASSETS")
    return path


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    import os

    os.environ.setdefault("LOOKOUT_CACHE", str(tmp_path_factory.mktemp("cache")))
