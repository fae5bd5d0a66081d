"""``alignsar demo``: the whole road from bucket to catalog on this machine.

1. start a local S3 server (SeaweedFS on 127.0.0.1, free ports, real credentials);
2. simulate a small Sentinel-1 IW SLC stack (3 dates, zipped SAFE products) of a
   synthetic scene seen through the real geometry of the product in
   ../shared/data/sentinel1, straight into s3://alignsar/input/ with its truth;
3. list what the simulator wrote;
4. run the build-dataset flow (Prefect, local Dask cluster) into s3://alignsar/output;
5. list the Zarr stores and the STAC catalog, open one store from s3:// and compare
   its sigma0 with the simulator's truth.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

BUCKET = "alignsar"


def run_demo(workdir: str = "demo-output", n_bursts: int = 2, n_samples: int = 2048,
             keep_running: bool = False, n_dates: int = 3) -> int:
    import fsspec
    import xarray as xr

    from alignsar_core.calibration import NoiseLut
    from alignsar_core.products.sentinel1 import open_product
    from alignsar_core.settings import get_settings
    from alignsar_core.simulate.radar import simulate_stack
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

        print(f"[2/5] simulating {n_dates} dates x {n_bursts} bursts x {n_samples} samples, VV+VH, "
              f"into s3://{BUCKET}/input ...", flush=True)
        st = simulate_stack(f"s3://{BUCKET}/input", n_dates=n_dates, n_bursts=n_bursts, n_samples=n_samples,
                            seed=1, as_zip=True, storage_options=opts,
                            progress=lambda msg: print(f"      {msg}", flush=True))
        print(f"[3/5] simulated in {st.seconds:.0f} s:")
        fs = fsspec.filesystem("s3", **opts)
        for entry in sorted(fs.ls(f"{BUCKET}/input")):
            print(f"      s3://{entry}")

        print("[4/5] running the build-dataset flow (Prefect + local Dask cluster) ...", flush=True)
        summary, ok = run_build_dataset(f"s3://{BUCKET}/input", settings)

        print("[5/5] outputs")
        print_summary(summary)
        truth = xr.open_zarr(st.truth, storage_options=opts, consolidated=False)
        reference = truth.attrs["reference_product"]
        stores = [u for u in sorted(summary.stores)
                  if json.loads(xr.open_zarr(u, storage_options=opts, consolidated=False).attrs["burst"])
                  ["product_id"] == reference]
        if stores:
            ds = xr.open_zarr(stores[0], storage_options=opts, consolidated=False)
            print(f"\nOpened {stores[0]}:")
            print(f"  sigma0 {dict(ds.sigma0.sizes)}, chunks {ds.sigma0.encoding.get('chunks')}, "
                  f"units {ds.sigma0.attrs['units']!r}")
            window = json.loads(ds.attrs["valid_window"])
            rows = slice(window["first_line"], window["last_line"] + 1)
            cols = slice(window["first_sample"], window["last_sample"] + 1)
            lines = ds.line.values[rows]
            product = open_product(st.products[0], opts, metadata_only=True)
            for pol in ds.polarisation.values:
                est = float(ds.sigma0.sel(polarisation=pol).isel(azimuth=rows, range=cols).mean())
                s0 = truth[f"sigma0_{'vv' if pol in ('VV', 'HH') else 'vh'}"].isel(date=0).sel(line=lines)
                noise = NoiseLut.from_xarray_sentinel(product.open_group(f"IW1/{pol}/noise_range"),
                                                      product.open_group(f"IW1/{pol}/noise_azimuth"))
                cal = product.open_group(f"IW1/{pol}/calibration")
                from alignsar_core.calibration import CalibrationLut

                a = CalibrationLut.from_xarray_sentinel(cal).interpolate(lines, ds.pixel.values[cols])
                nesz = noise.interpolate(lines, ds.pixel.values[cols]) / a ** 2
                ref = float((s0.isel(sample=cols).values + nesz).mean())
                print(f"  mean sigma0 {pol}: {est:.5f} (truth sigma0 + noise-equivalent sigma0 {ref:.5f}, "
                      f"{10 * np.log10(est / ref):+.3f} dB)")
        print(f"\nDone in {time.perf_counter() - t0:.0f} s. Open the results from Python:\n")
        print("    import xarray as xr")
        print(f"    opts = {json.dumps(opts)}")
        if summary.stores:
            print(f"    ds = xr.open_zarr({sorted(summary.stores)[0]!r}, storage_options=opts, consolidated=False)")
        if summary.stacks:
            print(f"    stack = xr.open_zarr({sorted(summary.stacks)[0]!r}, storage_options=opts, consolidated=False)")
        print(f"    truth = xr.open_zarr({st.truth!r}, storage_options=opts, consolidated=False)")
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
