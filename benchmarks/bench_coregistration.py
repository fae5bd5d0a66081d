"""Seconds and peak memory to coregister one full Sentinel-1 IW burst date (VV + VH),
and the fraction spent in resampling; the reference set-up (terrain nodes) and the
local metadata (incl. the layover/shadow mask) are timed apart (once per stack).

    .venv/bin/python benchmarks/bench_coregistration.py [--samples 21632] [--workdir DIR]

A two-date full-burst stack is simulated first (~100 s) into --workdir (kept, reused
when it is already there). Target (issue 4): < 60 s per full burst-date on 2 cores,
peak memory < 2 GB per worker. Each measurement runs in a fresh child process.
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def child(workdir: str, what: str) -> None:
    import alignsar_core.resample as rs
    from alignsar_core.coregistration import ReferenceBurst, coregister_burst
    from alignsar_core.dem import read_dem
    from alignsar_core.products.sentinel1 import list_bursts, open_product

    products = sorted(glob.glob(f"{workdir}/*.SAFE"))
    p0, p1 = open_product(products[0]), open_product(products[1])
    b0 = [b for b in list_bursts(p0) if b.swath == "IW1"][0]
    b1 = [b for b in list_bursts(p1) if b.swath == "IW1"][0]
    dem = read_dem(f"{workdir}/scene/dem.tif")
    spent = {"resample": 0.0}
    original = rs._resample_separable_kernel

    def timed(*a):
        t = time.perf_counter()
        original(*a)
        spent["resample"] += time.perf_counter() - t

    t0 = time.perf_counter()
    ref = ReferenceBurst.compute(p0, b0, dem.interp)
    t_ref = time.perf_counter() - t0
    out = {"reference_s": t_ref}
    if what == "date":
        rs._resample_separable_kernel = timed
        t0 = time.perf_counter()
        coregister_burst(ref, p1, b1, ["VV", "VH"], sink=lambda pol, img: None)  # as the stack writer does
        out["date_s"] = time.perf_counter() - t0
        out["resample_s"] = spent["resample"]
    else:
        from alignsar_core.stack import local_metadata

        t0 = time.perf_counter()
        for a in range(0, ref.grid.lines, 512):  # tile rows, as create_stack writes them
            local_metadata(ref, dem, rows=(a, min(a + 512, ref.grid.lines)))
        out["metadata_s"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=21632)
    ap.add_argument("--workdir", default="/tmp/alignsar-bench-coreg")
    ap.add_argument("--child", choices=["date", "metadata"])
    args = ap.parse_args()
    if args.child:
        child(args.workdir, args.child)
        return
    if len(glob.glob(f"{args.workdir}/*.SAFE")) < 2:
        from alignsar_core.simulate.radar import simulate_stack

        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        print(f"simulating 2 dates x 1 burst x {args.samples} samples into {args.workdir} ...", flush=True)
        simulate_stack(args.workdir, n_dates=2, n_bursts=1, n_samples=args.samples, seed=0)
    res = {}
    for what in ("date", "metadata"):
        out = subprocess.run([sys.executable, __file__, "--child", what, "--workdir", args.workdir],
                             capture_output=True, text=True, check=True)
        res[what] = json.loads(out.stdout.strip().splitlines()[-1])
    d, m = res["date"], res["metadata"]
    print(f"coregistration of one burst date, 1501 x {args.samples}, VV + VH (2 cores)")
    print(f"  reference set-up (terrain nodes, once per stack)   {d['reference_s']:6.1f} s")
    print(f"  one date: offsets + deramp/resample/reramp, 2 pols {d['date_s']:6.1f} s   "
          f"(resampling kernel {d['resample_s']:.1f} s = {100 * d['resample_s'] / d['date_s']:.0f} %)")
    print(f"  peak memory of that process                        {d['peak_rss_mb']:6.0f} MB")
    print(f"  local metadata + layover/shadow (once per stack)   {m['metadata_s']:6.1f} s   "
          f"peak {m['peak_rss_mb']:.0f} MB")
    print("  targets: < 60 s per burst-date, < 2 GB per worker")


if __name__ == "__main__":
    main()
