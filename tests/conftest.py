from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lookout.base.paths import REPO_ROOT, assets_dir

if TYPE_CHECKING:
    from lookout.detector.onnx_model import OnnxDetector

YOLOX_MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"
DEMO = REPO_ROOT / "configs" / "demo.yaml"


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


@pytest.fixture(scope="session")
def yolox_detector(assets: Path) -> OnnxDetector:
    """The detector `lookout replay` builds for models/yolox_nano.yaml with the default
    model settings (CPU, batch 4, confidence 0.25, NMS IoU 0.45, warmed up), built once
    per test session. Shared: do not change its thresholds; a test that needs another
    model or other settings builds its own."""
    from lookout.config.app import AppConfig
    from lookout.runtime.services import build_detector

    cfg = AppConfig.model_validate(
        {"model": {"manifest": str(YOLOX_MANIFEST)}, "cameras": [{"id": "cam"}]}
    )
    return build_detector(cfg, "tests/conftest.py")


@pytest.fixture(scope="session")
def demo_replay(assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`lookout replay vtest.avi --config configs/demo.yaml`, run once per session: its
    output folder (cases.jsonl, cases.db, evidence/). Read only: a test that replays into
    it again, or changes it, works on a copy (`shutil.copytree`)."""
    from lookout.cli.main import main

    out = tmp_path_factory.mktemp("demo-replay")
    video = assets / "footage" / "vtest.avi"
    code = main(["replay", str(video), "--config", str(DEMO), "--out", str(out), "--no-progress"])
    assert code == 0, f"lookout replay of the demo exited with {code}"
    return out
