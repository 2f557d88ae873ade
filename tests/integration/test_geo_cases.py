"""Cases on the ground: calibration → location → grid cell, and place-anchored dedup
across cameras with overlapping views, preset revisits and restarts (real footage)."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import pytest

from lookout.base.paths import REPO_ROOT
from lookout.cases.dedup_store import distance_m
from lookout.cases.sinks import SqliteOutbox
from lookout.cli.main import main
from tests.support.config import DEMO, MakeConfig, demo_config
from tests.support.helpers import read_jsonl

# Where the van stands, from the synthetic survey the demo calibration was made with.
VAN_LONLAT = (114.0501430, 22.5402970)


def replay(video: Path, config: Path, out: Path, *extra: str) -> None:
    argv = ["replay", str(video), "--config", str(config), "--out", str(out), "--no-progress"]
    assert main([*argv, *extra]) == 0


def test_every_demo_case_is_located_in_a_grid_cell(demo_replay: Path) -> None:
    cases = read_jsonl(demo_replay / "cases.jsonl")
    assert cases
    for case in cases:
        assert case["location"] is not None
        assert re.fullmatch(r"\d{14}", case["grid_code"])
        assert case["grid_unit"]
    van = cases[0]
    assert van["grid_code"] == "44030510100101" and van["grid_unit"] == "园岭街道城市管理中队"
    lon, lat = van["location"]["lon"], van["location"]["lat"]
    assert distance_m(lon, lat, *VAN_LONLAT) < 3.0


def flipped_clip(src: Path, dst: Path, seconds: float = 40.0) -> Path:
    """The same scene seen by a second camera: vtest mirrored left-right, as H.264."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream("libx264", rate=Fraction(10))
        s_out.width, s_out.height, s_out.pix_fmt = 768, 576, "yuv420p"
        s_out.options = {"preset": "ultrafast", "bf": "0", "g": "10"}
        for i, frame in enumerate(inp.decode(s_in)):
            if i >= seconds * 10:
                break
            img = frame.to_ndarray(format="bgr24")[:, ::-1].copy()
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pts = i
            vf.time_base = Fraction(1, 10)
            out.mux(s_out.encode(vf))
        out.mux(s_out.encode(None))
    return dst


def two_camera_config(tmp_path: Path) -> Path:
    """demo.yaml plus camera `east`: the mirrored view, its zone and calibration mirrored
    too (x -> 768 - x), so both cameras map the van to the same ground point."""
    text = DEMO.read_text()
    head, cams = text.split("cameras:\n", 1)
    cam_block, tail = cams.split("\ncodes:", 1)
    east = cam_block.replace("id: vtest", "id: east").replace("source:", "# source:")

    def mirror(m: re.Match[str]) -> str:
        return f"[{768 - float(m.group(1)):g}, {m.group(2)}]"

    east = re.sub(r"(?<!lonlat: )\[(\d+(?:\.\d+)?), (\d+(?:\.\d+)?)\]", mirror, east)
    out = tmp_path / "two.yaml"
    body = head.replace(
        "geojson: demo-grid.geojson", f"geojson: {REPO_ROOT}/configs/demo-grid.geojson"
    )
    body = body.replace("manifest: ../models/", f"manifest: {REPO_ROOT}/models/")
    out.write_text(f"{body}cameras:\n{cam_block}\n{east}\ncodes:{tail}")
    return out


@pytest.mark.slow
def test_overlapping_cameras_and_a_preset_revisit_make_one_case(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = two_camera_config(tmp_path)
    out = tmp_path / "out"
    vtest = assets / "footage" / "vtest.avi"
    replay(vtest, cfg, out, "--camera", "vtest")
    (first,) = read_jsonl(out / "cases.jsonl")
    # A second camera sees the same van from the other side: no new case.
    east = flipped_clip(vtest, tmp_path / "east.mp4")
    capsys.readouterr()
    replay(east, cfg, out, "--camera", "east")
    summary = capsys.readouterr().out
    # The east camera did see the van (its event was merged), and made no new case.
    assert re.search(r"cases:\s+0 new \(none\); [1-9]\d* repeat events merged", summary), summary
    assert [c["id"] for c in read_jsonl(out / "cases.jsonl")] == [first["id"]]
    # The preset comes round again 5 minutes later and the van is still there
    # (a new process: the dedup store survives restarts): the same case, longer dwell.
    replay(vtest, cfg, out, "--camera", "vtest", "--start", "2026-11-26T09:05:00+08:00")
    outbox = SqliteOutbox.open(out / "cases.db")
    try:
        (case,) = list(outbox.cases())
    finally:
        outbox.close()
    assert case.id == first["id"]
    assert case.last_seen.isoformat().startswith("2026-11-26T09:05:2")
    assert case.dwell_s > 300 > first["dwell_s"]


def test_a_map_zone_is_projected_through_the_calibration(
    assets: Path, tmp_path: Path, make_config: MakeConfig
) -> None:
    demo = demo_config()
    zone = demo["cameras"][0]["zones"][0]
    del zone["polygon"]
    # A no-parking kerb given on the map: about 8 m x 5 m around where the van stands.
    lon, lat = VAN_LONLAT
    dlon, dlat = 4 / 102_700, 2.5 / 111_195
    zone["ground_polygon"] = [
        [lon - dlon, lat - dlat],
        [lon + dlon, lat - dlat],
        [lon + dlon, lat + dlat],
        [lon - dlon, lat + dlat],
    ]
    demo["cameras"][0]["zones"] = [zone]
    cfg = make_config(name="map-zone.yaml", **demo)
    replay(assets / "footage" / "vtest.avi", cfg, tmp_path / "out")
    (case,) = read_jsonl(tmp_path / "out" / "cases.jsonl")
    assert case["zone_id"] == "no-parking-building"
    # Within the dedup radius of the van (the box drawn on another frame varies a little).
    assert distance_m(case["location"]["lon"], case["location"]["lat"], *VAN_LONLAT) < 5.0
    # Without a calibration the map zone cannot be placed: one line, exit 2.
    del demo["cameras"][0]["calibration"]
    cfg = make_config(name="map-zone.yaml", **demo)
    argv = ["replay", str(assets / "footage" / "vtest.avi"), "--config", str(cfg)]
    assert main([*argv, "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
