"""Process-level tuning for the per-tile kernels.

``wide_vectors``: on CPUs with AVX-512, lets LLVM vectorise the numba kernels with
512-bit registers (16 float32 lanes). LLVM's tuning for these CPUs prefers 256-bit
vectors (``prefer-256-bit``: older Xeons lowered their clock for 512-bit code), but
the signature kernels are compute-bound in cache (window sums, C2 eigen-parameters,
``signatures.vecmath``'s polynomials): measured on a full burst-date, 13 % less
compute for all signatures (``benchmarks/bench_signatures.py``, 2.91 -> 2.53 s summed
over the tiles, same outputs bit for bit: no kernel's arithmetic depends on the
vector width). Applied when ``alignsar_core`` is imported, before numba compiles or
loads anything; a ``NUMBA_CPU_FEATURES`` set by the user is left alone.

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
import os
import sys

__all__ = ["tune_malloc", "wide_vectors"]

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


@functools.lru_cache(maxsize=None)
def wide_vectors() -> bool:
    """Give numba the host's CPU features without ``prefer-256-bit`` (see the module
    docstring), through ``NUMBA_CPU_FEATURES`` (read by numba when it compiles or loads
    its first function; inherited by worker processes started later). True where
    applied; False where the CPU has no AVX-512, the user set ``NUMBA_CPU_FEATURES``,
    or numba has already set up its code generator in this process."""
    if "NUMBA_CPU_FEATURES" in os.environ:
        return False
    try:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features()
    except (ImportError, RuntimeError):
        return False
    if not features.get("avx512f", False):
        return False
    value = features.flatten() + ",-prefer-256-bit"
    if "numba" in sys.modules:
        from numba.core import config, registry

        if "_toplevel_target_context" in vars(registry.cpu_target) or config.CPU_FEATURES is not None:
            return False  # too late: code generated with the current features
        config.CPU_FEATURES = value
    os.environ["NUMBA_CPU_FEATURES"] = value
    return True
