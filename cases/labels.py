"""The words drawn on evidence pictures, in the site's language (docs/I18N.md): the case
type, the object class and the static objects' legend come from the `evidence` and
`common` catalogues. English is drawn with OpenCV's own font; Chinese needs a CJK font
(`evidence.font`, else a Noto CJK font found by fontconfig) and is drawn with Pillow
on the label's strip only. Without a font the label is the case's code and the English
words, and one warning says so when the first writer starts."""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from collections.abc import Mapping

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lookout.base.i18n import Language, t

log = logging.getLogger(__name__)

_CV_FONT = cv2.FONT_HERSHEY_SIMPLEX
_CV_SCALE = 0.5
#: Pixel size of the CJK font: about the height of OpenCV's 0.5 scale with its accents.
CJK_SIZE = 16

FontFile = tuple[str, int]
"""A font file and the face's index in it (a .ttc holds several)."""


def _fontconfig() -> list[tuple[str, int, str, str]]:
    """(file, index, family, style) of each font fontconfig has for Simplified Chinese."""
    if shutil.which("fc-list") is None:
        return []
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh-cn", "-f", "%{file}\t%{index}\t%{family}\t%{style}\n"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    fonts = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[1].isdigit():
            fonts.append((parts[0], int(parts[1]), parts[2], parts[3]))
    return fonts


def _rank(font: tuple[str, int, str, str]) -> tuple[int, ...]:
    """Noto Sans CJK SC Regular first, then other Noto Sans CJK, Noto CJK, the rest."""
    _, _, family, style = font
    fam = family.split(",")[0]
    return (
        "Noto" not in fam or "CJK" not in fam,
        "Sans" not in fam,
        "Mono" in fam,
        not fam.endswith(" SC"),
        "Regular" not in style,
    )


@functools.cache
def cjk_font(configured: str | None = None) -> FontFile | None:
    """The font to draw Chinese with: `configured` (`evidence.font`) when it loads, else
    the best Noto CJK font fontconfig knows (any Chinese font when it has no Noto);
    None, with one warning, when there is none. Looked up once per process."""
    if configured:
        try:
            ImageFont.truetype(configured, CJK_SIZE)
            return (configured, 0)
        except OSError as exc:
            log.warning("evidence.font %s cannot be read (%s); asking fontconfig", configured, exc)
    for file, index, _, _ in sorted(_fontconfig(), key=_rank):
        try:
            ImageFont.truetype(file, CJK_SIZE, index=index)
            return (file, index)
        except OSError:
            continue
    log.warning(
        "no CJK font for the evidence labels (set evidence.font or install fonts-noto-cjk):"
        " they show the case code and the English label"
    )
    return None


class Labels:
    """The labels of one site's evidence pictures: `text` makes a label, `box` draws a
    box with its label. `lang`: the site's language; `font`: `evidence.font`; `codes`:
    case type → case-system code, shown when Chinese has no font."""

    def __init__(
        self,
        lang: Language = "en",
        *,
        font: str | None = None,
        codes: Mapping[str, str] | None = None,
    ) -> None:
        self.codes = dict(codes or {})
        self.lang: Language = lang
        self.fallback = False
        self._font: ImageFont.FreeTypeFont | None = None
        self._above = self._below = 0
        if lang != "en":
            found = cjk_font(font)
            if found is None:
                self.lang, self.fallback = "en", True
            else:
                self._font = ImageFont.truetype(found[0], CJK_SIZE, index=found[1])
                # One strip height for every label: the ink of a tall and a deep glyph.
                _, top, _, bottom = self._font.getbbox("国Ag", anchor="ls")
                self._above, self._below = int(-top), int(bottom)

    def word(self, area: str, name: str) -> str:
        """A catalogue word (`type.illegal_parking`, `evidence.class.car`); the raw name
        when the catalogue has none."""
        key = f"{area}.{name}"
        text = t(self.lang, key)
        return name if text == key else text

    def case(self, event_type: str, class_name: str, dwell_s: float) -> str:
        """The case box's label: type, object and how long it stayed."""
        text = t(
            self.lang,
            "evidence.case",
            type=self.word("type", event_type),
            object=self.word("evidence.class", class_name),
            seconds=f"{dwell_s:.0f}",
        )
        code = self.codes.get(event_type)
        return f"{code} {text}" if self.fallback and code else text

    def static(self) -> str:
        """The label of a static object that belongs to the case."""
        return t(self.lang, "evidence.static_object")

    def size(self, text: str) -> tuple[int, int, int]:
        """Width, height above the baseline and depth below it of `text` drawn."""
        if self._font is None:
            (w, h), base = cv2.getTextSize(text, _CV_FONT, _CV_SCALE, 1)
            return w, h, base
        return round(self._font.getlength(text)), self._above, self._below

    def put(self, img: np.ndarray, text: str, org: tuple[int, int]) -> None:
        """Draw `text` in white with its baseline starting at `org` (x, y)."""
        if self._font is None:
            cv2.putText(img, text, org, _CV_FONT, _CV_SCALE, (255, 255, 255), 1)
            return
        w = round(self._font.getlength(text))
        x, y = org[0], org[1] - self._above - 1
        x1, y1 = max(x, 0), max(y, 0)
        x2, y2 = min(x + w + 1, img.shape[1]), min(org[1] + self._below + 1, img.shape[0])
        if x2 <= x1 or y2 <= y1:
            return
        # Only the label's strip: its text as a coverage mask, white laid over it.
        mask = Image.new("L", (x2 - x1, y2 - y1), 0)
        ImageDraw.Draw(mask).text((org[0] - x1, org[1] - y1), text, 255, self._font, "ls")
        alpha = np.asarray(mask, np.float32)[..., None] / 255.0
        strip = img[y1:y2, x1:x2]
        strip[:] = (strip * (1.0 - alpha) + 255.0 * alpha).astype(np.uint8)

    def box(
        self,
        img: np.ndarray,
        bbox: tuple[float, float, float, float],
        label: str,
        colour: tuple[int, int, int],
        *,
        thickness: int,
    ) -> None:
        """Draw a box with its label on a filled strip above it (below at the top edge)."""
        x1, y1, x2, y2 = (round(v) for v in bbox)
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, thickness)
        tw, th, base = self.size(label)
        ty = y1 - 4 if y1 - th - base - 4 > 0 else y2 + th + 4
        tx = max(0, min(x1, img.shape[1] - tw - 4))  # keep the label inside the frame
        cv2.rectangle(img, (tx, ty - th - base), (tx + tw + 4, ty + base), colour, -1)
        self.put(img, label, (tx + 2, ty))
