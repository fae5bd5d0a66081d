"""Seconds and peak memory to simulate full Sentinel-1 IW bursts (VV + VH) with the scene
simulator, per date: date 0 (the reference geometry) and date 1 (another orbit: the
scatterers are resampled onto its grid).

    .venv/bin/python benchmarks/bench_simulate.py [--samples 21632] [--dates 2]

Target (issue 3): one full burst, two polarisations, under 60 s and 3 GB on 2 cores.
Runs in a child process so the peak resident memory is the simulation's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time


def child(samples: int, dates: int) -> None:
    from alignsar_core.simulate.radar import simulate_stack

    marks = []
    t0 = time.perf_counter()

    def progress(msg):
        marks.append((time.perf_counter() - t0, msg))

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        st = simulate_stack(tmp, n_dates=dates, n_bursts=1, n_samples=samples, seed=0, progress=progress)
    total = time.perf_counter() - t0
    ends = [t for t, m in marks if m.startswith("date ") and ": S1" in m]
    scene = next((t for t, m in marks if m.startswith("scene")), 0.0)
    per_date = [b - a for a, b in zip([scene] + ends[:-1], ends)]
    print(json.dumps({"total_s": total, "scene_s": scene, "per_date_s": per_date,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "lines": st.simulated[0].lines, "samples": samples}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=21632)
    ap.add_argument("--dates", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.samples, args.dates)
        return
    out = subprocess.run([sys.executable, __file__, "--child", "--samples", str(args.samples),
                          "--dates", str(args.dates)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    mpix = r["lines"] * r["samples"] / 1e6
    print(f"scene simulator, 1 burst {r['lines']} x {r['samples']} ({mpix:.1f} Mpixel), VV + VH, "
          f"{len(r['per_date_s'])} dates")
    print(f"  scene + template set-up      {r['scene_s']:7.1f} s")
    for d, s in enumerate(r["per_date_s"]):
        what = "reference geometry" if d == 0 else "other orbit: resampled, 16 taps"
        print(f"  date {d} ({what:32s}) {s:7.1f} s   {2 * mpix / s:5.2f} Mpixel/s (2 pols)")
    print(f"  total (incl. truth and scene files) {r['total_s']:.1f} s")
    print(f"  peak resident memory         {r['peak_rss_mb']:7.0f} MB   (target: < 60 s per burst-date, < 3 GB)")


if __name__ == "__main__":
    main()
