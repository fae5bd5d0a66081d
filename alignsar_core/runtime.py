"""Process-level tuning for the per-tile kernels.

``tune_malloc``: the signature and coregistration tasks allocate and free tens of
tile-sized float32 arrays (8 MB each for a 512 x 4096 tile + halo) per date. With
glibc's defaults (and Dask's, whose nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` for its
workers) such blocks are returned to the kernel when freed and the next tile gets
fresh pages that the kernel must zero and fault in again: measured on a full burst,
30 % of the signature stage's time (system time 21 s of 64 s in
``benchmarks/bench_signatures.py``). Raising the mmap threshold to its glibc maximum
(32 MiB: arrays up to that size come from the heap) and keeping up to
``keep_mb`` of freed heap memory makes the next tile reuse the pages already mapped.
``keep_mb`` must exceed one tile's peak of numpy allocations (309 MB for all
signatures of a dual-pol date on a 512 x 4096 tile): with 256 MB the heap top was
still given back after every tile and the next one spent 51 ms of system time per
tile faulting it in again (24 % of its CPU time); with 1024 MB, 0-1 ms. The cost is
resident memory between tiles: the process keeps the pages of its peak (never more
than it used), up to ``keep_mb``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["tune_malloc"]

# mallopt(3) parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's upper limit on 64-bit systems


@functools.lru_cache(maxsize=None)
def tune_malloc(keep_mb: int = 1024) -> bool:
    """Set glibc's malloc to keep tile-sized arrays on the heap (see the module
    docstring). Once per process (cached); True where applied, False where the C
    library is not glibc (nothing to tune: musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    keep = int(keep_mb) * 1024 * 1024
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
    ok &= mallopt(_M_TRIM_THRESHOLD, keep)
    ok &= mallopt(_M_TOP_PAD, 64 * 1024 * 1024)
    return bool(ok)
