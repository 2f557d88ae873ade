"""Calibration writes: a preset's surveyed point pairs stored in the config file by the
round-trip writer (lookout/config/writer.py), for `lookout calibrate --write` and the
console's calibration on the picture (lookout/console/editor.py)."""

from __future__ import annotations

from pathlib import Path

from lookout.config.app import AppConfig
from lookout.config.writer import ConfigDocument, Written, edit_config, flow
from lookout.zones.settings import CalibrationConfig


def write_calibration(
    config: Path, camera_id: str, preset: str, cal_cfg: CalibrationConfig
) -> Written[AppConfig]:
    """Store the point pairs as `cameras[camera_id].calibration.<preset>` with the round-
    trip writer (also the console's calibration on the picture, lookout/console/editor.py).
    Only the points are stored: the homography is refitted from them when the config is
    loaded (a few milliseconds), so a stored fit could never disagree with them."""
    entry = {
        "points": [
            flow({"image": [_num(v) for v in p.image], "lonlat": [_num(v) for v in p.lonlat]})
            for p in cal_cfg.points
        ]
    }

    def set_calibration(doc: ConfigDocument) -> None:
        index = doc.camera_index(camera_id)
        doc.set(["cameras", index, "calibration", preset], entry, insert_before=["zones"])

    return edit_config(config, set_calibration)


def _num(v: float) -> int | float:
    """40.0 → 40 (as surveyors write pixels), other floats unchanged."""
    return int(v) if float(v).is_integer() else float(v)
