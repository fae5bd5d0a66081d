"""geo2rdr and rdr2geo on one million points of the real product's geometry.

Points are spread over the whole IW1 swath of the shared Sentinel-1 product
(annotation orbit and timing), at random heights of 0..3000 m. Prints, for each
solver, the best and median seconds of ``--repeat`` runs, the points per second,
and the threads numba used; plus the round-trip error geo2rdr(rdr2geo(.)).

    .venv/bin/python benchmarks/bench_geometry.py [--points 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np


def best_of(n, fn):
    times = []
    out = None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--method", default="hermite", choices=["hermite", "lagrange"])
    args = ap.parse_args()

    from alignsar_core.geometry import RadarGrid, bistatic_reference_range_time, geo2rdr, rdr2geo
    from alignsar_core.orbit import Orbit
    from alignsar_core.products.sentinel1 import open_product
    from alignsar_core.settings import shared_data_dir

    url = str(shared_data_dir() / "sentinel1" /
              "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE")
    product = open_product(url, metadata_only=True, allow_partial=True)
    ann = product.annotation("IW1", "VV")
    orbit = Orbit.from_product(product, "IW1", "VV", method=args.method)
    grid = RadarGrid.from_annotation(ann, bistatic_reference_range_time=bistatic_reference_range_time(product))

    rng = np.random.default_rng(0)
    n = args.points
    line = rng.uniform(0, grid.lines - 1, n)
    pixel = rng.uniform(0, grid.samples - 1, n)
    h = rng.uniform(0.0, 3000.0, n)

    # warm-up (numba compile or cache load) on a few points
    ll = rdr2geo(line[:10], pixel[:10], h[:10], orbit, grid)
    geo2rdr(ll.latitude, ll.longitude, h[:10], orbit, grid)

    print(f"{n:,} points, IW1 of {product.name}, orbit method {args.method}, "
          f"numba threads {numba.get_num_threads()}")
    best, med, ll = best_of(args.repeat, lambda: rdr2geo(line, pixel, h, orbit, grid))
    print(f"rdr2geo: best {best:.3f} s  median {med:.3f} s  {n / best / 1e6:.2f} M points/s")
    best, med, rc = best_of(args.repeat, lambda: geo2rdr(ll.latitude, ll.longitude, h, orbit, grid))
    print(f"geo2rdr: best {best:.3f} s  median {med:.3f} s  {n / best / 1e6:.2f} M points/s")
    print(f"round trip: max |d line| {np.nanmax(np.abs(rc.line - line)):.2e}, "
          f"max |d pixel| {np.nanmax(np.abs(rc.pixel - pixel)):.2e}, "
          f"failed points {int(np.isnan(rc.line).sum())}")


if __name__ == "__main__":
    main()
