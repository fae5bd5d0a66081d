"""What Prefect + Dask orchestration costs around the burst work.

Prints, in one run on a local Dask cluster:
  * the per-task overhead of Prefect: N no-op tasks mapped on the cluster, minus the
    same flow with one task (start-up), divided by N;
  * the build-dataset flow on simulated full-width bursts (local S3 server): wall time
    of the flow, sum of the burst tasks' own work (BurstResult.seconds), and the
    orchestration share = 1 - work / (wall * workers) after start-up.

    .venv/bin/python benchmarks/bench_flow_overhead.py [--tasks 100] [--bursts 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--bursts", type=int, default=4, help="full-width bursts (2 pols each)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    from prefect import flow, task

    from alignsar_core.settings import Settings
    from alignsar_core.simulate import simulate_product
    from alignsar_core.simulate.stack import upload
    from alignsar_localstack import LocalObjectStore
    from flows.build_dataset import make_task_runner, run_build_dataset, share_prefect_api

    share_prefect_api()
    settings = Settings(dask_workers=args.workers)

    @task
    def noop(i: int) -> int:
        return i

    @flow
    def fan_out(n: int) -> int:
        return sum(f.result() for f in noop.map(range(n)))

    def timed(n: int) -> float:
        t = time.perf_counter()
        fan_out.with_options(task_runner=make_task_runner(settings))(n)
        return time.perf_counter() - t

    timed(1)  # warm the API server and imports
    t1 = timed(1)
    tn = timed(args.tasks)
    per_task = (tn - t1) / args.tasks
    print(f"Prefect on a local Dask cluster ({args.workers} workers): flow with 1 task {t1:.1f} s, "
          f"with {args.tasks} tasks {tn:.1f} s -> {per_task * 1000:.0f} ms per task "
          f"({per_task * args.workers * 1000:.0f} ms of worker time per task)")

    with LocalObjectStore(buckets=["bench"]) as s3, tempfile.TemporaryDirectory() as tmp:
        s = settings.model_copy(update=dict(
            storage_root="s3://bench/out", s3_endpoint_url=s3.endpoint_url,
            s3_access_key=s3.access_key, s3_secret_key=s3.secret_key))
        opts = s.storage_options_for("s3://bench")
        sim = simulate_product(tmp, n_bursts=args.bursts, n_samples=21632, seed=2)
        upload(sim.path, "s3://bench/in", opts)
        t = time.perf_counter()
        summary, ok = run_build_dataset("s3://bench/in", s)
        wall = time.perf_counter() - t
        assert ok, summary.failures
        work = sum(summary.seconds.values())
        print(f"\nbuild-dataset on {args.bursts} full bursts (2 pols, {args.bursts * 260} MB of SLC): "
              f"flow {wall:.1f} s wall, of which the flow's fixed start-up (cluster, API) is "
              f"about {t1:.1f} s")
        if work:
            busy = work / (args.workers * max(wall - t1, 1e-9))
            print(f"burst work {work:.1f} s over {args.workers} workers -> workers busy {100 * busy:.0f}% "
                  f"of the time after start-up; orchestration per burst task "
                  f"{per_task:.2f} s = {100 * per_task / (work / args.bursts):.1f}% of a burst's work")


if __name__ == "__main__":
    main()
