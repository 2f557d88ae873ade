"""The daemon in keyframes mode on RTSP streams shaped as cameras send them: the
parking case by dwell + 2 s from each camera's first frame, at the configured rate
(issue: keyframes mode was blind on multi-slice and long-GOP streams)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lookout.daemon.service import Daemon
from tests.support.config import MakeConfig
from tests.support.helpers import wait_until
from tests.support.media import CLIP_SHAPES, start_rtsp_server, vtest_clip

pytestmark = [pytest.mark.slow, pytest.mark.timing]

# The kerb in front of the building where the white van (and a car) stand all clip.
VAN_ZONE = [[600, 62], [730, 62], [730, 118], [600, 118]]
DWELL_S = 20.0
SHAPES = ["slices4", "hevc", "audio", "gop10", "irregular"]


def camera(cam_id: str, url: str) -> dict[str, Any]:
    return {
        "id": cam_id,
        "source": url,
        "analysis_fps": 1,
        "stream": {"analysis_mode": "keyframes", "backoff": {"initial_s": 0.2, "max_s": 1}},
        "zones": [
            {
                "id": "kerb",
                "polygon": VAN_ZONE,
                "policies": [
                    {
                        "type": "illegal_parking",
                        "classes": ["car", "truck", "bus"],
                        "dwell_s": DWELL_S,
                    }
                ],
            }
        ],
    }


def test_keyframes_mode_finds_the_van_on_every_camera_shape(make_config: MakeConfig) -> None:
    clips = {shape: vtest_clip(**CLIP_SHAPES[shape]) for shape in SHAPES}
    with (
        # SPS/PPS before every slice: multi-slice keyframes reach FFmpeg split.
        start_rtsp_server({"/slices4": clips["slices4"]}, params_per_slice=True) as split,
        start_rtsp_server({f"/{s}": clips[s] for s in SHAPES if s != "slices4"}) as server,
    ):
        urls = {s: (split if s == "slices4" else server).url(f"/{s}") for s in SHAPES}
        cfg = make_config(
            [camera(s, urls[s]) for s in SHAPES],
            site={"timezone": "Asia/Shanghai"},
            model={"batch_size": 4},
        )
        daemon = Daemon.from_config(cfg)
        analysed: dict[str, list[float]] = {s: [] for s in SHAPES}
        lock = threading.Lock()
        daemon.start()  # cameras are made here; spy before their first frame
        for shape, rt in daemon.cameras.items():
            original = rt.process

            def spy(frame: Any, dets: Any, _o: Any = original, _s: str = shape) -> Any:
                with lock:
                    analysed[_s].append(frame.monotonic_s)
                return _o(frame, dets)

            rt.process = spy  # type: ignore[method-assign,assignment]
        try:
            wait_until(
                lambda: {c.camera_id for c in daemon.cases.cases} >= set(SHAPES),
                DWELL_S + 40,
                step=0.5,
            )
            readers = {s: daemon.cameras[s].reader.stats for s in SHAPES}
            first = {s: daemon.cameras[s].first_frame_at for s in SHAPES}
        finally:
            daemon.shutdown()
    results: dict[str, tuple[float, float, float]] = {}
    for shape in SHAPES:
        mine = sorted(
            (c for c in daemon.cases.cases if c.camera_id == shape), key=lambda c: c.confirmed_at
        )
        assert mine, f"{shape}: no case; reader {readers[shape]}"
        start = first[shape]
        assert start is not None
        after = (mine[0].confirmed_at - start).total_seconds()
        seen = (mine[0].first_seen - start).total_seconds()
        times = [t for t in analysed[shape] if t <= analysed[shape][0] + after]
        results[shape] = (after, seen, (len(times) - 1) / (times[-1] - times[0]))
    print(
        "\n[shapes] "
        + "; ".join(
            f"{s}: case at {a:.1f} s (stop from {w:.1f} s), {r:.2f} frames/s"
            for s, (a, w, r) in results.items()
        )
    )
    for shape, (after, _seen, rate) in results.items():
        assert after <= DWELL_S + 2.0, (shape, results[shape])
        assert 0.8 <= rate <= 1.2, (shape, results[shape])
        assert readers[shape].reconnects == 0, (shape, readers[shape])
