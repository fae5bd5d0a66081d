"""Coregistration of TOPS bursts onto a reference burst grid.

Resampling a TOPS burst (Yague-Martinez et al. 2016, "Interferometric processing of
Sentinel-1 TOPS data", IEEE TGRS 54(4), sec. III): the focused burst carries the
azimuth Doppler-steering ramp (``tops``), so its azimuth spectrum is not at baseband
and an interpolation kernel would cut it. The secondary is therefore

1. deramped with its own ramp at its own pixels: s_d(x) exp(-j ramp_d(x));
2. interpolated at the positions where it sees the reference pixels,
   x = (line + azimuth_offset, pixel + range_offset) (windowed sinc, ``resample``);
3. reramped with its own ramp at those same positions: exp(+j ramp_d(x)).

Step 3 evaluates the secondary's ramp at the (fractional) resampled positions,
including the range offset (k_t and eta_ref change across the swath), so each
target keeps the phase it had in the secondary; after that the reference and the
coregistered secondary differ only by the interferometric phase. Skipping 1 and 3
destroys the coherence away from the burst centre (the ramp's frequency swings over
several PRFs; a test shows it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from .geometry import RadarGrid, open_swath_geometry
from .orbit import Orbit
from .resample import resample
from .terrain import TerrainNodes
from .tops import TopsRamp


def resample_burst(slc: np.ndarray, ramp: TopsRamp | None, azimuth_offset: np.ndarray, range_offset: np.ndarray,
                   *, line0: int = 0, sample0: int = 0, taps: int = 8, block_lines: int = 256,
                   overwrite_input: bool = False, bands=None) -> np.ndarray:
    """Secondary burst ``slc`` (lines x samples of its own burst grid, complex) sampled
    at (i + azimuth_offset[i, j], j + range_offset[i, j]) for the reference pixels
    (i, j) = (line0 + row, sample0 + column) of the offset arrays (module docstring).

    ``ramp``: the secondary burst's ``TopsRamp`` (None for a stripmap image: no
    deramping). Returns complex64 with the offsets' shape; pixels whose kernel falls
    outside the burst get the zero-padded interpolation. ``overwrite_input``: deramp
    ``slc`` in place (complex64 input) instead of a copy. ``bands``: the SLC's processed
    bands (``Annotation.processing_bands``) so the kernel keeps the mean intensity at
    every fractional shift (``resample.kernel_table``); None: unit DC gain.
    """
    az = np.asarray(azimuth_offset, dtype=np.float32)
    rg = np.asarray(range_offset, dtype=np.float32)
    n, m = az.shape
    src = np.asarray(slc, dtype=np.complex64)
    if ramp is not None:
        if not (overwrite_input and src is slc):
            src = src.copy()
        for a in range(0, src.shape[0], block_lines):  # deramp in blocks of lines
            b = min(a + block_lines, src.shape[0])
            src[a:b] = ramp.deramp(src[a:b], a, 0)
    out = resample(src, az, rg, row0=line0, col0=sample0, taps=taps, bands=bands)
    if ramp is not None:
        cols = sample0 + np.arange(m, dtype=np.float64)
        for a in range(0, n, block_lines):
            b = min(a + block_lines, n)
            rows = (line0 + np.arange(a, b, dtype=np.float64))[:, None]
            ph = ramp.phase_at(rows + az[a:b], cols[None, :] + rg[a:b])
            out[a:b] *= np.exp(1j * ph).astype(np.complex64)
    return out


# --------------------------------------------------------------------------------------
# geometric coregistration of burst stacks (orbits + DEM)


@dataclasses.dataclass
class ReferenceBurst:
    """A reference burst with its geometry on the terrain: grid, orbit and the exact
    node lattice of ``terrain.TerrainNodes`` (what every secondary is registered to)."""

    product: Any
    burst: Any  # BurstInfo
    orbit: Orbit
    grid: RadarGrid
    nodes: TerrainNodes
    height: Callable[[np.ndarray, np.ndarray], np.ndarray]

    @classmethod
    def compute(cls, product, burst, height, *, orbit: Orbit | None = None,
                node_step: tuple[int, int] = (8, 16)) -> "ReferenceBurst":
        """``height(lon, lat)``: terrain heights above the ellipsoid (e.g. ``Dem.interp``).
        ``orbit``: default the product's annotation orbit (or its swath geometry)."""
        geom = open_swath_geometry(product, burst.swath, burst.polarisations[0], orbit=orbit)
        grid = geom.bursts[burst.burst_index]
        nodes = TerrainNodes.compute(geom.orbit, grid, height, line_step=node_step[0], pixel_step=node_step[1])
        return cls(product=product, burst=burst, orbit=geom.orbit, grid=grid, nodes=nodes, height=height)


def geometric_offsets(ref: ReferenceBurst, orbit: Orbit, grid: RadarGrid, rows: tuple[int, int] | None = None,
                      block_lines: int = 64) -> dict[str, np.ndarray]:
    """Where the secondary pass (``orbit``, burst ``grid``) sees every reference pixel's
    ground point (Sansosti et al. 2006; ``terrain`` module): ``azimuth_offset`` and
    ``range_offset`` (secondary line/pixel minus reference line/pixel) and
    ``removed_phase`` = 4 pi / lambda (R_secondary - R_reference) (rad): the reference
    (ellipsoid) + topographic phase of the interferogram. ``rows``: only reference lines
    [a, b) (default all). float32 arrays (lines, samples): 1e-7 relative, i.e. < 1e-6
    pixel and < 1e-4 rad; the float64 work stays within blocks of lines."""
    fields = ref.nodes.seen_from(orbit, grid)
    a, b = rows if rows is not None else (0, ref.grid.lines)
    out = {k: np.empty((b - a, ref.grid.samples), np.float32)
           for k in ("azimuth_offset", "range_offset", "removed_phase")}
    k_phase = 4.0 * np.pi / ref.grid.wavelength
    cols = np.arange(ref.grid.samples, dtype=np.float64)
    for r0 in range(a, b, block_lines):
        r1 = min(r0 + block_lines, b)
        px = ref.nodes.pixel_geometry(np.arange(r0, r1, dtype=np.float64), cols, ref.height, fields=fields)
        out["azimuth_offset"][r0 - a:r1 - a] = px["azimuth_offset"]
        out["range_offset"][r0 - a:r1 - a] = px["range_offset"]
        out["removed_phase"][r0 - a:r1 - a] = k_phase * px["range_difference"]
    return out


@dataclasses.dataclass
class CoregisteredBurst:
    """One secondary burst on the reference burst grid.

    ``slc``: polarisation -> complex64 (lines, samples), deramped-resampled-reramped
    (module docstring); ``azimuth_offset``/``range_offset``: the offsets used (geometric
    + ESD correction), lines/pixels; ``removed_phase``: 4 pi / lambda (R_secondary -
    R_reference), rad, the reference (ellipsoid) + topographic phase: the
    interferometric phase is arg(reference conj(slc) exp(-j removed_phase))."""

    slc: dict[str, np.ndarray]
    azimuth_offset: np.ndarray
    range_offset: np.ndarray
    removed_phase: np.ndarray


def coregister_burst(ref: ReferenceBurst, product, burst, pols: str | list[str], *, correction_lines: float = 0.0,
                     taps: int = 8, orbit: Orbit | None = None, rows: tuple[int, int] | None = None,
                     slc: np.ndarray | None = None,
                     sink: Callable[[str, np.ndarray], None] | None = None) -> CoregisteredBurst:
    """Secondary ``burst`` (``BurstInfo`` of ``product``) on ``ref``'s grid, every
    polarisation in ``pols`` with the same offsets: geometric offsets (+
    ``correction_lines`` in azimuth, e.g. from ESD), then ``resample_burst``.
    ``rows``: only reference lines [a, b). ``slc``: the (single) polarisation's burst if
    already read. ``sink(pol, image)``: called with each polarisation's image as soon as
    it is made, instead of keeping it in ``slc`` (memory: one image at a time)."""
    from .products.sentinel1 import read_burst_lines

    pols = [pols] if isinstance(pols, str) else list(pols)
    geom = open_swath_geometry(product, burst.swath, pols[0], orbit=orbit)
    off = geometric_offsets(ref, geom.orbit, geom.bursts[burst.burst_index], rows=rows)
    if correction_lines:
        off["azimuth_offset"] += np.float32(correction_lines)
    ramp = TopsRamp.from_product(product, burst, orbit=geom.orbit)
    bands = product.annotation(burst.swath, pols[0]).processing_bands
    line0 = rows[0] if rows is not None else 0
    out = {}
    for p in pols:
        fresh = slc is None or len(pols) > 1
        sec = read_burst_lines(product, burst, p) if fresh else slc
        img = resample_burst(sec, ramp, off["azimuth_offset"], off["range_offset"], line0=line0, taps=taps,
                             overwrite_input=fresh, bands=bands)
        del sec
        if sink is not None:
            sink(p, img)
        else:
            out[p] = img
        del img
    return CoregisteredBurst(slc=out, azimuth_offset=off["azimuth_offset"], range_offset=off["range_offset"],
                             removed_phase=off["removed_phase"])


def valid_mask(burst, azimuth_offset: np.ndarray, range_offset: np.ndarray, *, taps: int = 8,
               line0: int = 0) -> np.ndarray:
    """Reference pixels whose interpolation kernel lies wholly inside the valid area of
    the date's own burst (``burst``: its ``BurstInfo``; valid lines / samples inclusive),
    uint8 1 / 0 with the offsets' shape (rows = reference lines line0, line0 + 1, ...).

    The source position of reference pixel (i, j) is (i + azimuth_offset, j +
    range_offset) in the date's burst; its ``taps``-point kernel reads samples floor(x)
    - taps/2 + 1 .. floor(x) + taps/2 (``resample.kernel_table``), which must all be
    valid: outside, the zero fill of the burst edges (or the neighbouring burst's
    samples) would enter the interpolated value. Dates differ by a few lines here
    (along-track timing), so each date needs its own mask."""
    h = taps // 2
    i = (line0 + np.arange(azimuth_offset.shape[0], dtype=np.float64))[:, None]
    j = np.arange(azimuth_offset.shape[1], dtype=np.float64)[None, :]
    y = np.floor(i + azimuth_offset)
    x = np.floor(j + range_offset)
    ok = (y - h + 1 >= burst.valid_first_line) & (y + h <= burst.valid_last_line)
    ok &= (x - h + 1 >= burst.valid_first_sample) & (x + h <= burst.valid_last_sample)
    return ok.astype(np.uint8)


def reference_valid_mask(burst) -> np.ndarray:
    """The reference burst's own valid area on its grid (uint8 1 / 0)."""
    rows = (np.arange(burst.lines) >= burst.valid_first_line) & (np.arange(burst.lines) <= burst.valid_last_line)
    cols = ((np.arange(burst.samples) >= burst.valid_first_sample)
            & (np.arange(burst.samples) <= burst.valid_last_sample))
    return (rows[:, None] & cols[None, :]).astype(np.uint8)


def esd_for_date(refs: list[ReferenceBurst], product, bursts, pol: str, *, taps: int = 8,
                 looks: tuple[int, int] = (5, 20), min_coherence: float = 0.3, orbit: Orbit | None = None):
    """ESD azimuth correction of one secondary date (``esd.esd_shift``) from the burst
    overlaps only: each burst is geometrically coregistered on its overlap lines
    (``esd.OverlapRows``), so memory stays a few hundred lines per burst. ``bursts``:
    the date's ``BurstInfo`` s paired with ``refs`` (consecutive bursts, time order).
    Returns the ``esd.EsdResult``; raises ``esd.EsdError`` when there is nothing to
    measure (one burst, no coherent overlap window)."""
    from .esd import EsdError, OverlapRows, burst_overlaps, esd_shift
    from .products.sentinel1 import read_burst_lines

    if len(refs) < 2:
        raise EsdError("ESD needs at least two consecutive bursts")
    grids = [r.grid for r in refs]
    ovs = burst_overlaps([g.lines for g in grids], [g.first_line_time for g in grids],
                         grids[0].azimuth_time_interval,
                         [(g.valid_first_line, g.valid_last_line) for g in grids])
    need: dict[int, list[tuple[int, int]]] = {k: [] for k in range(len(refs))}
    for ov in ovs:
        need[ov.burst].append((ov.first, ov.first + ov.n))
        need[ov.burst + 1].append((ov.first_next, ov.first_next + ov.n))
    ref_rows, sec_rows = [], []
    for k, (ref, b) in enumerate(zip(refs, bursts)):
        sec = read_burst_lines(product, b, pol)
        rows = np.concatenate([np.arange(a, z) for a, z in need[k]])
        r_parts, s_parts = [], []
        for a, z in need[k]:
            r_parts.append(read_burst_lines(ref.product, ref.burst, pol, a, z))
            s_parts.append(coregister_burst(ref, product, b, pol, taps=taps, orbit=orbit, rows=(a, z),
                                            slc=sec).slc[pol])
        order = np.argsort(rows, kind="stable")
        ref_rows.append(OverlapRows(rows[order], np.concatenate(r_parts)[order], ref.grid.lines))
        sec_rows.append(OverlapRows(rows[order], np.concatenate(s_parts)[order], ref.grid.lines))
    ramps = [TopsRamp.from_product(r.product, r.burst, orbit=r.orbit) for r in refs]
    return esd_shift(ref_rows, sec_rows, ramps, grids, looks=looks, min_coherence=min_coherence)


def burst_ground_footprint(product, burst, height: float = 0.0):
    """Lon/lat polygon (shapely) of the burst's valid area on the surface ``height`` m
    above the ellipsoid (rdr2geo of its valid corners and edge midpoints): what a DEM
    must cover, plus a margin for the terrain's displacement (h / tan(incidence))."""
    import shapely

    geom = open_swath_geometry(product, burst.swath, burst.polarisations[0])
    g = geom.bursts[burst.burst_index]
    l0, l1 = burst.valid_first_line, burst.valid_last_line
    p0, p1 = burst.valid_first_sample, burst.valid_last_sample
    lines = np.array([l0, l0, l0, 0.5 * (l0 + l1), l1, l1, l1, 0.5 * (l0 + l1)], dtype=np.float64)
    pixels = np.array([p0, 0.5 * (p0 + p1), p1, p1, p1, 0.5 * (p0 + p1), p0, p0], dtype=np.float64)
    from .geometry import rdr2geo

    lat, lon = rdr2geo(lines, pixels, np.full(lines.shape, height), geom.orbit, g)
    return shapely.Polygon(np.column_stack([lon, lat]))


#: ESD corrections less certain than this (standard deviation, lines) are not applied:
#: the geometric offsets from precise orbits are already good to about this level, and a
#: noisy estimate (small or incoherent overlaps) would make them worse.
ESD_MAX_STD_LINES = 5e-4


def esd_correction(est, max_std_lines: float = ESD_MAX_STD_LINES) -> tuple[float, str]:
    """(correction to add to the azimuth offsets in lines, note): ``est.correction_lines``
    when ``est.std_lines`` <= ``max_std_lines``, else 0 with the reason."""
    if not np.isfinite(est.std_lines) or est.std_lines > max_std_lines:
        return 0.0, (f"ESD estimate {est.correction_lines:+.5f} +- {est.std_lines:.5f} line not applied "
                     f"(std above {max_std_lines} line: too few coherent overlap windows)")
    return float(est.correction_lines), ""
