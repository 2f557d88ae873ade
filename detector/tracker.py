"""ByteTrack multi-object tracker (Zhang et al., 2022) driven by frame timestamps.

The pipeline analyses only a few frames per second and may skip frames, so every time
quantity here is in seconds: the Kalman prediction uses the real time step between two
``update`` calls, and lost tracks expire after ``lost_track_buffer_s`` seconds.

Association follows ByteTrack:

1. high-score detections against every confirmed track (tracked and lost);
2. low-score detections against the confirmed tracks still tracked in the previous frame;
3. the remaining high-score detections against tentative tracks (not yet confirmed);
4. remaining high-score detections scoring at least ``new_track_threshold`` start tentative
   tracks. A tentative track becomes confirmed, and gets a public id, after ``min_hits``
   consecutive matched frames; it is dropped the first frame it is not matched.

Matching is IoU-only (optimal assignment), between Kalman-predicted boxes and detections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from lookout.base.geometry import box_ious
from lookout.detector.detections import Detections
from lookout.detector.settings import TrackerConfig

_TENTATIVE, _TRACKED, _LOST = 0, 1, 2

# Kalman noise, as standard deviations relative to the box height h (pixels) for cx, cy
# and h, absolute for the aspect ratio w / h. Time is in seconds.
_MEAS_POS, _MEAS_ASPECT = 0.05, 0.1  # measurement noise
_INIT_POS, _INIT_ASPECT = 0.1, 0.1  # initial position uncertainty
_INIT_VEL, _INIT_VEL_ASPECT = 1.0, 0.01  # initial velocity uncertainty, per second
_ACCEL, _ACCEL_ASPECT = 1.0, 0.01  # white acceleration: velocity drift per sqrt(second)
_WALK, _WALK_ASPECT = 0.05, 0.02  # extra position random walk per sqrt(second)
_MIN_SIZE = 1e-3  # smallest box side (pixels) used in divisions and noise scaling


def _per_dim(h: np.ndarray, rel: float, aspect: float) -> np.ndarray:
    """Per-dimension std for (cx, cy, a, h) from heights h (N,): shape (N, 4)."""
    s = rel * h
    return np.stack([s, s, np.full_like(h, aspect), s], axis=1)


def _xyxy_to_xyah(xyxy: np.ndarray) -> np.ndarray:
    """Boxes (N, 4) x1, y1, x2, y2 -> (N, 4) float64 centre x, centre y, w / h, h."""
    b = xyxy.astype(np.float64)
    w = np.maximum(b[:, 2] - b[:, 0], _MIN_SIZE)
    h = np.maximum(b[:, 3] - b[:, 1], _MIN_SIZE)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, w / h, h], axis=1)


def _xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(N, 4) centre x, centre y, w / h, h -> (N, 4) x1, y1, x2, y2."""
    h = np.maximum(xyah[:, 3], _MIN_SIZE)
    w = np.maximum(xyah[:, 2] * h, _MIN_SIZE)
    cx, cy = xyah[:, 0], xyah[:, 1]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def _kf_initiate(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New states from measurements z (N, 4) xyah: mean (N, 8), covariance (N, 8, 8)."""
    mean = np.concatenate([z, np.zeros_like(z)], axis=1)
    std = np.concatenate(
        [
            _per_dim(z[:, 3], _INIT_POS, _INIT_ASPECT),
            _per_dim(z[:, 3], _INIT_VEL, _INIT_VEL_ASPECT),
        ],
        axis=1,
    )
    cov = np.zeros((len(z), 8, 8))
    cov[:, np.arange(8), np.arange(8)] = std**2
    return mean, cov


def _kf_predict(mean: np.ndarray, cov: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Constant-velocity prediction by dt seconds of all states: mean (T, 8), cov (T, 8, 8).

    Process noise is continuous white acceleration (plus a small random walk on position),
    scaled by dt and by each box height, so it is consistent at any frame rate.
    """
    h = np.maximum(mean[:, 3], _MIN_SIZE)
    acc = _per_dim(h, _ACCEL, _ACCEL_ASPECT) ** 2
    walk = _per_dim(h, _WALK, _WALK_ASPECT) ** 2
    f = np.eye(8)
    f[:4, 4:] = dt * np.eye(4)
    mean = mean @ f.T
    cov = f @ cov @ f.T
    i = np.arange(4)
    cov[:, i, i] += acc * dt**3 / 3 + walk * dt
    cov[:, i, i + 4] += acc * dt**2 / 2
    cov[:, i + 4, i] += acc * dt**2 / 2
    cov[:, i + 4, i + 4] += acc * dt
    return mean, cov


def _kf_update(mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct states mean (M, 8), cov (M, 8, 8) with measurements z (M, 4) xyah."""
    r = _per_dim(np.maximum(mean[:, 3], _MIN_SIZE), _MEAS_POS, _MEAS_ASPECT) ** 2
    s = cov[:, :4, :4].copy()
    s[:, np.arange(4), np.arange(4)] += r
    gain = np.linalg.solve(s, cov[:, :4, :]).transpose(0, 2, 1)  # (M, 8, 4) = P H^T S^-1
    mean = mean + np.einsum("mij,mj->mi", gain, z - mean[:, :4])
    cov = cov - gain @ cov[:, :4, :]
    return mean, (cov + cov.transpose(0, 2, 1)) / 2


def _match(iou: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal assignment on cost 1 - IoU where pairs below min_iou are forbidden.

    Each row or column may stay unmatched at cost (1 - min_iou) / 2, so a pair is only
    matched when that is cheaper than leaving both unmatched (like lapjv's cost_limit).

    Args:
        iou: (T, D) IoU of tracks against detections.
    Returns:
        Matched row indices (K,) and column indices (K,).
    """
    n_t, n_d = iou.shape
    valid = iou >= min_iou
    if not valid.any():
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    cost = np.full((n_t + n_d, n_d + n_t), np.inf)
    cost[:n_t, :n_d] = np.where(valid, 1.0 - iou, np.inf)
    np.fill_diagonal(cost[:n_t, n_d:], (1.0 - min_iou) / 2)
    np.fill_diagonal(cost[n_t:, :n_d], (1.0 - min_iou) / 2)
    cost[n_t:, n_d:] = 0.0
    rows, cols = linear_sum_assignment(cost)
    keep = (rows < n_t) & (cols < n_d)
    return rows[keep], cols[keep]


@dataclass
class _Tracks:
    """All tracks as parallel arrays (T = number of tracks)."""

    mean: np.ndarray  # (T, 8) float64 Kalman state cx, cy, a, h and their velocities per second
    cov: np.ndarray  # (T, 8, 8) float64
    track_id: np.ndarray  # (T,) int64, -1 while tentative
    state: np.ndarray  # (T,) int8, _TENTATIVE / _TRACKED / _LOST
    hits: np.ndarray  # (T,) int64, consecutive matched frames
    class_id: np.ndarray  # (T,) int32, class of the last matched detection
    last_seen: np.ndarray  # (T,) float64, timestamp of the last match
    born: np.ndarray  # (T,) float64, timestamp of the first (tentative) detection

    @classmethod
    def create(cls, z: np.ndarray, class_id: np.ndarray, t: float) -> _Tracks:
        """Tentative tracks from measurements z (N, 4) xyah and classes (N,) at time t."""
        mean, cov = _kf_initiate(z)
        n = len(z)
        return cls(
            mean=mean,
            cov=cov,
            track_id=np.full(n, -1, dtype=np.int64),
            state=np.full(n, _TENTATIVE, dtype=np.int8),
            hits=np.ones(n, dtype=np.int64),
            class_id=np.asarray(class_id, dtype=np.int32).copy(),
            last_seen=np.full(n, t, dtype=np.float64),
            born=np.full(n, t, dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.track_id)

    def take(self, index: np.ndarray) -> _Tracks:
        """Rows selected by a boolean mask or index array (copies)."""
        return _Tracks(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def concat(self, other: _Tracks) -> _Tracks:
        """These rows followed by other's."""
        return _Tracks(
            **{
                f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                for f in fields(self)
            }
        )


class ByteTracker:
    """ByteTrack over timestamped frames; see the module docstring for the algorithm."""

    def __init__(self, settings: TrackerConfig | None = None) -> None:
        self.settings = settings or TrackerConfig()
        self._next_id = 1
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and the time base. Ids keep increasing: never reused."""
        empty = np.zeros((0, 4))
        self._tracks = _Tracks.create(empty, np.zeros(0, dtype=np.int32), 0.0)
        self._time: float | None = None

    @property
    def active_track_count(self) -> int:
        """Confirmed tracks matched in the last frame (not lost, not tentative)."""
        return int(np.count_nonzero(self._tracks.state == _TRACKED))

    def update(self, detections: Detections, timestamp_s: float) -> Detections:
        """Track one frame.

        Args:
            detections: the frame's detections (N rows).
            timestamp_s: frame time in seconds; must not decrease between calls.
        Returns:
            The same N rows in the same order, with ``tracker_id`` set to the id of the
            confirmed track each belongs to, or -1 (low score, tentative track, unmatched).
        """
        t = float(timestamp_s)
        if not math.isfinite(t):
            raise ValueError(f"timestamp_s must be finite, got {timestamp_s}")
        if self._time is not None and t < self._time:
            raise ValueError(f"timestamp_s went backwards: {t} < {self._time}")
        dt = 0.0 if self._time is None else t - self._time
        self._time = t
        s = self.settings

        tr = self._tracks.take(t - self._tracks.last_seen <= s.lost_track_buffer_s)
        tr.mean[tr.state == _LOST, 7] = 0.0  # lost boxes keep their size (as ByteTrack)
        tr.mean, tr.cov = _kf_predict(tr.mean, tr.cov, dt)

        n = len(detections)
        conf = detections.confidence
        high = conf >= s.high_threshold
        low = (conf >= s.low_threshold) & ~high
        iou = box_ious(_xyah_to_xyxy(tr.mean[:, :4]), detections.xyxy)
        if s.class_aware:
            iou[tr.class_id[:, None] != detections.class_id[None, :]] = 0.0
        det_track = np.full(n, -1, dtype=np.intp)  # index into tr of each detection's track
        free = np.ones(len(tr), dtype=bool)

        def associate(track_mask: np.ndarray, det_mask: np.ndarray, min_iou: float) -> None:
            ti = np.flatnonzero(track_mask & free)
            di = np.flatnonzero(det_mask & (det_track < 0))
            rows, cols = _match(iou[np.ix_(ti, di)], min_iou)
            det_track[di[cols]] = ti[rows]
            free[ti[rows]] = False

        associate(tr.state != _TENTATIVE, high, s.match_iou)
        associate(tr.state == _TRACKED, low, s.low_match_iou)
        associate(tr.state == _TENTATIVE, high, s.match_iou)

        di = np.flatnonzero(det_track >= 0)
        ti = det_track[di]
        if len(di):
            z = _xyxy_to_xyah(detections.xyxy[di])
            tr.mean[ti], tr.cov[ti] = _kf_update(tr.mean[ti], tr.cov[ti], z)
            tr.hits[ti] += 1
            tr.class_id[ti] = detections.class_id[di]
            tr.last_seen[ti] = t
            tr.state[ti] = np.where(tr.state[ti] == _TENTATIVE, _TENTATIVE, _TRACKED)
        tr.state[free & (tr.state == _TRACKED)] = _LOST
        drop = free & (tr.state == _TENTATIVE)

        new = np.flatnonzero(high & (det_track < 0) & (conf >= s.new_track_threshold))
        if len(new):
            det_track[new] = len(tr) + np.arange(len(new))
            born = _Tracks.create(_xyxy_to_xyah(detections.xyxy[new]), detections.class_id[new], t)
            tr = tr.concat(born)
            drop = np.concatenate([drop, np.zeros(len(new), dtype=bool)])

        confirm = np.flatnonzero((tr.state == _TENTATIVE) & ~drop & (tr.hits >= s.min_hits))
        tr.track_id[confirm] = self._next_id + np.arange(len(confirm))
        tr.state[confirm] = _TRACKED
        self._next_id += len(confirm)

        ids = np.full(n, -1, dtype=np.int64)
        assigned = det_track >= 0
        ids[assigned] = tr.track_id[det_track[assigned]]
        self._tracks = tr.take(~drop)
        return detections.with_tracker_id(ids)

    def first_seen(self, track_ids: np.ndarray) -> np.ndarray:
        """Timestamps (float64) of the first detection of each confirmed track id, from
        before it was confirmed (`min_hits`); NaN for ids not tracked (e.g. -1)."""
        ids = np.asarray(track_ids, dtype=np.int64)
        out = np.full(len(ids), np.nan)
        tr = self._tracks
        if len(tr) and len(ids):
            order = np.argsort(tr.track_id)
            pos = np.searchsorted(tr.track_id[order], ids)
            pos = np.minimum(pos, len(tr) - 1)
            hit = (tr.track_id[order][pos] == ids) & (ids >= 0)
            out[hit] = tr.born[order][pos][hit]
        return out
