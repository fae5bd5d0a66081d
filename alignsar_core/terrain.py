"""Ground points of a radar grid over terrain, and where another pass sees them.

Two questions every DEM-assisted step asks, answered once here for the simulator and
for coregistration (Sansosti et al. 2006, "Geometrical SAR image registration", IEEE
TGRS 44(10); Yague-Martinez et al. 2016, IEEE TGRS 54(4), sec. III-A):

1. Which ground point does reference pixel (line, pixel) image?  rdr2geo on the
   surface h = DEM(lat, lon): the zero-Doppler plane and range sphere of the pixel
   cut the terrain. Solved by fixed-point iteration on the height,
   h_{k+1} = DEM(rdr2geo(line, pixel, h_k)), which converges where the terrain
   slope towards the radar is below the look angle (|dh/dx| tan(theta) < 1) and
   stops after ``max_iter`` steps elsewhere (layover; flagged by the mask in
   ``geometry``).
2. Where does another pass (orbit, grid) see that point?  geo2rdr (zero Doppler):
   its line, pixel and slant range; the differences to the reference are the
   geometric coregistration offsets and the range difference gives the reference
   plus topographic interferometric phase -4 pi / lambda (R_2 - R_1).

Both are smooth functions of (line, pixel) and height; only the terrain height
itself varies fast (cliffs, shorelines). So everything is solved exactly on a node
lattice (every ``line_step`` lines and ``pixel_step`` pixels), at the node's terrain
height h_n and 1 m above it, and every pixel gets the bilinear node values plus the
bilinear height derivative times (h - h_n) (``TerrainNodes.pixel_geometry``), with its own
terrain height h found by the same fixed point along its (locally straight: the
range circle bends by R (1 - cos) ~ 1.5 mm over 50 m) height line. The remaining
error is second order in the height difference to the node plane.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from .geometry import C_LIGHT, RadarGrid, geo2rdr, geolocate, local_geometry
from .orbit import Orbit, seconds_since

HeightFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (lon, lat) -> h (m, ellipsoid)


def ground_points(line: Any, pixel: Any, orbit: Orbit, grid: RadarGrid, height: HeightFunction,
                  h0: Any = 0.0, tol_m: float = 0.01, max_iter: int = 12) -> tuple[np.ndarray, ...]:
    """(lat, lon, h) of grid pixels on the terrain ``height(lon, lat)`` (module docstring, 1)."""
    tau = grid.pixel_to_slant_range_time(pixel)
    t = grid.zero_doppler_time(grid.line_to_time(line), tau) + seconds_since(grid.epoch, orbit.epoch)
    return ground_points_at(t, 0.5 * C_LIGHT * tau, orbit, height, h0=h0, tol_m=tol_m, max_iter=max_iter,
                            look_side=grid.look_side)


def ground_points_at(azimuth_time: Any, slant_range: Any, orbit: Orbit, height: HeightFunction,
                     h0: Any = 0.0, tol_m: float = 0.01, max_iter: int = 12,
                     look_side: str = "right") -> tuple[np.ndarray, ...]:
    """(lat, lon, h) on the terrain of zero-Doppler times (s since the orbit epoch) and
    slant ranges (m): h_{k+1} = height(geolocate(t, R, h_k)) until every height moves
    by less than ``tol_m`` or ``max_iter`` steps (points that do not converge, e.g. in
    layover, keep the last iterate: exact for that height, off the DEM)."""
    t = np.asarray(azimuth_time, dtype=np.float64)
    r = np.asarray(slant_range, dtype=np.float64)
    shape = np.broadcast_shapes(t.shape, r.shape)
    h = np.broadcast_to(np.asarray(h0, dtype=np.float64), shape).copy()
    for _ in range(max_iter):
        lat, lon = geolocate(t, r, h, orbit, look_side=look_side)
        h_new = np.asarray(height(lon, lat), dtype=np.float64)
        step = np.nanmax(np.abs(h_new - h)) if h.size else 0.0
        h = h_new
        if step < tol_m:
            break
    lat, lon = geolocate(t, r, h, orbit, look_side=look_side)
    return lat, lon, h


def _weights(nodes: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the node interval holding each x (clipped to the ends) and the weight."""
    i = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, nodes.size - 2)
    w = (x - nodes[i]) / (nodes[i + 1] - nodes[i])
    return i, w


@dataclasses.dataclass
class TerrainNodes:
    """Exact geometry of a reference grid on a node lattice (module docstring).

    ``lines``/``pixels``: node coordinates in the grid (float, may extend beyond it
    to cover a margin); ``lat``/``lon``/``height``: (len(lines), len(pixels)) ground
    points; ``los``: unit line of sight ground -> satellite in local east, north, up
    (3, ...); ``incidence``: ellipsoid incidence angle, degrees; ``dlat_dh``,
    ``dlon_dh``: how the pixel's ground point moves per metre of height.
    """

    orbit: Orbit
    grid: RadarGrid
    lines: np.ndarray
    pixels: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    height: np.ndarray
    los: np.ndarray
    incidence: np.ndarray
    dlat_dh: np.ndarray  # deg per m of height along the pixel's height line
    dlon_dh: np.ndarray

    @classmethod
    def compute(cls, orbit: Orbit, grid: RadarGrid, height: HeightFunction, *, line_step: int = 8,
                pixel_step: int = 16, line_range: tuple[float, float] | None = None,
                pixel_range: tuple[float, float] | None = None) -> "TerrainNodes":
        """Nodes every ``line_step`` x ``pixel_step`` covering ``line_range``/``pixel_range``
        (inclusive, default the grid), ends included."""
        l0, l1 = line_range if line_range is not None else (0.0, grid.lines - 1.0)
        p0, p1 = pixel_range if pixel_range is not None else (0.0, grid.samples - 1.0)
        lines = _node_axis(l0, l1, line_step)
        pixels = _node_axis(p0, p1, pixel_step)
        ll, pp = np.meshgrid(lines, pixels, indexing="ij")
        lat, lon, h = ground_points(ll, pp, orbit, grid, height)
        t_zd = grid.zero_doppler_time(grid.line_to_time(ll), grid.pixel_to_slant_range_time(pp))
        t_orbit = t_zd + seconds_since(grid.epoch, orbit.epoch)
        lat1, lon1 = geolocate(t_orbit, grid.pixel_to_range(pp), h + 1.0, orbit, look_side=grid.look_side)
        g = local_geometry(lat, lon, h, orbit, azimuth_time=t_orbit)
        los = np.stack([g["los_east"], g["los_north"], g["los_up"]])
        return cls(orbit=orbit, grid=grid, lines=lines, pixels=pixels, lat=lat, lon=lon, height=h,
                   los=los, incidence=g["incidence_angle"], dlat_dh=lat1 - lat, dlon_dh=lon1 - lon)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lines.size, self.pixels.size)

    def upsample(self, field: np.ndarray, lines: Any, pixels: Any, dtype=np.float64) -> np.ndarray:
        """Bilinear interpolation of a node field (..., n_lines, n_pixels) to the full
        lattice ``lines`` x ``pixels`` (1-D, grid coordinates): separable, two
        multiply-adds per output value."""
        lines = np.asarray(lines, dtype=np.float64)
        pixels = np.asarray(pixels, dtype=np.float64)
        il, wl = _weights(self.lines, lines)
        ip, wp = _weights(self.pixels, pixels)
        f = np.asarray(field, dtype=np.float64)
        rows = f[..., il, :] * (1.0 - wl)[:, None] + f[..., il + 1, :] * wl[:, None]  # (..., L, n_pix)
        flat = np.ascontiguousarray(rows).reshape(-1, rows.shape[-1])
        out = np.empty((flat.shape[0], ip.size), dtype=dtype)
        _upsample_rows(flat, ip, wp, out)  # one fused pass over the big output
        return out.reshape(rows.shape[:-1] + (ip.size,))

    def interpolate(self, field: np.ndarray, line: Any, pixel: Any) -> np.ndarray:
        """Bilinear value of a node field at scattered (line, pixel) points."""
        line = np.asarray(line, dtype=np.float64)
        pixel = np.asarray(pixel, dtype=np.float64)
        il, wl = _weights(self.lines, line)
        ip, wp = _weights(self.pixels, pixel)
        f = np.asarray(field, dtype=np.float64)
        return ((f[il, ip] * (1 - wp) + f[il, ip + 1] * wp) * (1 - wl)
                + (f[il + 1, ip] * (1 - wp) + f[il + 1, ip + 1] * wp) * wl)

    def seen_from(self, orbit: Orbit, grid: RadarGrid) -> dict[str, np.ndarray]:
        """Where another pass sees the node ground points (module docstring, 2).

        Returns node arrays: ``line``/``pixel`` in ``grid``, ``slant_range`` (m) from
        ``orbit``, ``azimuth_offset``/``range_offset`` = those minus the node's
        reference line/pixel, and ``range_difference`` = R_other - R_reference (m),
        whose -4 pi / lambda multiple is the reference + topographic phase; and for
        each of the last three its derivative per metre of height (``*_dh``), for
        ``pixel_geometry``.
        """
        out = {}
        ref_range = self.grid.pixel_to_range(self.pixels)[None, :]
        for suffix, dh in (("", 0.0), ("_up", 1.0)):
            rc = geo2rdr(self.lat + dh * self.dlat_dh, self.lon + dh * self.dlon_dh, self.height + dh, orbit, grid)
            out["azimuth_offset" + suffix] = rc.line - self.lines[:, None]
            out["range_offset" + suffix] = rc.pixel - self.pixels[None, :]
            out["range_difference" + suffix] = rc.slant_range - ref_range
        for name in ("azimuth_offset", "range_offset", "range_difference"):
            out[name + "_dh"] = out.pop(name + "_up") - out[name]
        return out

    def pixel_geometry(self, lines: Any, pixels: Any, height: HeightFunction, iterations: int = 8,
                       fields: dict[str, np.ndarray] | None = None, tol_m: float = 0.01) -> dict[str, np.ndarray]:
        """Per-pixel geometry on the lattice ``lines`` x ``pixels`` (module docstring).

        Returns ``latitude``, ``longitude``, ``height`` (the pixel's own terrain point,
        fixed point along its height line: at most ``iterations`` steps, each only on
        the pixels that still moved by more than ``tol_m``), ``dh`` (its height
        minus the node plane's) and, for each node field F in ``fields`` with a
        derivative ``F_dh`` beside it, F at the pixel's height (fields without a
        derivative are interpolated bilinearly)."""
        lat0 = self.upsample(self.lat, lines, pixels)
        lon0 = self.upsample(self.lon, lines, pixels)
        h0 = self.upsample(self.height, lines, pixels)
        dlat = self.upsample(self.dlat_dh, lines, pixels)
        dlon = self.upsample(self.dlon_dh, lines, pixels)
        shape = lat0.shape
        lat0f, lon0f, h0f = lat0.reshape(-1), lon0.reshape(-1), h0.reshape(-1)
        dlatf, dlonf = dlat.reshape(-1), dlon.reshape(-1)
        hf = np.array(height(lon0f, lat0f), dtype=np.float64).reshape(-1)  # own copy, updated in place
        todo = np.flatnonzero(np.abs(hf - h0f) > tol_m)  # iterate only where the terrain is not yet met
        for _ in range(iterations):
            if todo.size == 0:
                break
            d = hf[todo] - h0f[todo]
            new = np.asarray(height(lon0f[todo] + dlonf[todo] * d, lat0f[todo] + dlatf[todo] * d),
                             dtype=np.float64).reshape(-1)
            moved = np.abs(new - hf[todo]) > tol_m
            hf[todo] = new
            todo = todo[moved]
        h = hf.reshape(shape)
        dh = h - h0
        out = {"latitude": lat0 + dlat * dh, "longitude": lon0 + dlon * dh, "height": h, "dh": dh}
        for name, f in (fields or {}).items():
            if name.endswith("_dh"):
                continue
            v = self.upsample(f, lines, pixels)
            if name + "_dh" in fields:
                v += self.upsample(fields[name + "_dh"], lines, pixels) * dh
            out[name] = v
        return out

    def height_residual(self, height: HeightFunction, n: tuple[int, int] = (64, 256), seed: int = 0,
                        tol_m: float = 0.5) -> float:
        """Fraction of pixels (on a random ``n`` sub-lattice) whose terrain point the
        per-pixel fixed point of ``pixel_geometry`` did not reach within ``tol_m``: pixels in
        layover or on cliffs, where one pixel images several terrain points."""
        rng = np.random.default_rng(seed)
        ll = np.sort(rng.uniform(self.lines[0], self.lines[-1], n[0]))
        pp = np.sort(rng.uniform(self.pixels[0], self.pixels[-1], n[1]))
        px = self.pixel_geometry(ll, pp, height)
        return float(np.mean(np.abs(height(px["longitude"], px["latitude"]) - px["height"]) > tol_m))

@numba.njit(parallel=True, cache=True)
def _upsample_rows(rows, ip, wp, out):
    for i in numba.prange(rows.shape[0]):
        for j in range(ip.size):
            out[i, j] = rows[i, ip[j]] * (1.0 - wp[j]) + rows[i, ip[j] + 1] * wp[j]


def _node_axis(start: float, stop: float, step: int) -> np.ndarray:
    n = max(int(np.ceil((stop - start) / step)), 1)
    return start + np.arange(n + 1, dtype=np.float64) * ((stop - start) / n)
