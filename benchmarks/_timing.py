"""Timing helper shared by the benchmark scripts (run as scripts: this folder is on sys.path)."""

import statistics
import time


def best_of(n, fn):
    """(best, median) seconds of ``n`` calls of ``fn``."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)
