"""The real models (YOLOX-Nano, YOLOv8n int8) on real images; model preparation."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from lookout.base.errors import ModelError
from lookout.base.paths import REPO_ROOT
from lookout.detector.detections import Detections
from lookout.detector.manifest import load_manifest
from lookout.detector.onnx_model import OnnxDetector, class_names_from_metadata, prepare_model
from lookout.streams.picture import Cropped
from tests.support.pictures import as_picture

MODELS = REPO_ROOT / "models"


@pytest.fixture
def yolox(yolox_detector: OnnxDetector) -> OnnxDetector:
    """The session's YOLOX-Nano detector (tests/conftest.py): batch 4, default thresholds."""
    assert yolox_detector.max_batch == 4
    return yolox_detector


@pytest.fixture(scope="module")
def dog(assets: Path) -> np.ndarray:
    image = cv2.imread(str(assets / "images" / "dog.jpg"))
    assert image is not None
    return image


@pytest.fixture(scope="module")
def person(assets: Path) -> np.ndarray:
    image = cv2.imread(str(assets / "images" / "person.jpg"))
    assert image is not None
    return image


def named(det: Detections, names: list[str], min_conf: float = 0.5) -> dict[str, np.ndarray]:
    """Best box per class name among detections with confidence >= min_conf."""
    out: dict[str, np.ndarray] = {}
    for box, conf, cls in zip(det.xyxy, det.confidence, det.class_id, strict=True):
        if conf >= min_conf and names[cls] not in out:  # sorted by confidence
            out[names[cls]] = box
    return out


def check_dog_scene(det: Detections, names: list[str], shape: tuple[int, ...]) -> None:
    h, w = shape[:2]
    found = named(det, names)
    assert {"dog", "bicycle"} <= set(found), found
    assert {"car", "truck"} & set(found), found
    assert det.xyxy.dtype == np.float32
    assert (det.xyxy[:, [0, 2]] >= 0).all() and (det.xyxy[:, [0, 2]] <= w).all()
    assert (det.xyxy[:, [1, 3]] >= 0).all() and (det.xyxy[:, [1, 3]] <= h).all()
    dog_cx, dog_cy = (
        (found["dog"][0] + found["dog"][2]) / 2,
        (found["dog"][1] + found["dog"][3]) / 2,
    )
    assert dog_cx < w / 2 and dog_cy > h / 2  # bottom-left
    car = found.get("car", found.get("truck"))
    assert car is not None
    assert (car[0] + car[2]) / 2 > w / 2 and (car[1] + car[3]) / 2 < h / 2  # top-right


def test_yolox_finds_dog_bicycle_car(yolox: OnnxDetector, dog: np.ndarray) -> None:
    (det,) = yolox.detect([dog])
    check_dog_scene(det, yolox.class_names, dog.shape)
    assert "car" in named(det, yolox.class_names)
    assert yolox.class_id("dog") == 16
    with pytest.raises(KeyError):
        yolox.class_id("unicorn")


def test_yolov8n_int8_via_manifest(assets: Path, dog: np.ndarray) -> None:
    detector = OnnxDetector.from_manifest(load_manifest(MODELS / "yolov8n_int8.yaml"))
    assert len(detector.class_names) == 80 and detector.class_names[16] == "dog"
    assert detector.max_batch == 1  # this export bakes batch 1 into a Reshape
    (det,) = detector.detect([dog])
    check_dog_scene(det, detector.class_names, dog.shape)
    assert "car" in named(det, detector.class_names)


def test_batch_equals_single_runs(yolox: OnnxDetector, dog: np.ndarray, person: np.ndarray) -> None:
    frames = [
        dog,
        person,
        cv2.resize(dog[60:520, 100:700], (450, 345)),
        cv2.resize(person[:, 150:], (980, 880)),
    ]
    batched = yolox.detect(frames)
    assert len(batched) == 4
    for frame, det in zip(frames, batched, strict=True):
        (single,) = yolox.detect([frame])
        assert len(single) > 0
        assert det.class_id.tolist() == single.class_id.tolist()
        np.testing.assert_allclose(det.xyxy, single.xyxy, atol=1e-3)
        np.testing.assert_allclose(det.confidence, single.confidence, atol=1e-4)
    assert "horse" in named(batched[1], yolox.class_names)
    # chunks larger than max_batch are split: 6 frames -> runs of 4 and 2
    six = yolox.detect([*frames, dog, person])
    for extra, first in zip(six[4:], batched[:2], strict=True):
        assert extra.class_id.tolist() == first.class_id.tolist()
    assert yolox.detect([]) == []


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    h = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = w * h
    area = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]))
    return inter / (area - inter)


def _matched(ref: Detections, got: Detections, min_conf: float) -> None:
    """Every box of `ref` from `min_conf` on is in `got`: same class, IoU >= 0.75,
    confidence within 0.08 (measured: IoU >= 0.82, confidence within 0.053)."""
    for box, conf, cls in zip(ref.xyxy, ref.confidence, ref.class_id, strict=True):
        if conf < min_conf:
            continue
        same = [
            (_iou(box, b), abs(float(c) - float(conf)))
            for b, c, k in zip(got.xyxy, got.confidence, got.class_id, strict=True)
            if k == cls
        ]
        assert any(iou >= 0.75 and dc <= 0.08 for iou, dc in same), (cls, conf, same)


@pytest.mark.parametrize("kind", ["yuv420p", "yuvj420p"])
def test_yuv_pictures_give_the_boxes_of_their_bgr_conversion(
    yolox: OnnxDetector, dog: np.ndarray, person: np.ndarray, kind: str
) -> None:
    """`detect` takes the decoded planes (and crops of them) as it took BGR frames:
    on 4:2:0 pictures of the test images, at their size and at 1080p, the confident
    boxes are those of the pictures' own BGR conversion (what the pipeline letterboxed
    before issue 28) within rounding, and the dog scene is found."""
    even = [
        np.ascontiguousarray(im[: im.shape[0] & ~1, : im.shape[1] & ~1]) for im in (dog, person)
    ]
    sources = [*even, *(cv2.resize(im, (1920, 1080)) for im in even)]
    pictures = [as_picture(im, kind) for im in sources]
    crop = Cropped(pictures[2], (100, 160, 1400, 900))  # the 1080p dog scene, cut
    got = yolox.detect([*pictures, crop])
    want = yolox.detect([*(p.image() for p in pictures), crop.bgr()])
    for g, w in zip(got, want, strict=True):
        _matched(w, g, 0.5)
        _matched(g, w, 0.55)
    check_dog_scene(got[0], yolox.class_names, even[0].shape)
    check_dog_scene(got[2], yolox.class_names, (1080, 1920))


def test_infer_raw(yolox: OnnxDetector) -> None:
    out = yolox.infer_raw(np.zeros((2, 3, 416, 416), np.float32))
    assert out.shape == (2, 3549, 85) and out.dtype == np.float32


def test_prepare_model_caches_with_symbolic_batch(assets: Path, tmp_path: Path) -> None:
    original = assets / "models" / "yolox_nano.onnx"
    first = prepare_model(original, cache=tmp_path)
    assert first.parent == tmp_path / "models" and first.suffix == ".onnx"
    mtime = first.stat().st_mtime_ns
    assert prepare_model(original, cache=tmp_path) == first
    assert first.stat().st_mtime_ns == mtime
    model = onnx.load(str(first))
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and not dims[0].HasField("dim_value")
    input_dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in input_dims[1:]] == [3, 416, 416]
    # already symbolic: returned as is, nothing new written
    assert prepare_model(first, cache=tmp_path) == first
    assert list((tmp_path / "models").iterdir()) == [first]


def test_text_file_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_text("this is not a model\n")
    with pytest.raises(ModelError) as exc:
        prepare_model(path, cache=tmp_path)
    message = str(exc.value)
    assert "\n" not in message and message.startswith(f"{path}: not an ONNX model (")
    with pytest.raises(ModelError, match="not an ONNX model"):
        prepare_model(tmp_path / "absent.onnx", cache=tmp_path)


def test_manifest_size_mismatch(tmp_path: Path, assets: Path) -> None:
    text = (MODELS / "yolox_nano.yaml").read_text().replace("input_width: 416", "input_width: 320")
    manifest_path = tmp_path / "m.yaml"
    manifest_path.write_text(text)
    with pytest.raises(ModelError) as exc:
        OnnxDetector.from_manifest(load_manifest(manifest_path))
    assert "\n" not in str(exc.value) and "width is 416" in str(exc.value)


def test_class_names_from_metadata() -> None:
    assert class_names_from_metadata({"names": "{0: 'a', 1: 'b'}"}) == ["a", "b"]
    assert class_names_from_metadata({"names": '["x", "y"]'}) == ["x", "y"]
    assert class_names_from_metadata({"names": "{1: 'a'}"}) is None
    assert class_names_from_metadata({}) is None


def test_cpu_threads_are_the_sessions_intra_op_threads(yolox: OnnxDetector) -> None:
    """What the replay sizes its decoder by (streams/file_reader.decode_threads_beside):
    the session's own intra-op threads on the CPU provider."""
    manifest = load_manifest(MODELS / "yolox_nano.yaml")
    one = OnnxDetector.from_manifest(manifest, intra_op_threads=1, max_batch=1, warmup=False)
    assert one.cpu_threads == 1
    default = OnnxDetector.from_manifest(manifest, intra_op_threads=0, max_batch=1, warmup=False)
    assert default.cpu_threads == (os.cpu_count() or 1)
    assert yolox.cpu_threads == 2  # the config's default
