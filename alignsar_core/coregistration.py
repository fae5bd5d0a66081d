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
                   *, line0: int = 0, sample0: int = 0, taps: int = 8, block_lines: int = 256) -> np.ndarray:
    """Secondary burst ``slc`` (lines x samples of its own burst grid, complex) sampled
    at (i + azimuth_offset[i, j], j + range_offset[i, j]) for the reference pixels
    (i, j) = (line0 + row, sample0 + column) of the offset arrays (module docstring).

    ``ramp``: the secondary burst's ``TopsRamp`` (None for a stripmap image: no
    deramping). Returns complex64 with the offsets' shape; pixels whose kernel falls
    outside the burst get the zero-padded interpolation.
    """
    az = np.asarray(azimuth_offset, dtype=np.float32)
    rg = np.asarray(range_offset, dtype=np.float32)
    n, m = az.shape
    src = np.asarray(slc, dtype=np.complex64)
    if ramp is not None:
        src = src.copy()
        for a in range(0, src.shape[0], block_lines):  # deramp in blocks of lines
            b = min(a + block_lines, src.shape[0])
            src[a:b] = ramp.deramp(src[a:b], a, 0)
    out = resample(src, az, rg, row0=line0, col0=sample0, taps=taps)
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

    def pixels(self, fields: dict[str, np.ndarray] | None = None, block_lines: int = 128):
        """Yield (rows slice, ``TerrainNodes.pixel_geometry`` dict) over the burst in
        blocks of lines (every pixel on its own terrain point)."""
        cols = np.arange(self.grid.samples, dtype=np.float64)
        for a in range(0, self.grid.lines, block_lines):
            b = min(a + block_lines, self.grid.lines)
            yield slice(a, b), self.nodes.pixel_geometry(np.arange(a, b, dtype=np.float64), cols, self.height,
                                                         fields=fields)


def geometric_offsets(ref: ReferenceBurst, orbit: Orbit, grid: RadarGrid,
                      block_lines: int = 128) -> dict[str, np.ndarray]:
    """Where the secondary pass (``orbit``, burst ``grid``) sees every reference pixel's
    ground point (Sansosti et al. 2006; ``terrain`` module): ``azimuth_offset`` and
    ``range_offset`` (secondary line/pixel minus reference line/pixel, float64) and
    ``range_difference`` R_secondary - R_reference (m): the reference + topographic
    phase removed from the interferogram is 4 pi / lambda x this."""
    fields = ref.nodes.seen_from(orbit, grid)
    shape = (ref.grid.lines, ref.grid.samples)
    out = {k: np.empty(shape) for k in ("azimuth_offset", "range_offset", "range_difference")}
    for rows, px in ref.pixels(fields, block_lines):
        for k in out:
            out[k][rows] = px[k]
    return out


@dataclasses.dataclass
class CoregisteredBurst:
    """One secondary burst on the reference burst grid.

    ``slc``: complex64 (lines, samples), deramped-resampled-reramped (module docstring);
    ``azimuth_offset``/``range_offset``: the offsets used (geometric + ESD correction),
    lines/pixels; ``removed_phase``: 4 pi / lambda (R_secondary - R_reference), rad,
    the reference (ellipsoid) + topographic phase: the interferometric phase is
    arg(reference conj(slc) exp(-j removed_phase))."""

    slc: np.ndarray
    azimuth_offset: np.ndarray
    range_offset: np.ndarray
    removed_phase: np.ndarray


@dataclasses.dataclass
class CoregisteredDate:
    bursts: list[CoregisteredBurst]
    esd: Any  # esd.EsdResult or None (one burst, or ESD off)
    esd_correction_lines: float  # added to every geometric azimuth offset
    esd_error: str = ""


def coregister_date(refs: list[ReferenceBurst], reference_slcs: list[np.ndarray], product, bursts, pol: str, *,
                    taps: int = 8, esd: bool = True, esd_looks: tuple[int, int] = (5, 20),
                    min_coherence: float = 0.3, orbit: Orbit | None = None) -> CoregisteredDate:
    """Coregister the bursts ``bursts`` (``BurstInfo`` of ``product``, the same burst ids
    as ``refs`` in the same order) of one secondary date onto their reference bursts.

    1. geometric offsets from the orbits and the DEM (``geometric_offsets``);
    2. resampling with TOPS deramping/reramping (``resample_burst``);
    3. with two bursts or more and ``esd``: ESD in the burst overlaps (``esd.esd_shift``)
       gives one azimuth correction for the date (an orbit timing error is common to all
       bursts: Yague-Martinez et al. 2016, sec. III-B), added to the offsets, and the
       bursts are resampled again. ESD that finds no coherent overlap window is
       reported in ``esd_error`` and skipped (geometric offsets kept).
    """
    from .esd import EsdError, esd_shift
    from .products.sentinel1 import read_burst_lines

    if len(refs) != len(bursts) or len(reference_slcs) != len(refs):
        raise ValueError(f"{len(refs)} reference bursts, {len(reference_slcs)} reference images and "
                         f"{len(bursts)} secondary bursts: they must pair up")
    geom = open_swath_geometry(product, bursts[0].swath, pol, orbit=orbit)
    lam = refs[0].grid.wavelength
    pieces = []
    for ref, b in zip(refs, bursts):
        off = geometric_offsets(ref, geom.orbit, geom.bursts[b.burst_index])
        sec = read_burst_lines(product, b, pol)
        ramp = TopsRamp.from_product(product, b, orbit=geom.orbit)
        pieces.append((off, sec, ramp))

    def resample_all(correction: float) -> list[CoregisteredBurst]:
        out = []
        for off, sec, ramp in pieces:
            az = off["azimuth_offset"] + correction
            out.append(CoregisteredBurst(
                slc=resample_burst(sec, ramp, az, off["range_offset"], taps=taps),
                azimuth_offset=az.astype(np.float32), range_offset=off["range_offset"].astype(np.float32),
                removed_phase=(4.0 * np.pi / lam * off["range_difference"]).astype(np.float32)))
        return out

    result = resample_all(0.0)
    if not esd or len(refs) < 2:
        return CoregisteredDate(result, None, 0.0)
    try:
        est = esd_shift(reference_slcs, [r.slc for r in result],
                        [TopsRamp.from_product(r.product, r.burst, orbit=r.orbit) for r in refs],
                        [r.grid for r in refs], looks=esd_looks, min_coherence=min_coherence)
    except EsdError as exc:
        return CoregisteredDate(result, None, 0.0, esd_error=str(exc))
    corr = est.correction_lines
    return CoregisteredDate(resample_all(corr) if abs(corr) > 1e-5 else result, est, corr)
