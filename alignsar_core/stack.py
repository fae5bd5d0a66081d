"""Coregistered burst stacks in Zarr: ``stacks/{stack_id}.zarr``, dims (time, azimuth, range).

One store per burst footprint (relative burst id), every date on the reference date's
burst grid (``coregistration``):

    slc_{pol}          (time, azimuth, range) complex64  coregistered SLC, calibrated DN
    azimuth_offset     (time, azimuth, range) float32    secondary line - reference line used
    range_offset       (time, azimuth, range) float32    secondary pixel - reference pixel used
    removed_phase      (time, azimuth, range) float32    4 pi / lambda (R_date - R_reference), rad
    valid              (time, azimuth, range) uint8      1 where the date has data (its own burst's
                                                         valid area under the whole resampling kernel)
    esd_correction     (time,)  lines   ESD azimuth correction added to the geometric offsets
    esd_std            (time,)  lines   its standard deviation (NaN: not estimated)
    esd_overlap_coherence (time,)       mean coherence of the burst overlaps used by ESD
    latitude, longitude, height, incidence_angle, look_angle, slant_range, heading,
    layover_shadow     (azimuth, range) local metadata of every reference pixel

Chunks are (1, tile lines, tile samples): each (burst, date) task writes its own time
slice and no two tasks share a chunk. The store is complete (``store.COMPLETE_ATTR``)
once every date is written.
"""

from __future__ import annotations

import json
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from . import __version__, store
from .coregistration import ReferenceBurst, coregister_burst, reference_valid_mask, valid_mask
from .geometry import layover_shadow_mask, local_geometry
from .orbit import seconds_since

STACK_VARIABLES = {
    "azimuth_offset": ("line", "line of the date's burst sampled for the reference pixel minus the reference line "
                               "(geometric offsets from orbits and DEM + ESD correction)"),
    "range_offset": ("pixel", "pixel of the date's burst sampled for the reference pixel minus the reference pixel"),
    "removed_phase": ("rad", "reference (ellipsoid) + topographic phase 4 pi / lambda (R_date - R_reference) from "
                             "each pixel's 3-D position; interferometric phase = arg(s_ref conj(s_date) "
                             "exp(-j removed_phase))"),
}
METADATA_VARIABLES = {
    "latitude": ("degrees_north", "WGS84 latitude of the pixel's ground point (rdr2geo on the DEM)"),
    "longitude": ("degrees_east", "WGS84 longitude of the pixel's ground point"),
    "height": ("m", "height above the WGS84 ellipsoid of the pixel's ground point (DEM)"),
    "incidence_angle": ("degree", "incidence angle on the ellipsoid at the ground point"),
    "look_angle": ("degree", "off-nadir look angle at the satellite"),
    "slant_range": ("m", "one-way slant range satellite - ground point"),
    "heading": ("degree", "azimuth of the satellite track at the ground point, clockwise from north"),
    "layover_shadow": ("1", "0 none, 1 layover, 2 shadow, 3 both (Kropatsch & Strobl 1990)"),
}


def stack_template(ref: ReferenceBurst, dates: list[np.datetime64], pols: list[str]) -> xr.Dataset:
    """Coordinates, attributes and lazy empty variables of a stack store."""
    b = ref.burst
    shape = (len(dates), b.lines, b.samples)
    t0 = np.datetime64(b.first_line_time, "ns")
    az_time = t0 + np.round(np.arange(b.lines) * b.azimuth_time_interval * 1e9).astype("timedelta64[ns]")
    coords = {
        "time": ("time", np.asarray(dates, dtype="datetime64[ns]"), {"long_name": "acquisition (first line) time"}),
        "azimuth_time": ("azimuth", az_time, {"long_name": "zero-Doppler time of the reference line (UTC)"}),
        "slant_range_time": ("range", b.slant_range_time + np.arange(b.samples) / b.range_sampling_rate,
                             {"units": "s", "long_name": "two-way slant range time of the reference pixel"}),
        "line": ("azimuth", np.arange(b.lines, dtype=np.int32) + b.line_offset,
                 {"long_name": "line in the reference swath measurement"}),
        "pixel": ("range", np.arange(b.samples, dtype=np.int32), {"long_name": "pixel in the swath measurement"}),
    }
    dv = {}
    for p in pols:
        dv[f"slc_{p.lower()}"] = (("time", "azimuth", "range"), da.zeros(shape, dtype=np.complex64, chunks=shape),
                                  {"units": "1", "long_name": f"coregistered SLC {p} (digital number)",
                                   "description": "deramped, windowed-sinc resampled, reramped with the date's own "
                                                  "TOPS ramp (Yague-Martinez et al. 2016)"})
    for name, (units, desc) in STACK_VARIABLES.items():
        dv[name] = (("time", "azimuth", "range"), da.zeros(shape, dtype=np.float32, chunks=shape),
                    {"units": units, "long_name": name.replace("_", " "), "description": desc})
    dv["valid"] = (("time", "azimuth", "range"), da.zeros(shape, dtype=np.uint8, chunks=shape),
                   {"units": "1", "long_name": "valid data of the date",
                    "description": "1 where the date's coregistered sample comes from its own burst's valid area "
                                   "(every sample of the resampling kernel valid; the reference date: its valid "
                                   "area), 0 elsewhere (zero fill, burst edges)",
                    "flag_values": [0, 1], "flag_meanings": "no_data valid"})
    for name, units, desc in (("esd_correction", "line", "ESD azimuth correction added to the geometric offsets "
                                                         "(Prats-Iraola et al. 2012)"),
                              ("esd_std", "line", "standard deviation of the ESD correction (NaN: not estimated)"),
                              ("esd_overlap_coherence", "1", "mean coherence of the burst overlaps used by ESD"),
                              ("coherence_mean", "1", "quality: mean 5 x 20-look coherence of the date with the "
                                                      "reference over the valid area, first polarisation, "
                                                      "removed phase applied (biased high for low coherence: "
                                                      "Touzi et al. 1999)")):
        dv[name] = (("time",), da.zeros(len(dates), dtype=np.float64, chunks=len(dates)),
                    {"units": units, "long_name": name.replace("_", " "), "description": desc})
    for name, (units, desc) in METADATA_VARIABLES.items():
        dtype = np.uint8 if name == "layover_shadow" else (np.float64 if name in ("latitude", "longitude")
                                                            else np.float32)
        dv[name] = (("azimuth", "range"), da.zeros(shape[1:], dtype=dtype, chunks=shape[1:]),
                    {"units": units, "long_name": name.replace("_", " "), "description": desc})
    ds = xr.Dataset(dv, coords=coords)
    ds.attrs.update({
        "title": f"Coregistered Sentinel-1 burst stack {b.stack_id}",
        "Conventions": "CF-1.10",
        "stack_id": b.stack_id,
        "reference_acquisition": b.acquisition_id,
        "reference_product": b.product_id,
        "wavelength_m": float(ref.grid.wavelength),
        "burst": json.dumps(b.to_dict()),
        "software": f"alignsar {__version__}",
    })
    return ds


def local_metadata(ref: ReferenceBurst, dem=None, block_lines: int = 64,
                   rows: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """METADATA_VARIABLES of the reference pixels of lines [a, b) (``rows``, default
    all): ground points on the terrain, ``geometry.local_geometry``, and
    ``geometry.layover_shadow_mask`` with ``dem`` (line by line, so blocks of lines
    give the same mask as the whole burst)."""
    first, last = rows if rows is not None else (0, ref.grid.lines)
    shape = (last - first, ref.grid.samples)
    out = {k: np.empty(shape, np.float64 if k in ("latitude", "longitude") else
                       (np.uint8 if k == "layover_shadow" else np.float32)) for k in METADATA_VARIABLES}
    cols = np.arange(ref.grid.samples, dtype=np.float64)
    off = seconds_since(ref.grid.epoch, ref.orbit.epoch)
    for a0 in range(first, last, block_lines):  # blocks: every range line is independent
        b0 = min(a0 + block_lines, last)
        a, b = a0 - first, b0 - first
        lines = np.arange(a0, b0, dtype=np.float64)
        px = ref.nodes.pixel_geometry(lines, cols, ref.height)
        t = ref.grid.zero_doppler_time(ref.grid.line_to_time(lines)[:, None],
                                       ref.grid.pixel_to_slant_range_time(cols)[None, :]) + off
        g = local_geometry(px["latitude"], px["longitude"], px["height"], ref.orbit, azimuth_time=t)
        out["latitude"][a:b], out["longitude"][a:b], out["height"][a:b] = px["latitude"], px["longitude"], px["height"]
        for k in ("incidence_angle", "look_angle", "slant_range", "heading"):
            out[k][a:b] = g[k]
        out["layover_shadow"][a:b] = layover_shadow_mask(
            px["latitude"], px["longitude"], px["height"], ref.orbit, dem=dem if dem is not None else ref.height,
            slant_range=g["slant_range"], azimuth_time=t)
    return out


def create_stack(url: str, ref: ReferenceBurst, dates: list[np.datetime64], pols: list[str],
                 tile_size: tuple[int, int], dem=None, storage_options: dict[str, Any] | None = None) -> None:
    """Create the store, write the local metadata and the reference date (offsets 0)."""
    from .products.sentinel1 import read_burst_lines

    tmpl = stack_template(ref, dates, pols)
    store.create_template(url, tmpl, {"time": 1, "azimuth": tile_size[0], "range": tile_size[1]}, storage_options)
    g = store.open_group(url, storage_options)
    for a in range(0, ref.grid.lines, tile_size[0]):  # one tile row at a time: whole chunks, little memory
        b = min(a + tile_size[0], ref.grid.lines)
        for k, v in local_metadata(ref, dem, rows=(a, b)).items():
            g[k][a:b] = v
    t_ref = int(np.flatnonzero(np.asarray(dates, dtype="datetime64[ns]")
                               == np.datetime64(ref.burst.first_line_time, "ns"))[0])
    for p in pols:
        g[f"slc_{p.lower()}"][t_ref] = read_burst_lines(ref.product, ref.burst, p)
    for name in STACK_VARIABLES:
        g[name][t_ref] = np.zeros((ref.grid.lines, ref.grid.samples), np.float32)
    g["valid"][t_ref] = reference_valid_mask(ref.burst)
    g["esd_correction"][t_ref] = 0.0
    g["coherence_mean"][t_ref] = 1.0
    g["esd_std"][t_ref] = np.nan
    g["esd_overlap_coherence"][t_ref] = np.nan


def mean_coherence(ref: ReferenceBurst, image: np.ndarray, removed_phase: np.ndarray, pol: str) -> float:
    """Mean 5 x 20-look coherence of a coregistered image with the reference burst over
    the burst's valid window (``signatures.coherence.multilook_coherence``)."""
    from .products.sentinel1 import read_burst_lines
    from .signatures.coherence import multilook_coherence

    b = ref.burst
    rows = slice(b.valid_first_line, b.valid_last_line + 1)
    cols = slice(b.valid_first_sample, b.valid_last_sample + 1)
    reference = read_burst_lines(ref.product, b, pol)
    coh = multilook_coherence(reference[rows, cols], image[rows, cols], (5, 20), removed_phase=removed_phase[rows, cols])
    return float(np.nanmean(coh))


def write_date(url: str, time_index: int, ref: ReferenceBurst, product, burst, pols: list[str], *,
               correction_lines: float = 0.0, esd_std: float = np.nan, esd_coherence: float = np.nan,
               taps: int = 8, storage_options: dict[str, Any] | None = None) -> None:
    """Coregister one date of the burst (every polarisation) into its time slice."""
    g = store.open_group(url, storage_options)

    quality = {}

    def sink(pol, image):
        g[f"slc_{pol.lower()}"][time_index] = image
        if pol == pols[0]:
            quality["image"] = image

    cb = coregister_burst(ref, product, burst, pols, correction_lines=correction_lines, taps=taps, sink=sink)
    g["azimuth_offset"][time_index] = cb.azimuth_offset
    g["range_offset"][time_index] = cb.range_offset
    g["removed_phase"][time_index] = cb.removed_phase
    g["valid"][time_index] = valid_mask(burst, cb.azimuth_offset, cb.range_offset, taps=taps)
    g["coherence_mean"][time_index] = mean_coherence(ref, quality.pop("image"), cb.removed_phase, pols[0])
    g["esd_correction"][time_index] = correction_lines
    g["esd_std"][time_index] = esd_std
    g["esd_overlap_coherence"][time_index] = esd_coherence
