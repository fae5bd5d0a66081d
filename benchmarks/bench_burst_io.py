"""Read + calibrate + write of one full Sentinel-1 burst through the local S3 server.

Prints, side by side in one run:
  * the I/O floor: a plain byte copy of the burst's bytes (ranged GET of the burst
    from the product in S3, PUT of the same bytes as a new object);
  * read only: the burst's ranged reads through the project's reader;
  * calibrate only: the sigma0 kernel on data already in memory;
  * the real thing: calibrate_burst_to_zarr from s3:// to s3:// (sigma0 linear + dB);
with seconds, MB/s of SLC input, the ratio to the floor, and peak memory.

    .venv/bin/python benchmarks/bench_burst_io.py [--samples 21632] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _timing import best_of  # benchmarks/ is on sys.path when run as a script




def _vm_hwm_mb() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it is not
    inherited from the parent across fork + exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_of_one_run(burst_dict, url, opts, tile):
    """Run the burst pipeline once in this fresh process; report its memory (MB)."""
    from alignsar_core.ingest import calibrate_burst_to_zarr
    from alignsar_core.products.model import BurstInfo
    from alignsar_core.products.sentinel1 import open_product

    product = open_product(url, opts)
    burst = BurstInfo.from_dict(burst_dict)
    base = _vm_hwm_mb()
    calibrate_burst_to_zarr(burst, "s3://bench/out/burst-mem.zarr", tile_size=tile,
                            storage_options_in=opts, storage_options_out=opts, product=product,
                            overwrite=True)
    return base, _vm_hwm_mb()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=21632, help="range samples (21632 = full IW1 burst)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tile", default="512,4096", help="tile lines,samples")
    args = ap.parse_args()
    tile = tuple(int(x) for x in args.tile.split(","))

    import numpy as np

    from alignsar_core.calibration import CalibrationLut, calibrate_block
    from alignsar_core.ingest import calibrate_burst_to_zarr
    from alignsar_core.products.sentinel1 import list_bursts, open_product, read_burst_lines, tiff_layout
    from alignsar_core.settings import Settings
    from alignsar_core.simulate import simulate_product
    from alignsar_core.simulate.stack import upload
    from alignsar_localstack import LocalObjectStore

    with LocalObjectStore(buckets=["bench"]) as s3, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(storage_root="s3://bench/out", s3_endpoint_url=s3.endpoint_url,
                            s3_access_key=s3.access_key, s3_secret_key=s3.secret_key)
        opts = settings.storage_options_for("s3://bench")
        t = time.perf_counter()
        sim = simulate_product(tmp, n_bursts=1, n_samples=args.samples, seed=1)
        t_sim = time.perf_counter() - t
        url = upload(sim.path, "s3://bench/in", opts)
        product = open_product(url, opts)
        burst = list_bursts(product)[0]
        pols = burst.polarisations
        nbytes = burst.lines * burst.samples * 4 * len(pols)
        mb = nbytes / 1e6
        print(f"burst {burst.lines} x {burst.samples} x {len(pols)} pols = {mb:.0f} MB of CInt16 "
              f"(simulated in {t_sim:.1f} s); tile {tile}")

        fs = product.fs
        layouts = {p: tiff_layout(fs, product.measurement_path(burst.swath, p)) for p in pols}

        def byte_copy():
            for p in pols:
                path = product.measurement_path(burst.swath, p)
                start = int(layouts[p].row_offsets[0])
                data = fs.cat_file(path, start=start, end=start + burst.lines * burst.samples * 4)
                fs.pipe_file(f"bench/copy/{p}.bin", data)

        def read_only():
            for p in pols:
                read_burst_lines(product, burst, p, layout=layouts[p])

        dn = {p: read_burst_lines(product, burst, p, layout=layouts[p]) for p in pols}
        luts = {}
        for p in pols:
            lut = CalibrationLut.from_xarray_sentinel(product.open_group(f"{burst.swath}/{p}/calibration"))
            idx, w = lut.line_weights(np.arange(burst.lines) + burst.line_offset)
            luts[p] = (lut.rows_at_pixels(np.arange(burst.samples)), idx, w)
        calibrate_block(dn[pols[0]][:8], luts[pols[0]][0], luts[pols[0]][1][:8], luts[pols[0]][2][:8])  # JIT

        def calibrate_only():
            for p in pols:
                calibrate_block(dn[p], *luts[p])

        def full():
            calibrate_burst_to_zarr(burst, "s3://bench/out/burst.zarr", tile_size=tile,
                                    storage_options_in=opts, storage_options_out=opts,
                                    product=product, overwrite=True)

        del dn  # measure the full pipeline's memory without the benchmark's own copies
        rows = [("byte copy (I/O floor)", byte_copy), ("read only", read_only),
                ("calibrate only (in memory)", calibrate_only),
                ("read + calibrate + write", full)]
        dn = {p: read_burst_lines(product, burst, p, layout=layouts[p]) for p in pols}
        results = {}
        for name, fn in rows:
            results[name] = best_of(args.repeat, fn)
        floor = results["byte copy (I/O floor)"][0]
        print(f"\n{'step':30} {'best s':>8} {'median s':>9} {'MB/s':>8} {'x floor':>8}")
        for name, (best, med) in results.items():
            print(f"{name:30} {best:8.3f} {med:9.3f} {mb / best:8.0f} {best / floor:8.2f}")
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            base, peak = pool.submit(_peak_of_one_run, burst.to_dict(), url, opts, tile).result()
        print(f"\npeak RSS of a fresh worker process running the burst once: {peak:.0f} MB "
              f"({base:.0f} MB after imports, so {peak - base:.0f} MB for the burst)")
        print(f"target: read + calibrate + write within 2x the floor -> "
              f"{results['read + calibrate + write'][0] / floor:.2f}x")


if __name__ == "__main__":
    main()
