"""`lookout regions`: the plan drawn on a real frame, and what it sees."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lookout.base.paths import REPO_ROOT
from lookout.cli.main import main
from lookout.clips.far_view import far_view_clip


def test_a_small_frame_is_analysed_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.png"
    code = main(
        [
            "regions",
            "--config",
            str(REPO_ROOT / "configs" / "demo.yaml"),
            "--camera",
            "vtest",
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "whole frame letterboxed into 416 px" in text
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (576, 768, 3)


@pytest.mark.slow
def test_a_far_view_gets_crops_around_its_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = far_view_clip(1920, 1080, 1.0, seconds=2.0)
    out = tmp_path / "plan.png"
    cfg = REPO_ROOT / "scenarios" / "configs" / "far-view-1080p.yaml"
    code = main(
        [
            "regions",
            "--config",
            str(cfg),
            "--camera",
            "far",
            "--source",
            str(clip),
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "1 crop(s) per frame" in text and "zone kerb: 1 crop(s)" in text
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (1080, 1920, 3)
    # The crop is drawn (blue-ish pixels around the kerb zone), the zone in orange.
    assert np.any(np.all(img == (255, 160, 0), axis=2))
    assert np.any(np.all(img == (0, 200, 255), axis=2))
