"""Fitting the second look on the operators' verdicts (docs/LEARNING.md, "The second
look"): `lookout verdicts learn` and the daemon's scheduled refit.

Each case with a stored embedding (cases/second_look.py) and a verdict is a sample:
a false alarm is 1; confirmed, closed, or released from hold without a later verdict
is 0; a draft nobody judged is left out. Per case type with at least `min_verdicts`
of each kind, the embeddings are standardised and a logistic regression (balanced
classes, L2) is fitted with scikit-learn; cross-validated predictions (stratified
k-fold, k ≤ 5) at the configured threshold give the precision and recall printed. The
fit is written as plain numbers (cases/second_look.py `SecondLookFit`): scoring at run
time needs numpy only.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lookout.cases.second_look import (
    RELEASED,
    SecondLookFit,
    TypeFit,
    as_vector,
)
from lookout.cases.settings import SecondLookConfig
from lookout.cases.sinks import SqliteOutbox

log = logging.getLogger(__name__)

#: Inverse L2 strength of the logistic regression (scikit-learn's default; 0.1 kept
#: the scores of clearly separated classes below a 0.8 threshold).
C = 1.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One judged case: its embedding and whether it was a false alarm."""

    case_id: str
    type: str
    camera_id: str
    label: int  # 1 false alarm, 0 not
    vector: np.ndarray = field(repr=False)


def label_of(status: str, held: int) -> int | None:
    """1 false alarm, 0 a real case, None not judged."""
    if status == "false_alarm":
        return 1
    if status in ("confirmed", "closed") or held == RELEASED:
        return 0
    return None


def load_samples(
    outbox: SqliteOutbox, backbone: tuple[str, str] | None = None
) -> tuple[str, str, list[Sample]]:
    """(model, output, samples) of `backbone` (model name, tensor: the one in use), or
    else of the backbone most cases were embedded with. Embeddings of another model do
    not compare: after a model change the fit starts from the new model's verdicts."""
    rows = outbox.fetch(
        "SELECT c.id, c.type, c.camera_id, c.status, s.held, s.model, s.output, s.embedding"
        " FROM cases c JOIN second_look s ON s.case_id = c.id ORDER BY c.rowid"
    )
    backbones = Counter((str(r[5]), str(r[6])) for r in rows)
    if backbone is None:
        if not backbones:
            return "", "", []
        backbone = max(backbones.items(), key=lambda kv: kv[1])[0]
    model, output = backbone
    samples = []
    for cid, ctype, cam, status, held, m, out, blob in rows:
        label = label_of(str(status), int(held))
        if label is None or (m, out) != (model, output):
            continue
        samples.append(Sample(str(cid), str(ctype), str(cam), label, as_vector(blob)))
    return model, output, samples


@dataclass(frozen=True, slots=True)
class TypeReport:
    """How one type's fit went (printed by `lookout verdicts learn`)."""

    type: str
    confirmed: int
    false_alarms: int
    fit: TypeFit | None
    why: str = ""  # why not fitted


def fit_type(
    x: np.ndarray, y: np.ndarray, threshold: float, *, cross_validate: bool = True
) -> TypeFit:
    """Standardise, fit a balanced logistic regression; cross-validated precision and
    recall of holding at `threshold` (when each class has 2 samples or more)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def model() -> object:
        return make_pipeline(
            StandardScaler(),
            LogisticRegression(C=C, class_weight="balanced", max_iter=5000),
        )

    n_fa, n_ok = int(y.sum()), int(len(y) - y.sum())
    precision = recall = None
    folds = min(5, n_fa, n_ok)
    if cross_validate and folds >= 2:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        proba = cross_val_predict(model(), x, y, cv=cv, method="predict_proba")[:, 1]
        held = proba >= threshold
        tp = int((held & (y == 1)).sum())
        precision = tp / int(held.sum()) if held.any() else None
        recall = tp / n_fa
    pipe = model()
    pipe.fit(x, y)  # type: ignore[attr-defined]
    scaler, logreg = pipe.steps[0][1], pipe.steps[1][1]  # type: ignore[attr-defined]
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return TypeFit(
        coef=[float(v) for v in logreg.coef_[0]],
        intercept=float(logreg.intercept_[0]),
        mean=[float(v) for v in scaler.mean_],
        scale=[float(v) for v in scale],
        confirmed=n_ok,
        false_alarms=n_fa,
        precision=None if precision is None else round(precision, 4),
        recall=None if recall is None else round(recall, 4),
    )


def fit_samples(
    samples: list[Sample], cfg: SecondLookConfig
) -> tuple[dict[str, TypeFit], list[TypeReport]]:
    """One classifier per type that has `cfg.min_verdicts` of each kind."""
    fits: dict[str, TypeFit] = {}
    reports: list[TypeReport] = []
    for ctype in sorted({s.type for s in samples}):
        mine = [s for s in samples if s.type == ctype]
        y = np.array([s.label for s in mine], dtype=np.int64)
        n_fa, n_ok = int(y.sum()), int(len(y) - y.sum())
        if min(n_fa, n_ok) < cfg.min_verdicts:
            why = f"needs {cfg.min_verdicts} of each"
            reports.append(TypeReport(ctype, n_ok, n_fa, None, why))
            continue
        x = np.stack([s.vector for s in mine]).astype(np.float64)
        fit = fit_type(x, y, cfg.threshold)
        fits[ctype] = fit
        reports.append(TypeReport(ctype, n_ok, n_fa, fit))
    return fits, reports


@dataclass(frozen=True, slots=True)
class LearnResult:
    """What `learn` did: the file written (None: nothing to learn from yet)."""

    path: Path | None
    model: str
    output: str
    samples: int
    reports: list[TypeReport]


def learn(
    outbox: SqliteOutbox,
    cfg: SecondLookConfig,
    path: Path,
    backbone: tuple[str, str] | None = None,
) -> LearnResult:
    """Fit every type that has enough verdicts and write the fit to `path` (also
    with no type fitted yet, so an outdated fit stops holding); `backbone` as for
    `load_samples`."""
    model, output, samples = load_samples(outbox, backbone)
    if not samples:
        return LearnResult(None, model, output, 0, [])
    fits, reports = fit_samples(samples, cfg)
    SecondLookFit(
        fitted_at=datetime.now(UTC).replace(microsecond=0),
        model=model,
        output=output,
        dim=int(samples[0].vector.shape[0]),
        types=fits,
    ).write(path)
    return LearnResult(path, model, output, len(samples), reports)


class RefitWorker:
    """The daemon's scheduled refit: `learn` every `cfg.refit_s` seconds on a thread
    of its own, stopped by `stop()` (an Event; a fit in progress finishes first)."""

    def __init__(
        self,
        outbox_path: Path,
        cfg: SecondLookConfig,
        fit_path: Path,
        backbone: tuple[str, str] | None = None,
    ) -> None:
        self.outbox_path = outbox_path
        self.cfg = cfg
        self.fit_path = fit_path
        self.backbone = backbone
        self.runs = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="second-look-refit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.refit_s):
            self.run_once()

    def run_once(self) -> LearnResult | None:
        if not self.outbox_path.is_file():  # no case written yet
            return None
        try:
            outbox = SqliteOutbox.open(self.outbox_path)
            try:
                result = learn(outbox, self.cfg, self.fit_path, self.backbone)
            finally:
                outbox.close()
        except Exception as exc:  # the next run tries again
            self.failures += 1
            log.warning("second look refit failed: %s", exc)
            return None
        self.runs += 1
        fitted = [r.type for r in result.reports if r.fit is not None]
        log.info(
            "second look refit: %d judged case(s); fitted: %s",
            result.samples,
            ", ".join(fitted) or "none yet",
        )
        return result

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
