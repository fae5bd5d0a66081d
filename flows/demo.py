"""``alignsar demo``: the whole road from bucket to catalog on this machine.

1. start a local S3 server (SeaweedFS on 127.0.0.1, free ports, real credentials);
2. simulate two dates of a small Sentinel-1 IW SLC product (one SAFE folder, one zip)
   on the real geometry of the product in ../shared/data/sentinel1;
3. upload them to s3://alignsar/input/;
4. run the build-dataset flow (Prefect, local Dask cluster) into s3://alignsar/output;
5. list the Zarr stores and the STAC catalog, open one store from s3:// and compare
   its sigma0 with the simulator's truth.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

BUCKET = "alignsar"


def run_demo(workdir: str = "demo-output", n_bursts: int = 3, n_samples: int = 4096,
             keep_running: bool = False) -> int:
    import xarray as xr

    from alignsar_core.settings import get_settings
    from alignsar_core.simulate.stack import simulate_dates, upload
    from alignsar_localstack.server import LocalObjectStore
    from flows.build_dataset import run_build_dataset
    from flows.cli import print_summary

    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"[1/5] starting the local S3 server (data in {work / 'objectstore'}) ...", flush=True)
    s3 = LocalObjectStore(work / "objectstore", state_dir=work / "objectstore-state", buckets=[BUCKET])
    s3.start()
    try:
        print(f"      S3 endpoint {s3.endpoint_url} (started in {s3.startup_seconds:.1f} s)")
        settings = get_settings(
            storage_root=f"s3://{BUCKET}/output",
            s3_endpoint_url=s3.endpoint_url, s3_access_key=s3.access_key,
            s3_secret_key=s3.secret_key, s3_region=s3.region,
        )
        opts = settings.storage_options_for("s3://")

        print(f"[2/5] simulating 2 dates x {n_bursts} bursts x {n_samples} samples, VV+VH ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="alignsar-demo-") as tmp:
            products = simulate_dates(tmp, n_dates=1, n_bursts=n_bursts, n_samples=n_samples, seed=1)
            products += simulate_dates(tmp, n_dates=2, n_bursts=n_bursts, n_samples=n_samples,
                                       seed=1, as_zip=True)[1:]
            print(f"[3/5] uploading to s3://{BUCKET}/input/ ...", flush=True)
            for p in products:
                print("      " + upload(p.path, f"s3://{BUCKET}/input", opts))

        print("[4/5] running the build-dataset flow (Prefect + local Dask cluster) ...", flush=True)
        summary, ok = run_build_dataset(f"s3://{BUCKET}/input", settings)

        print("[5/5] outputs")
        print_summary(summary)
        if summary.stores:
            first = sorted(summary.stores)[0]
            ds = xr.open_zarr(first, storage_options=opts, consolidated=False)
            print(f"\nOpened {first}:")
            print(f"  sigma0 {dict(ds.sigma0.sizes)}, chunks {ds.sigma0.encoding.get('chunks')}, "
                  f"units {ds.sigma0.attrs['units']!r}")
            truth = products[0]
            burst_index = json.loads(ds.attrs["burst"])["burst_index"]
            rows = slice(burst_index * truth.lines_per_burst, (burst_index + 1) * truth.lines_per_burst)
            for pol in ds.polarisation.values:
                est = float(ds.sigma0.sel(polarisation=pol).mean())
                t = truth.sigma0_truth[str(pol)][rows]
                ref = float(t[truth.valid_mask[rows]].mean())
                print(f"  mean sigma0 {pol}: {est:.5f} (simulator truth {ref:.5f}, "
                      f"{10 * np.log10(est / ref):+.3f} dB)")
        print(f"\nDone in {time.perf_counter() - t0:.0f} s. Open the results from Python:\n")
        print("    import xarray as xr")
        print(f"    opts = {json.dumps(opts)}")
        if summary.stores:
            print(f"    ds = xr.open_zarr({sorted(summary.stores)[0]!r}, storage_options=opts, consolidated=False)")
        if summary.stac_collection:
            print("    import pystac; from alignsar_core.stac import FsspecStacIO")
            print(f"    col = pystac.Collection.from_file({summary.stac_collection!r}, stac_io=FsspecStacIO(opts))")
        if keep_running:
            print(f"\nThe S3 server keeps running (pid {s3.pid}); stop it with:\n"
                  f"    localstack/stop.sh --state {s3.state_dir}")
        else:
            print(f"\n(The S3 server stops now; its data stays in {work / 'objectstore'}. "
                  f"Run `alignsar demo --keep-running` to browse the bucket.)")
        return 0 if ok else 1
    finally:
        if not keep_running:
            s3.stop()
