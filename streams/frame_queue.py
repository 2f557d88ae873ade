"""A bounded frame queue with a declared drop policy.

Live sources use `drop_oldest` by default: when the consumer falls behind, the oldest
frame is discarded (and counted) so the newest picture is always analysed and memory
stays bounded; a reader also looks at the `oldest()` frame and does not decode a new
picture while the consumer leaves one waiting (streams/live_reader.py,
docs/ARCHITECTURE.md "A frame's journey"). With `drop_newest` the queued frames stay
and the new one is dropped; a producer asks `refuses()` first and does not decode a
picture that would be dropped. Either way a picture not made is counted with
`refused()`. `put` never blocks; `get` waits at most its timeout.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

DropPolicy = Literal["drop_oldest", "drop_newest"]


class FrameQueue(Generic[T]):
    """Thread-safe bounded queue that never blocks the producer."""

    def __init__(
        self,
        maxsize: int,
        policy: DropPolicy = "drop_oldest",
        signal: threading.Event | None = None,
    ) -> None:
        """`signal`, if given, is set on every put (one consumer can wait on many queues)."""
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.policy = policy
        self.signal = signal
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Add an item; return False if an item (old or this one) was dropped."""
        with self._cond:
            dropped = False
            if len(self._items) >= self.maxsize:
                self.dropped += 1
                dropped = True
                if self.policy == "drop_newest":
                    return False
                # drop_oldest: make room for the newest picture.
                self._items.popleft()
            self._items.append(item)
            self._cond.notify()
        if self.signal is not None:
            self.signal.set()
        return not dropped

    def refuses(self) -> bool:
        """A `put` now would drop the new item (drop_newest and full): its producer
        may spare the work of making it, and say so with `refused`."""
        if self.policy != "drop_newest":
            return False
        with self._cond:
            return len(self._items) >= self.maxsize

    def refused(self) -> None:
        """Count an item not made because the queue would have dropped it."""
        with self._cond:
            self.dropped += 1

    def get(self, timeout: float) -> T | None:
        """The oldest item, waiting up to `timeout` seconds; None if none came."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def oldest(self) -> T | None:
        """The oldest item (the next `get`), left in the queue."""
        with self._cond:
            return self._items[0] if self._items else None

    def peek(self) -> T | None:
        """The newest item, left in the queue."""
        with self._cond:
            return self._items[-1] if self._items else None

    def get_nowait(self) -> T | None:
        with self._cond:
            return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def clear(self) -> int:
        with self._cond:
            n = len(self._items)
            self._items.clear()
            return n
