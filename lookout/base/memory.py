"""The C libraries' settings for a process with one reader thread per camera
(`prepare_process`): glibc's malloc arenas, and OpenCV's threads.

glibc gives each thread that allocates its own arena (up to 8 per core). A reader
thread converts a 1080p picture (6 MB) about once a second, and that picture is freed
on another thread (the detector's): every reader's arena keeps its own freed pictures
for reuse, which measured as about 6 MB more resident memory per camera. Two arenas
for the whole process keep those pages shared (docs/ARCHITECTURE.md, "Memory"); large
allocations still come from the heap, so no page faults are added per frame (a fixed
`M_MMAP_THRESHOLD` would add about 2 ms per 1080p picture).

OpenCV parallelises a resize or a filter over its own pool of threads, one per core.
In this process the cores are already busy with decoding and inference, and the split
only adds hand-offs: the quality monitor's measures of a 1080p frame cost 1.07 ms of
CPU on 2 threads against 0.68 ms on one (benchmarks/README.md). So OpenCV runs on the
calling thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

import cv2

log = logging.getLogger(__name__)

#: mallopt parameter number of M_ARENA_MAX (glibc's malloc.h).
M_ARENA_MAX = -8
#: Arenas for the process: lock contention stays low with a few large allocations.
ARENAS = 2


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas; call before threads start. False (nothing done) on
    another C library, or when `MALLOC_ARENA_MAX` is set: the operator's value wins."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_ARENA_MAX, arenas))
    if not ok:
        log.debug("mallopt(M_ARENA_MAX) refused")
    return ok


def prepare_process() -> None:
    """`limit_arenas` and single-threaded OpenCV; call before any thread starts (the
    CLI's `main`, and the benchmarks' own processes)."""
    limit_arenas()
    cv2.setNumThreads(1)
