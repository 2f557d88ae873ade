"""Column-wise detections: one numpy array per attribute, filtered with boolean masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_EMPTY_BOXES = np.zeros((0, 4), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Detections:
    """Detections of one frame.

    Attributes:
        xyxy: boxes in frame pixels, shape (N, 4), float32, (x1, y1, x2, y2).
        confidence: scores in [0, 1], shape (N,), float32.
        class_id: model class index, shape (N,), int32.
        tracker_id: track id per box, shape (N,), int64; -1 where untracked.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0]
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        for name in ("confidence", "class_id", "tracker_id"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=_EMPTY_BOXES.copy(),
            confidence=np.zeros(0, dtype=np.float32),
            class_id=np.zeros(0, dtype=np.int32),
            tracker_id=np.zeros(0, dtype=np.int64),
        )

    @classmethod
    def create(
        cls,
        xyxy: npt.ArrayLike,
        confidence: npt.ArrayLike,
        class_id: npt.ArrayLike,
        tracker_id: npt.ArrayLike | None = None,
    ) -> Detections:
        """Build detections, casting to the canonical dtypes."""
        xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        n = xyxy.shape[0]
        tid = (
            np.full(n, -1, dtype=np.int64)
            if tracker_id is None
            else np.asarray(tracker_id, dtype=np.int64)
        )
        return cls(
            xyxy=xyxy,
            confidence=np.asarray(confidence, dtype=np.float32).reshape(n),
            class_id=np.asarray(class_id, dtype=np.int32).reshape(n),
            tracker_id=tid,
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        """Select rows by boolean mask, index array, slice or single int."""
        if isinstance(index, int):
            index = np.array([index])
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=self.tracker_id[index],
        )

    def concat(self, other: Detections) -> Detections:
        """These detections followed by `other`'s."""
        return Detections(
            xyxy=np.concatenate([self.xyxy, other.xyxy]),
            confidence=np.concatenate([self.confidence, other.confidence]),
            class_id=np.concatenate([self.class_id, other.class_id]),
            tracker_id=np.concatenate([self.tracker_id, other.tracker_id]),
        )

    def with_tracker_id(self, tracker_id: np.ndarray) -> Detections:
        return Detections(
            xyxy=self.xyxy,
            confidence=self.confidence,
            class_id=self.class_id,
            tracker_id=np.asarray(tracker_id, dtype=np.int64).reshape(len(self)),
        )

    def bottom_center(self) -> np.ndarray:
        """Ground anchor of each box: (x_center, y_bottom), shape (N, 2), float32."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) * 0.5
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)

    @property
    def heights(self) -> np.ndarray:
        """Box heights, shape (N,), float32."""
        return (self.xyxy[:, 3] - self.xyxy[:, 1]).astype(np.float32)
