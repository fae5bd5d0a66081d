"""Burst ingestion: read one burst from its product, calibrate, write a Zarr v3 store.

Streaming: the burst is processed one azimuth tile-row at a time (tile_size[0]
lines x all samples x each polarisation). The next row is read while the current
one is calibrated and written, so peak memory is a few tile rows, whatever the
burst size, and object-store latency overlaps with compute.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import time
from typing import Any, Callable

import dask.array as da
import numpy as np
import xarray as xr

from . import __version__, store
from .calibration import CalibrationLut, calibrate_block
from .products.model import BurstInfo
from .products.sentinel1 import OpenedProduct, ProductError, open_product, read_burst_pairs, tiff_layout

SIGMA0_ATTRS = {
    "sigma0": {
        "units": "m2 m-2",
        "long_name": "radar backscatter coefficient sigma0 (linear)",
        "standard_name": "surface_backwards_scattering_coefficient_of_radar_wave",
        "formula": "sigma0 = |DN|^2 / A_sigma^2, A_sigma bilinear in the calibration LUT",
        "reference": "ESA, Radiometric Calibration of Sentinel-1 Products (ESA-EOPG-CSCOP-TN-0002)",
        "thermal_noise_removed": "no",
    },
    "sigma0_db": {
        "units": "dB",
        "long_name": "radar backscatter coefficient sigma0 in decibels",
        "formula": "sigma0_db = 10 log10(sigma0)",
        "reference": "ESA, Radiometric Calibration of Sentinel-1 Products (ESA-EOPG-CSCOP-TN-0002)",
        "thermal_noise_removed": "no",
    },
}


@dataclasses.dataclass(frozen=True)
class BurstResult:
    burst: BurstInfo
    store_url: str
    skipped: bool  # True when a complete store from an earlier run was kept
    seconds: float
    bytes_read: int
    shape: tuple[int, int, int]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["burst"] = self.burst.to_dict()
        return d


def burst_template(burst: BurstInfo) -> xr.Dataset:
    """Coordinates, attributes and lazy empty variables of a calibrated burst store."""
    pols = list(burst.polarisations)
    t0 = np.datetime64(burst.first_line_time, "ns")
    dt_ns = np.round(np.arange(burst.lines) * burst.azimuth_time_interval * 1e9).astype("int64")
    azimuth_time = t0 + dt_ns.astype("timedelta64[ns]")
    slant_range_time = burst.slant_range_time + np.arange(burst.samples) / burst.range_sampling_rate
    shape = (len(pols), burst.lines, burst.samples)
    coords = {
        "polarisation": ("polarisation", np.array(pols, dtype=object), {"long_name": "transmit/receive polarisation"}),
        "azimuth_time": ("azimuth", azimuth_time, {"long_name": "zero-Doppler azimuth time of the line (UTC)"}),
        "slant_range_time": ("range", slant_range_time, {"units": "s", "long_name": "two-way slant range time"}),
        "line": ("azimuth", np.arange(burst.lines, dtype=np.int32) + burst.line_offset,
                 {"long_name": "line index in the swath measurement"}),
        "pixel": ("range", np.arange(burst.samples, dtype=np.int32), {"long_name": "pixel index in the swath measurement"}),
    }
    data_vars = {
        name: (("polarisation", "azimuth", "range"), da.zeros(shape, dtype=np.float32, chunks=shape), attrs)
        for name, attrs in SIGMA0_ATTRS.items()
    }
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    ds.attrs.update({
        "title": f"Calibrated Sentinel-1 burst {burst.acquisition_id}",
        "Conventions": "CF-1.10",
        "source": "Sentinel-1 IW SLC",
        "product_id": burst.product_id,
        "product_url": burst.product_url,
        "stack_id": burst.stack_id,
        "acquisition_id": burst.acquisition_id,
        "burst": json.dumps(burst.to_dict()),
        "software": f"alignsar {__version__}",
        "valid_window": json.dumps({"first_line": burst.valid_first_line, "last_line": burst.valid_last_line,
                                    "first_sample": burst.valid_first_sample, "last_sample": burst.valid_last_sample}),
    })
    return ds


def _write_row(arrays, ip: int, rows: slice, lin: np.ndarray, db: np.ndarray) -> None:
    arrays["sigma0"][ip, rows, :] = lin
    arrays["sigma0_db"][ip, rows, :] = db


def calibrate_burst_to_zarr(
    burst: BurstInfo,
    out_url: str,
    *,
    tile_size: tuple[int, int] = (512, 4096),
    storage_options_in: dict[str, Any] | None = None,
    storage_options_out: dict[str, Any] | None = None,
    product: OpenedProduct | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> BurstResult:
    """Calibrate one burst (all its polarisations) into a Zarr v3 store at ``out_url``.

    A complete store already at ``out_url`` is kept (``skipped=True``) unless
    ``overwrite``. On any error the partial store is removed and the error re-raised;
    input problems surface as ProductError naming the product.
    """
    t_start = time.perf_counter()
    if not overwrite and store.is_complete(out_url, storage_options_out):
        return BurstResult(burst, out_url, True, time.perf_counter() - t_start, 0,
                           (len(burst.polarisations), burst.lines, burst.samples))
    product = product or open_product(burst.product_url, storage_options_in)

    # Everything that can fail on bad input happens before the first byte is written.
    luts, layouts = {}, {}
    lines = np.arange(burst.lines) + burst.line_offset
    samples = np.arange(burst.samples)
    for pol in burst.polarisations:
        try:
            cal = product.open_group(f"{burst.swath}/{pol}/calibration")
        except Exception as exc:
            raise ProductError(product.url, f"{burst.swath}/{pol}: calibration annotation unreadable ({exc})") from exc
        lut = CalibrationLut.from_xarray_sentinel(cal, "sigma0")
        idx, w = lut.line_weights(lines)
        luts[pol] = (lut.rows_at_pixels(samples), idx, w)
        try:
            layouts[pol] = layout = tiff_layout(product.fs, product.measurement_path(burst.swath, pol))
        except Exception as exc:
            raise ProductError(product.url, f"{burst.swath}/{pol}: measurement TIFF unreadable ({type(exc).__name__}: {exc})") from exc
        last_row = burst.line_offset + burst.lines - 1
        if last_row >= layout.height or layout.row_end(last_row) > layout.file_size:
            raise ProductError(product.url, f"{burst.swath}/{pol}: measurement TIFF truncated "
                               f"({layout.file_size} bytes; burst {burst.burst_index} needs rows up to {last_row})")

    valid_rows = np.zeros(burst.lines, dtype=bool)
    valid_rows[burst.valid_first_line: burst.valid_last_line + 1] = True
    valid_samples = (burst.valid_first_sample, burst.valid_last_sample)

    tile_az, tile_rg = tile_size
    store.remove(out_url, storage_options_out)
    try:
        store.create_template(out_url, burst_template(burst),
                              {"polarisation": 1, "azimuth": tile_az, "range": tile_rg},
                              storage_options_out)
        group = store.open_group(out_url, storage_options_out)
        arrays = {name: group[name] for name in SIGMA0_ATTRS}
        rows = list(store.tile_slices(burst.lines, tile_az))
        jobs = [(r, ip, pol) for r in rows for ip, pol in enumerate(burst.polarisations)]
        bytes_read = 0

        def read(job):
            r, _, pol = job
            return read_burst_pairs(product, burst, pol, r.start, r.stop, layout=layouts[pol])

        # Three stages overlap: reads run ahead (2 in flight), the kernel runs here,
        # and region writes drain in the background (2 in flight), so the object
        # store is kept busy in both directions while the CPU calibrates.
        with cf.ThreadPoolExecutor(max_workers=2) as readers, \
                cf.ThreadPoolExecutor(max_workers=2) as writers:
            pending = [readers.submit(read, j) for j in jobs[:2]]
            writes: list[cf.Future] = []
            for k, job in enumerate(jobs):
                dn = pending.pop(0).result()
                if k + 2 < len(jobs):
                    pending.append(readers.submit(read, jobs[k + 2]))
                r, ip, pol = job
                bytes_read += dn.size * 2  # CInt16 bytes: 2 per (re or im) value
                rows_lut, idx, w = luts[pol]
                lin, db = calibrate_block(dn, rows_lut, idx[r], w[r], valid_rows[r], valid_samples)
                del dn
                while len(writes) >= 2:
                    writes.pop(0).result()
                writes.append(writers.submit(_write_row, arrays, ip, r, lin, db))
                if progress:
                    progress(k + 1, len(jobs))
            for f in writes:
                f.result()
        store.mark_complete(group, {"bytes_read": bytes_read})
    except BaseException:
        store.remove(out_url, storage_options_out)
        raise
    return BurstResult(burst, out_url, False, time.perf_counter() - t_start, bytes_read,
                       (len(burst.polarisations), burst.lines, burst.samples))
