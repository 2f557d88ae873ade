"""Run a frame producer on its own thread, ahead of the consumer (replay only).

Decoding overlaps inference: ONNX Runtime's threads leave gaps that the decoder
fills. The queue is bounded and blocking (replay never drops a frame); the producer
stops when the consumer goes away, and its exceptions are raised in the consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


def prefetch(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Yield `items`, produced up to `depth` ahead on a background thread."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    error: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer below
            error.append(exc)
        finally:
            while not stop.is_set():
                try:
                    q.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                break
            yield item  # type: ignore[misc]
        if error:
            raise error[0]
    finally:
        stop.set()
        thread.join(timeout=5)
