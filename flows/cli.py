"""The ``alignsar`` command line.

    alignsar demo                       local S3 store + simulated product + full flow
    alignsar inspect PRODUCT_URL        a product's metadata and bursts (--json)
    alignsar run build-dataset INPUT    ad-hoc run of the build-dataset flow
    alignsar simulate --out URL         write simulated Sentinel-1 products
    alignsar geo2rdr PRODUCT --points IN.csv    radar coordinates of ground points
    alignsar rdr2geo PRODUCT --points IN.csv    ground coordinates of radar pixels

Settings come from ALIGNSAR_* environment variables or an alignsar.toml file; the
options below override them for one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap

EPILOG = textwrap.dedent("""\
    settings (environment, or alignsar.toml / ALIGNSAR_CONFIG=FILE):
      ALIGNSAR_STORAGE_ROOT      where outputs go: s3://bucket/prefix or a local folder
      ALIGNSAR_S3_ENDPOINT_URL   S3-compatible endpoint (unset for AWS S3)
      ALIGNSAR_S3_ACCESS_KEY     S3 credentials (else the usual AWS credential chain)
      ALIGNSAR_S3_SECRET_KEY
      ALIGNSAR_S3_REGION
      ALIGNSAR_DASK_ADDRESS      Dask scheduler (unset: a local cluster)
      ALIGNSAR_TILE_SIZE         tile lines,samples (default 512,4096)

    first steps:
      alignsar demo                                   # everything, locally, in ~1 min
      alignsar inspect ../shared/data/sentinel1/S1B_IW_SLC__1SDV_...SAFE
      alignsar run build-dataset s3://my-bucket/slc/ --output s3://my-bucket/alignsar
    """)


def _setup_env() -> None:
    # No internet here and no reason to phone home anywhere.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")


def main(argv: list[str] | None = None) -> int:
    _setup_env()
    parser = argparse.ArgumentParser(
        prog="alignsar",
        description="AlignSAR cloud pipeline: Sentinel-1 SLC products in object storage "
                    "-> calibrated, tiled Zarr v3 stores -> STAC catalog.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the whole pipeline on a simulated stack in a local S3 store",
                       description="Start a local S3 server (SeaweedFS) on 127.0.0.1, simulate a small "
                                   "Sentinel-1 IW SLC stack over a synthetic scene into it (with the truth), "
                                   "run build-dataset on it, and list the Zarr stores and the STAC catalog.")
    p.add_argument("--workdir", default="demo-output", help="folder for the server's data and logs (default: %(default)s)")
    p.add_argument("--dates", type=int, default=3, help="dates in the stack (default: %(default)s)")
    p.add_argument("--bursts", type=int, default=2, help="bursts per product (default: %(default)s)")
    p.add_argument("--samples", type=int, default=2048, help="range samples per burst (default: %(default)s)")
    p.add_argument("--keep-running", action="store_true", help="leave the S3 server running at the end")

    p = sub.add_parser("inspect", help="print a product's metadata and bursts",
                       description="Print a Sentinel-1 product's global metadata and its bursts "
                                   "(swath, polarisations, burst index, burst id, first line time, "
                                   "lines, samples). PRODUCT_URL is a .SAFE folder or .zip, local or s3://.")
    p.add_argument("product_url")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("run", help="run a flow ad hoc")
    flows = p.add_subparsers(dest="flow", metavar="FLOW")
    b = flows.add_parser("build-dataset", help="calibrate every burst of every product under INPUT_URL",
                         description="Run the build-dataset flow: one task per product and per burst on "
                                     "Dask, sigma0 Zarr stores under OUTPUT/bursts/, STAC under OUTPUT/stac/.")
    b.add_argument("input_url", help="folder or bucket prefix holding S1*.SAFE / S1*.zip, or one product")
    b.add_argument("--output", help="storage root for outputs (overrides ALIGNSAR_STORAGE_ROOT)")
    b.add_argument("--dask-address", help="Dask scheduler address (overrides ALIGNSAR_DASK_ADDRESS)")
    b.add_argument("--workers", type=int, help="local Dask workers (default 2)")
    b.add_argument("--tile-size", help="tile lines,samples, e.g. 512,4096")
    b.add_argument("--collection", default=None, help="STAC collection id")
    b.add_argument("--json", action="store_true", help="print the run summary as JSON")

    p = sub.add_parser("simulate", help="simulate a Sentinel-1 IW SLC stack over a known scene, with its truth",
                       description="Simulate a stack of Sentinel-1 IW SLC products (SAFE), one per date, "
                                   "12 days apart, observing a synthetic scene (terrain, land cover, "
                                   "deformation, atmosphere, point targets, change events) through the real "
                                   "geometry of the product in ../shared/data/sentinel1. Writes the products, "
                                   "truth.zarr (ground truth in the reference radar geometry), targets.json and "
                                   "scene/ under --out. Reproducible from --seed.")
    p.add_argument("--out", required=True, help="local folder or s3://bucket/prefix")
    p.add_argument("--dates", type=int, default=3, help="number of dates (default: %(default)s)")
    p.add_argument("--bursts", type=int, default=2, help="bursts per product (default: %(default)s)")
    p.add_argument("--samples", type=int, default=2048,
                   help="range samples from the swath start (default: %(default)s; IW1 data start at ~530; "
                        "21632 for full bursts)")
    p.add_argument("--first-burst", type=int, default=0, help="first template burst (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--polarisations", default="VV,VH", help="default: %(default)s")
    p.add_argument("--relief", type=float, default=400.0, help="synthetic terrain relief in m (default: %(default)s)")
    p.add_argument("--dem", help="a GeoTIFF/COG DEM (any CRS, path or URL) instead of synthetic terrain; it must "
                                 "cover the footprint plus 3 km and state its vertical reference")
    p.add_argument("--no-noise", action="store_true", help="no thermal noise")
    p.add_argument("--zip", action="store_true", help="write .zip products instead of .SAFE folders")

    for name, cols, adds, what in (
            ("geo2rdr", "latitude, longitude, height", "azimuth_time (ISO, zero Doppler), slant_range_time "
             "(two-way, s), slant_range (m), line (measurement TIFF), pixel, burst (-1: in no burst)",
             "radar coordinates of ground points"),
            ("rdr2geo", "line (measurement TIFF), pixel, height", "latitude, longitude (WGS84, deg)",
             "ground coordinates of radar pixels")):
        p = sub.add_parser(name, help=f"{what} (zero-Doppler geometry of a product's swath)",
                           description=f"{what[0].upper() + what[1:]} in one swath of a Sentinel-1 SLC "
                                       f"product (annotation orbit, or --orbit FILE). IN.csv has the "
                                       f"columns {cols} (height in m above the WGS84 ellipsoid); the "
                                       f"output repeats them and adds {adds}.")
        p.add_argument("product_url", help=".SAFE folder or .zip, local or s3://")
        p.add_argument("--swath", default="IW1", help="default: %(default)s")
        p.add_argument("--polarization", "--polarisation", dest="polarization",
                       help="default: the swath's first (co-pol)")
        p.add_argument("--points", required=True, help="input CSV")
        p.add_argument("--out", help="output CSV (default: standard output)")
        p.add_argument("--orbit", help="ESA orbit file (.EOF, POEORB/RESORB) instead of the annotation's vectors")
        p.add_argument("--orbit-method", default="hermite", choices=["hermite", "lagrange"],
                       help="state vector interpolation (default: %(default)s)")

    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "inspect":
            return cmd_inspect(args)
        if args.command == "run":
            if args.flow != "build-dataset":
                parser.parse_args(["run", "--help"])
            return cmd_build_dataset(args)
        if args.command == "demo":
            from flows.demo import run_demo
            return run_demo(workdir=args.workdir, n_bursts=args.bursts, n_samples=args.samples, n_dates=args.dates,
                            keep_running=args.keep_running)
        if args.command == "simulate":
            return cmd_simulate(args)
        if args.command in ("geo2rdr", "rdr2geo"):
            return cmd_geometry(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a clear one-line error for people, not a traceback
        if os.environ.get("ALIGNSAR_DEBUG"):
            raise
        print(f"alignsar: error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_inspect(args) -> int:
    from alignsar_core.products.inspect import inspect_product, format_inspection
    from alignsar_core.settings import get_settings

    settings = get_settings()
    info = inspect_product(args.product_url, settings.storage_options_for(args.product_url))
    print(json.dumps(info, indent=2) if args.json else format_inspection(info))
    return 0


def cmd_build_dataset(args) -> int:
    from alignsar_core.settings import get_settings
    from flows.build_dataset import DEFAULT_COLLECTION, run_build_dataset

    settings = get_settings(storage_root=args.output, dask_address=args.dask_address,
                            dask_workers=args.workers, tile_size=args.tile_size)
    summary, ok = run_build_dataset(args.input_url, settings, args.collection or DEFAULT_COLLECTION)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print_summary(summary)
    return 0 if ok else 1


def print_summary(summary) -> None:
    print(f"\nZarr stores ({len(summary.stores)}) under {summary.storage_root}:")
    for s in summary.stores:
        print(f"  {s}{'  (kept from an earlier run)' if s in summary.skipped else ''}")
    stacks = getattr(summary, "stacks", [])
    if stacks:
        print(f"Coregistered stacks ({len(stacks)}):")
        for s in stacks:
            print(f"  {s}")
    sigs = getattr(summary, "signatures", [])
    if sigs:
        print(f"Signature stores ({len(sigs)}):")
        for s in sigs:
            print(f"  {s}")
    for note in getattr(summary, "notes", []):
        print(f"note: {note}")
    if summary.stac_collection:
        print(f"STAC collection: {summary.stac_collection}")
    if summary.failures:
        print(f"\nFAILED ({len(summary.failures)}):")
        for k, v in summary.failures.items():
            print(f"  {k}: {v}")


def cmd_simulate(args) -> int:
    """Product URLs on standard output (one per line); progress and the truth on stderr."""
    from alignsar_core.simulate.radar import simulate_stack

    def progress(msg):
        print(f"alignsar simulate: {msg}", file=sys.stderr, flush=True)

    st = simulate_stack(args.out, n_dates=args.dates, n_bursts=args.bursts, n_samples=args.samples,
                        first_burst=args.first_burst, seed=args.seed,
                        polarisations=tuple(p.strip() for p in args.polarisations.split(",") if p.strip()),
                        relief_m=args.relief, dem=args.dem, thermal_noise=not args.no_noise, as_zip=args.zip,
                        progress=progress)
    for u in st.products:
        print(u)
    progress(f"truth: {st.truth}")
    progress(f"scene: {st.scene}")
    progress(f"{len(st.products)} products in {st.seconds:.1f} s")
    return 0


def cmd_geometry(args) -> int:
    import numpy as np
    import pandas as pd

    from alignsar_core.geometry import open_swath_geometry
    from alignsar_core.settings import get_settings

    need = ["latitude", "longitude", "height"] if args.command == "geo2rdr" else ["line", "pixel", "height"]
    try:
        points = pd.read_csv(args.points)
    except FileNotFoundError:
        raise ValueError(f"{args.points}: no such file") from None
    missing = [c for c in need if c not in points.columns]
    if missing:
        raise ValueError(f"{args.points}: missing column(s) {', '.join(missing)} (needs {', '.join(need)})")
    settings = get_settings()
    geom = open_swath_geometry(args.product_url, args.swath, args.polarization, orbit=args.orbit,
                               method=args.orbit_method,
                               storage_options=settings.storage_options_for(args.product_url))
    if geom.bistatic_reference_range_time is None:
        print(f"alignsar: warning: {geom.product_name} has no mid-swath annotation: image lines are "
              "taken as zero-Doppler times (no IPF bistatic correction; up to ~0.13 line off)",
              file=sys.stderr)
    cols = [points[c].to_numpy(dtype=np.float64) for c in need]
    out = points.copy()
    if args.command == "geo2rdr":
        rc = geom.geo2rdr(*cols)
        g0 = geom.bursts[0]
        ok = np.isfinite(rc.azimuth_time)
        out["azimuth_time"] = np.where(ok, np.datetime_as_string(g0.datetime(rc.azimuth_time), unit="ns"), "")
        out["slant_range_time"] = rc.slant_range_time
        out["slant_range"] = rc.slant_range
        out["line"] = rc.line
        out["pixel"] = rc.pixel
        out["burst"] = rc.burst
    else:
        gc = geom.rdr2geo(*cols)
        out["latitude"] = gc.latitude
        out["longitude"] = gc.longitude
    if args.out:
        out.to_csv(args.out, index=False)
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
