"""The scene model (zones/scene.py) on real pixels: a still vtest frame as the street,
patches cut from the shared images as what arrives (docs/DETECTION.md, "What stays")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from lookout.base.geometry import box_iou
from lookout.zones.construction import structure_change
from lookout.zones.scene import SceneModel, SceneSettings, StaticBlob

Image = NDArray[np.uint8]
W, H = 384, 288  # work resolution: vtest at half size
GOODS_AT = (230, 150)  # top-left of the goods, work pixels (on the walkway)
STATIC_S = 10.0


@pytest.fixture(scope="module")
def street(assets: Path) -> Image:
    with av.open(str(assets / "footage" / "vtest.avi")) as container:
        first = next(container.decode(video=0)).to_ndarray(format="bgr24")
    return np.ascontiguousarray(cv2.resize(first, (W, H), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="module")
def goods(assets: Path) -> Image:
    """The rear wheel, chain and bag of dog.jpg's bicycle: no COCO class as a whole."""
    dog = np.asarray(cv2.imread(str(assets / "images" / "dog.jpg")), np.uint8)
    return np.ascontiguousarray(cv2.resize(dog[230:420, 380:570], (34, 34)), np.uint8)


@pytest.fixture(scope="module")
def car(assets: Path) -> Image:
    dog = np.asarray(cv2.imread(str(assets / "images" / "dog.jpg")), np.uint8)
    return np.ascontiguousarray(cv2.resize(dog[78:171, 466:692], (60, 25)), np.uint8)


def paste(image: Image, patch: Image, at: tuple[int, int]) -> Image:
    out = image.copy()
    x, y = at
    out[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    return out


def grey(image: Image) -> Image:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)


def run(
    view: Callable[[float], Image],
    seconds: float,
    *,
    model: SceneModel | None = None,
    start: float = 0.0,
    step: float = 1.0,
    **settings: float,
) -> tuple[SceneModel, dict[float, list[StaticBlob]]]:
    """Feed the model one grey sample every `step` s; the blobs standing at each time."""
    if model is None:
        model = SceneModel(
            SceneSettings(**{"static_s": STATIC_S, "min_area": 60.0, **settings}), (H, W)
        )
    seen: dict[float, list[StaticBlob]] = {}
    nothing = np.zeros((H, W), bool)
    for i in range(round(seconds / step) + 1):
        t = start + i * step
        seen[t] = list(model.update(grey(view(t)), t, nothing))
    return model, seen


def goods_box(goods: Image) -> tuple[float, float, float, float]:
    x, y = GOODS_AT
    return (float(x), float(y), float(x + goods.shape[1]), float(y + goods.shape[0]))


def test_goods_that_arrive_become_one_blob_after_static_s(street: Image, goods: Image) -> None:
    arrive = 5.0
    _, seen = run(lambda t: paste(street, goods, GOODS_AT) if t >= arrive else street, 40)
    first = min(t for t, blobs in seen.items() if blobs)
    assert arrive + STATIC_S <= first <= arrive + STATIC_S + 5
    for t in range(int(first), 41):
        (blob,) = seen[float(t)]
        assert box_iou(blob.box, goods_box(goods)) > 0.5, (t, blob.box)
        assert blob.id == seen[first][0].id  # the same thing all along


def test_an_empty_street_under_a_lighting_ramp_gives_nothing(street: Image) -> None:
    def ramp(t: float) -> Image:
        gain = 1.0 - 0.6 * t / 60.0  # dusk: 40 % of the light after a minute
        return np.clip(street.astype(np.float32) * gain, 0, 255).astype(np.uint8)

    _, seen = run(ramp, 60)
    assert not any(seen.values())


def test_a_cloud_shadow_crossing_gives_nothing(street: Image) -> None:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)

    def shadow(t: float) -> Image:
        cx = -100.0 + 8.0 * t  # a soft shadow 200 px wide drifting across
        dark = 0.45 * np.exp(-(((xx - cx) / 90.0) ** 2 + ((yy - 140.0) / 120.0) ** 2))
        return np.clip(street * (1.0 - dark[..., None]), 0, 255).astype(np.uint8)

    _, seen = run(shadow, 60)
    assert not any(seen.values())


def test_a_4px_shake_gives_nothing(street: Image) -> None:
    rng = np.random.default_rng(3)
    shifts = {float(t): rng.uniform(-4, 4, 2) for t in range(61)}

    def shaken(t: float) -> Image:
        dx, dy = shifts[t] / 2.0  # 4 px of the full frame = 2 work px
        m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        return np.asarray(cv2.warpAffine(street, m, (W, H), borderMode=cv2.BORDER_REFLECT))

    _, seen = run(shaken, 60)
    assert not any(seen.values())


def test_an_ir_switch_to_grayscale_gives_nothing(street: Image) -> None:
    """At dusk the camera switches to infrared: a grey picture where vegetation is
    bright (near-infrared) and the tonal curve changes."""
    b, g, r = (street[..., i].astype(np.float32) for i in range(3))
    ir = np.clip(0.2 * b + 0.5 * g + 0.5 * r + 15.0, 0, 255).astype(np.uint8)
    night = np.dstack([ir] * 3)
    _, seen = run(lambda t: night if t >= 20 else street, 60)
    assert not any(seen.values())


def test_a_parked_car_that_leaves_is_empty_street_again(street: Image, car: Image) -> None:
    at = (60, 120)
    parked = paste(street, car, at)
    model, seen = run(lambda t: parked if t < 20 else street, 60)
    assert not any(seen.values())  # its leaving is no new thing
    assert model.long is not None
    empty = np.clip(model.long, 0, 255).astype(np.uint8)
    everywhere = np.ones((H, W), bool)
    left = structure_change(empty, grey(street), everywhere, everywhere, min_novelty=0.0)
    place = (float(at[0]), float(at[1]), float(at[0] + car.shape[1]), float(at[1] + car.shape[0]))
    # The empty scene has learnt the empty place: no structure differs there now.
    assert not [b for b in left.boxes if box_iou(b, place) > 0.0], left.boxes
    before = structure_change(grey(parked), grey(street), everywhere, everywhere, min_novelty=0.0)
    assert [b for b in before.boxes if box_iou(b, place) > 0.0]  # the check can fail


def arriving(street: Image, goods: Image) -> Callable[[float], Image]:
    """The street, then the goods from the 2nd second on."""
    view = paste(street, goods, GOODS_AT)
    return lambda t: view if t >= 2.0 else street


def test_a_judged_case_absorbs_the_blob_for_good(street: Image, goods: Image) -> None:
    view = paste(street, goods, GOODS_AT)
    model, seen = run(arriving(street, goods), 20)
    assert model.blobs
    model.hold(goods_box(goods))
    assert model.absorb(goods_box(goods)) == 1
    model, seen = run(lambda t: view, 60, model=model, start=21.0)
    assert not any(seen.values())


def test_a_blob_without_a_case_is_absorbed_after_absorb_s(street: Image, goods: Image) -> None:
    _, seen = run(arriving(street, goods), 120, absorb_s=60.0)
    standing = [t for t, blobs in seen.items() if blobs]
    assert standing and min(standing) <= 2.0 + STATIC_S + 2.0
    assert 58.0 <= max(standing) - min(standing) <= 61.0  # absorbed 60 s after it stayed
    assert not any(seen[t] for t in seen if t > 80.0)


def test_a_held_blob_waits_for_its_verdict(street: Image, goods: Image) -> None:
    view = paste(street, goods, GOODS_AT)
    model, _ = run(arriving(street, goods), 15, absorb_s=60.0)
    assert model.hold(goods_box(goods)) == 1
    _, seen = run(lambda t: view, 120, model=model, start=16.0)
    assert all(len(blobs) == 1 for blobs in seen.values())


def test_a_person_boxed_by_the_detector_never_becomes_static(street: Image, assets: Path) -> None:
    photo = np.asarray(cv2.imread(str(assets / "images" / "person.jpg")), np.uint8)
    person = np.ascontiguousarray(cv2.resize(photo[97:372, 188:276], (22, 64)), np.uint8)
    at = (200, 120)
    view = paste(street, person, at)
    model = SceneModel(SceneSettings(static_s=STATIC_S, min_area=60.0), (H, W))
    boxed = np.zeros((H, W), bool)
    boxed[at[1] - 4 : at[1] + 68, at[0] - 3 : at[0] + 25] = True
    blobs = [model.update(grey(street if t < 3 else view), float(t), boxed) for t in range(60)]
    assert not any(blobs)
