"""Evidence labels in the site's language (docs/I18N.md): on a real vtest frame, a
zh-CN site draws the case's type and object in Chinese with a CJK font (real glyphs,
not the empty boxes of a font that lacks them); with no CJK font the label is the
case's code and the English words, and one warning says so.

`python -m tests.cases.test_evidence_language` writes docs/img/evidence-zh.jpg."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from lookout.base.i18n import Language
from lookout.cases import labels
from lookout.cases.evidence import EvidenceWriter
from lookout.streams.frame import Frame
from lookout.zones.events import ViolationEvent

AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
#: vtest frame 200 (tests/cases/test_blur.py): the van parked by the building, as the
#: shared YOLOX model boxes it (truck), in the zone drawn around it.
FRAME = 200
VAN = (651.0, 43.0, 722.0, 102.0)
VAN_ZONE = ((640.0, 30.0), (735.0, 30.0), (735.0, 110.0), (640.0, 110.0))
CODES = {"illegal_parking": "09001"}
#: The case label's strip: above the van, pushed left to stay inside the frame.
STRIP = (slice(20, 40), slice(560, 768))


def van_frame(assets: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(assets / "footage" / "vtest.avi"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, FRAME)
    ok, image = cap.read()
    cap.release()
    assert ok, "vtest.avi frame not read"
    return np.asarray(image, np.uint8)


def van_event(image: np.ndarray) -> ViolationEvent:
    return ViolationEvent(
        type="illegal_parking",
        camera_id="vtest",
        preset=None,
        zone_id="van",
        grid_code=None,
        track_id=1,
        class_name="truck",
        bbox=VAN,
        confidence=0.69,
        first_seen=AT,
        confirmed_at=AT,
        dwell_s=312.0,
        support=(),
        polygon=VAN_ZONE,
        frame=Frame("vtest", FRAME, 8.0, AT, 8.0, image),
    )


def drawn(image: np.ndarray, language: Language) -> tuple[EvidenceWriter, np.ndarray]:
    writer = EvidenceWriter(Path(), language=language, codes=CODES)
    return writer, writer.annotate(van_event(image))


@pytest.fixture()
def fresh_font_lookup() -> Iterator[None]:
    labels.cjk_font.cache_clear()
    yield
    labels.cjk_font.cache_clear()


def glyph(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray:
    img = Image.new("L", (24, 24), 0)
    ImageDraw.Draw(img).text((2, 2), char, 255, font)
    return np.asarray(img) > 127


def test_a_chinese_site_draws_chinese_words_with_real_glyphs(assets: Path) -> None:
    found = labels.cjk_font()
    assert found is not None, "no CJK font: scripts/setup.sh --with-test-deps installs one"
    image = van_frame(assets)
    zh_writer, zh = drawn(image, "zh-CN")
    label = zh_writer.labels.case("illegal_parking", "truck", 312.0)
    assert label == "机动车乱停放 货车 312秒"
    _, en = drawn(image, "en")
    assert not np.array_equal(zh[STRIP], en[STRIP])
    # White text on the red strip: many text pixels, in the strip only.
    white = (zh[STRIP] > 200).all(axis=2)
    assert white.sum() > 150
    assert np.array_equal(zh[300:], en[300:])  # the rest of the picture as in English
    # Each character is a glyph of its own, none the font's empty box (.notdef).
    font = ImageFont.truetype(found[0], labels.CJK_SIZE, index=found[1])
    tofu = glyph(font, "\U000f0000")  # a private-use code point no font draws
    shapes = [glyph(font, c) for c in "机动车乱停放货秒"]
    assert all(s.any() and not np.array_equal(s, tofu) for s in shapes)
    assert len({s.tobytes() for s in shapes}) == len(shapes)


def test_without_a_cjk_font_the_code_and_english_label_and_one_warning(
    assets: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fresh_font_lookup: None,
) -> None:
    monkeypatch.setattr(labels, "_fontconfig", list)
    image = van_frame(assets)
    with caplog.at_level(logging.WARNING, logger="lookout.cases.labels"):
        writer, img = drawn(image, "zh-CN")
        drawn(image, "zh-CN")  # a second writer (another camera): no second warning
        writer.annotate(van_event(image))
    assert [r.getMessage() for r in caplog.records] == [
        "no CJK font for the evidence labels (set evidence.font or install"
        " fonts-noto-cjk): they show the case code and the English label"
    ]
    assert (
        writer.labels.case("illegal_parking", "truck", 312.0) == "09001 illegal parking truck 312s"
    )
    assert (img[STRIP] > 200).all(axis=2).sum() > 50  # OpenCV's own font drew it


def test_a_configured_font_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_font_lookup: None
) -> None:
    found = labels.cjk_font()
    assert found is not None, "no CJK font: scripts/setup.sh --with-test-deps installs one"
    labels.cjk_font.cache_clear()
    monkeypatch.setattr(labels, "_fontconfig", list)
    assert labels.cjk_font(found[0]) == (found[0], 0)
    assert labels.cjk_font(str(tmp_path / "missing.ttf")) is None


def write_sample(assets: Path, out: Path) -> None:
    """The picture docs/I18N.md shows: the van's evidence on a zh-CN site."""
    _, img = drawn(van_frame(assets), "zh-CN")
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), img, [cv2.IMWRITE_JPEG_QUALITY, 88])


if __name__ == "__main__":
    from lookout.base.paths import assets_dir
    from tests.support.config import REPO_ROOT

    write_sample(assets_dir(), REPO_ROOT / "docs" / "img" / "evidence-zh.jpg")
