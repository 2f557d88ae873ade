"""`dataset: {keep: true}` (docs/LEARNING.md): each case also keeps its clean frame and
all that frame's detections beside its evidence — never listed in the case JSON, gone
with the evidence under retention. Real frames and the real model."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

from lookout.cases.evidence import EvidenceWriter, dataset_paths
from lookout.cases.retention import Retention
from lookout.cases.settings import RetentionConfig
from lookout.cases.sinks import SqliteOutbox
from lookout.cli.main import main
from lookout.detector.onnx_model import OnnxDetector
from lookout.streams.frame import Frame, replace
from lookout.zones.events import Scene
from tests.support.config import demo_config
from tests.support.helpers import frame, parked_event, read_jsonl


def vtest_frame(assets: Path, index: int = 100) -> np.ndarray:
    with av.open(str(assets / "footage" / "vtest.avi")) as container:
        for i, vf in enumerate(container.decode(video=0)):
            if i == index:
                return np.ascontiguousarray(vf.to_ndarray(format="bgr24"))
    raise AssertionError("vtest.avi is shorter than expected")


def test_the_clean_frame_and_every_detection_are_kept(
    assets: Path, yolox_detector: OnnxDetector, tmp_path: Path
) -> None:
    full = vtest_frame(assets)
    half = np.ascontiguousarray(cv2.resize(full, (384, 288), interpolation=cv2.INTER_AREA))
    # The sub-stream (half size) was analysed; the evidence comes from the main stream.
    dets = yolox_detector.detect([half])[0]
    dets = dets.with_tracker_id(np.arange(len(dets), dtype=np.int64) + 1)
    assert len(dets) >= 3
    names = (*yolox_detector.class_names, "static_object")
    scene = Scene(
        detections=dets,
        person=dets.class_id == 0,
        vehicle=np.zeros(len(dets), bool),
        size=(384, 288),
        names=names,
    )
    f = replace(frame(30.0), image=full)
    event = parked_event(f, track=1, subject_ids=(2,), scene=scene, camera_id="vtest")
    writer = EvidenceWriter(tmp_path, dataset_quality=95, blur=("bystanders",))
    pictures = writer.encode("c1", event)
    assert [p.name for p in pictures] == [
        "c1_full.jpg",
        "c1_crop.jpg",
        "c1_clean.jpg",
        "c1_frame.json",
    ]
    stored = writer.store(pictures)
    assert sorted(dataset_paths("c1")[:2]) == sorted(stored[2:])
    for rel in stored:
        assert stat.S_IMODE((tmp_path / rel).stat().st_mode) == 0o640
    clean = cv2.imread(str(tmp_path / "evidence" / "c1_clean.jpg"))
    assert clean is not None and clean.shape == full.shape
    mse = float(np.mean((clean.astype(np.float64) - full) ** 2))
    assert 10 * np.log10(255**2 / mse) > 35  # nothing drawn, nothing blurred: JPEG noise only
    record = json.loads((tmp_path / "evidence" / "c1_frame.json").read_text(encoding="utf-8"))
    assert record["case_id"] == "c1" and record["camera_id"] == "vtest"
    assert (record["width"], record["height"]) == (768, 576)
    assert record["class_names"] == list(names)
    assert record["subjects"] == [1, 2]
    assert len(record["detections"]) == len(dets)
    for d, box, cid, tid in zip(
        record["detections"], dets.xyxy, dets.class_id, dets.tracker_id, strict=True
    ):
        assert d["class_id"] == int(cid) and d["class_name"] == names[int(cid)]
        assert d["track_id"] == int(tid)
        assert np.allclose(d["box"], np.asarray(box) * 2.0, atol=0.1)  # in the clean frame


def test_without_keep_nothing_more_is_written(tmp_path: Path) -> None:
    f: Frame = frame(30.0)
    pictures = EvidenceWriter(tmp_path).encode("c2", parked_event(f))
    assert [p.name for p in pictures] == ["c2_full.jpg", "c2_crop.jpg"]


def test_a_replay_keeps_them_outside_the_case_json_and_retention_takes_them(
    assets: Path, tmp_path: Path
) -> None:
    cfg = demo_config()
    cfg["dataset"] = {"keep": True}
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    video = str(assets / "footage" / "vtest.avi")
    code = main(["replay", video, "--config", str(config), "--out", str(out), "--no-progress"])
    assert code == 0
    (case,) = read_jsonl(out / "cases.jsonl")
    assert not any("clean" in p or p.endswith(".json") for p in case["evidence"])
    kept = dataset_paths(case["id"])[:2]  # no frames sampled around it (replay --around)
    assert all((out / rel).is_file() for rel in kept)
    record = json.loads((out / kept[1]).read_text(encoding="utf-8"))
    assert case["track_id"] in record["subjects"]
    assert any(d["class_name"] in ("car", "truck") for d in record["detections"])
    # Retention by age takes the kept files with the case's evidence.
    SqliteOutbox.open(out / "cases.db").close()
    cfg_r = RetentionConfig(max_days=1, max_gb=None, min_free_gb=None)
    retention = Retention(cfg_r, out, out / "cases.db", [], clock=lambda: 4102444800.0)
    _, done = retention.run_once()
    assert [m.case_id for m in done] == [case["id"]]
    assert not any((out / rel).exists() for rel in [*kept, *case["evidence"]])
