"""The second look (docs/LEARNING.md, "The second look"): what the detector's backbone
sees in a case's box, scored by a linear classifier fitted on the operators' verdicts.

Every new case's embedding is stored in the outbox (`second_look` table, one row per
case, written in the same transaction as the case). `lookout verdicts learn`
(cases/learn.py) fits one classifier per case type and writes them to a small
versioned JSON file beside the outbox. At run time `SecondLook.look` embeds the case,
scores it with its type's classifier (if the type is fitted) and says whether to hold
it: a held case stays in the outbox, counted and listed, and reaches no sink until an
operator releases it (cases/verdicts.py `CaseReview.release`).

    second_look(case_id, model, output, embedding, score, held, released_by, released_at)
    held: 0 proposed as usual; 1 held; 2 released by an operator
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, ValidationError

from lookout.base.errors import LookoutError
from lookout.base.model import StrictModel
from lookout.cases.settings import SecondLookConfig
from lookout.detector.embedding import BackboneEmbedder, context_window
from lookout.detector.manifest import ModelManifest
from lookout.streams.frame import Frame

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float] | list[float]

SCHEMA = """
CREATE TABLE IF NOT EXISTS second_look (
    case_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    output TEXT NOT NULL,
    embedding BLOB NOT NULL,
    score REAL,
    held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1, 2)),
    released_by TEXT,
    released_at TEXT
);
CREATE INDEX IF NOT EXISTS second_look_held ON second_look (held);
"""

#: `second_look.held`
PROPOSED, HELD, RELEASED = 0, 1, 2
#: SQL: the case `c` is held (delivery skips it; the console lists it as held).
IS_HELD = "EXISTS (SELECT 1 FROM second_look s WHERE s.case_id = c.id AND s.held = 1)"


class SecondLookError(LookoutError):
    """A fit file that cannot be read or does not fit the model (one line, exit 2)."""


class TypeFit(StrictModel):
    """One case type's classifier: standardise, then logistic regression; the score
    is the probability that a case of this type is a false alarm."""

    coef: list[float] = Field(description="Weights of the standardised embedding.")
    intercept: float = Field(description="Bias.")
    mean: list[float] = Field(description="Per-dimension mean of the training embeddings.")
    scale: list[float] = Field(description="Per-dimension standard deviation (>0).")
    confirmed: int = Field(ge=0, description="Confirmed (or closed, released) cases fitted.")
    false_alarms: int = Field(ge=0, description="False-alarm cases fitted.")
    precision: float | None = Field(
        default=None, description="Cross-validated precision of 'held' at the threshold."
    )
    recall: float | None = Field(
        default=None, description="Cross-validated share of false alarms held."
    )

    def score(self, vector: np.ndarray) -> float:
        x = (np.asarray(vector, np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        z = float(np.dot(x, np.asarray(self.coef)) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


class SecondLookFit(StrictModel):
    """The file `lookout verdicts learn` writes (version 1)."""

    version: Literal[1] = Field(default=1, description="File format version.")
    fitted_at: datetime = Field(description="When it was fitted (ISO 8601).")
    model: str = Field(description="Model (manifest name) whose backbone made the embeddings.")
    output: str = Field(description="Graph tensor the embeddings were pooled from.")
    dim: int = Field(gt=0, description="Embedding length.")
    types: dict[str, TypeFit] = Field(description="Event type → its classifier.")

    def write(self, path: Path) -> None:
        """Write atomically (a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.model_dump_json(indent=1))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def fit_path(cfg: SecondLookConfig, out_dir: Path) -> Path:
    """Where the fit lives: `cfg.file`, relative paths under the output folder."""
    path = Path(cfg.file)
    return path if path.is_absolute() else out_dir / path


def read_fit(path: Path) -> SecondLookFit:
    try:
        return SecondLookFit.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise SecondLookError(f"{path}: cannot read the second-look fit ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SecondLookError(f"{path}: not a second-look fit ({where}: {first['msg']})") from None


@dataclass(frozen=True, slots=True)
class Look:
    """What the second look made of one case."""

    model: str
    output: str
    embedding: np.ndarray
    score: float | None  # None: the type is not fitted (yet)
    hold: bool


class SecondLook:
    """Embeds each new case and scores it with the current fit (thread-safe). The fit
    file is read again whenever it changes on disk, so `lookout verdicts learn`, the
    daemon's refit and a reload all take effect at the next case."""

    def __init__(
        self, embedder: BackboneEmbedder, model: str, path: Path, threshold: float
    ) -> None:
        self.embedder = embedder
        self.model = model
        self.path = path
        self.threshold = threshold
        self._fit: SecondLookFit | None = None
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, manifest: ModelManifest, cfg: SecondLookConfig, out_dir: Path) -> SecondLook:
        """The second look of a site: the manifest's backbone, the fit file under
        `out_dir` (ModelError when the backbone cannot be cut out)."""
        return cls(
            BackboneEmbedder.from_manifest(manifest),
            manifest.name,
            fit_path(cfg, out_dir),
            cfg.threshold,
        )

    def fit(self) -> SecondLookFit | None:
        """The current fit, read again when the file changed; None without one (or
        when it was made with another model's backbone: logged once)."""
        try:
            st = self.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp == self._stamp:
                return self._fit
            self._stamp, self._fit = stamp, None
            if stamp is None:
                return None
            try:
                fit = read_fit(self.path)
            except SecondLookError as exc:
                log.warning("second look off: %s", exc)
                return None
            if (fit.model, fit.output) != (self.model, self.embedder.output):
                log.warning(
                    "second look off: %s was fitted on %s (%s), the model is %s (%s); run "
                    "`lookout verdicts learn`",
                    self.path,
                    fit.model,
                    fit.output,
                    self.model,
                    self.embedder.output,
                )
                return None
            log.info("second look: fit of %s for %s", fit.fitted_at, ", ".join(fit.types))
            self._fit = fit
            return fit

    def look(
        self,
        case_type: str,
        image: np.ndarray,
        box: tuple[float, float, float, float] | list[float],
    ) -> Look:
        vector = self.embedder.embed(image, box)
        fit = self.fit()
        typed = fit.types.get(case_type) if fit is not None else None
        score = None
        if typed is not None and len(typed.coef) == vector.shape[0]:
            score = typed.score(vector)
        hold = score is not None and score >= self.threshold
        return Look(self.model, self.embedder.output, vector, score, hold)

    def look_at(
        self, case_type: str, frame: Frame, box: tuple[float, float, float, float] | list[float]
    ) -> Look:
        """`look` at a case's frame, converting only the window the embedding reads."""
        window, shifted = embedding_window(frame, box)
        return self.look(case_type, window, shifted)


def embedding_window(
    frame: Frame, box: tuple[float, float, float, float] | list[float]
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The part of `frame` the embedding of `box` reads (detector/embedding.py
    `context_window`, a square around the box) in BGR, and the box in its pixels: the
    embedding of the box in it is that of the box in the whole frame. The window starts
    at even pixels, so a 4:2:0 picture's colour is converted from the same chroma
    samples as in the whole frame's conversion."""
    win = context_window(box, frame.width, frame.height)
    x0, y0 = win.x0 - win.x0 % 2, win.y0 - win.y0 % 2
    window = frame.bgr((x0, y0, win.x1 - x0, win.y1 - y0))
    x1, y1, x2, y2 = (float(v) for v in box)
    return window, (x1 - x0, y1 - y0, x2 - x0, y2 - y0)


def store_look(conn: sqlite3.Connection, case_id: str, look: Look) -> None:
    """The case's row of `second_look` (inside the caller's transaction)."""
    conn.execute(
        "INSERT OR IGNORE INTO second_look (case_id, model, output, embedding, score, held)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            case_id,
            look.model,
            look.output,
            np.asarray(look.embedding, np.float32).tobytes(),
            look.score,
            HELD if look.hold else PROPOSED,
        ),
    )


def as_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def release_held(conn: sqlite3.Connection, case_id: str, by: str, at: str) -> bool:
    """Mark a held case released (inside the caller's transaction); False when the
    case is not held."""
    cur = conn.execute(
        "UPDATE second_look SET held = ?, released_by = ?, released_at = ?"
        " WHERE case_id = ? AND held = ?",
        (RELEASED, by, at, case_id, HELD),
    )
    return cur.rowcount == 1
