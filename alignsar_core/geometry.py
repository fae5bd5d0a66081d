"""Zero-Doppler radar geometry: geo2rdr, rdr2geo, radar grids and local geometry.

Sentinel-1 SLCs are focused to zero Doppler (S1 Level 1 Detailed Algorithm
Definition S1-TN-MDA-52-7445; SCIENCE.md "Geolocation"): a ground point X (ECEF)
is imaged at the azimuth time t where the line of sight is perpendicular to the
satellite velocity, and at the slant range R of that moment,

    f(t) = (X - S(t)) . V(t) = 0,      R = |X - S(t)|,      tau = 2 R / c

with S, V the interpolated orbit (:mod:`alignsar_core.orbit`) and tau the two-way
slant range time of the annotation (``slantRangeTime``). This is the pure geometry
(no atmospheric delay, solid-Earth tide or other ETAD-type corrections) in which
ESA's annotation ``geolocationGrid`` is given: tests/test_geometry.py reproduces its
azimuth times to 2.2 us (1.5 cm) and its slant ranges to 2 mm. The IPF's bistatic
timing convention of image lines is handled by the grids (below).

* :func:`geo2rdr`: Newton iteration on f, t <- t - f / f' with
  f'(t) = -|V|^2 + (X - S) . A (A the orbit acceleration), to |dt| < 1e-10 s.
* :func:`rdr2geo`: given t, R and the height h above the WGS84 ellipsoid, solve for
  geodetic (lat, lon) the two equations (X(lat, lon, h) - S) . V = 0 and
  |X(lat, lon, h) - S| = R (the zero-Doppler plane, the range sphere and the
  ellipsoid raised by h, exactly: the surface of constant geodetic height) by Newton
  in (lat, lon) from a spherical-Earth first guess on the right-looking side.
* WGS84 (NIMA TR8350.2): a = 6378137 m, f = 1/298.257223563; geodetic -> ECEF in
  closed form, X = ((N+h) cos lat cos lon, (N+h) cos lat sin lon, (N (1-e^2) + h) sin lat),
  N = a / sqrt(1 - e^2 sin^2 lat).

Both solvers are numba kernels in parallel over points (several million points per
second per core, benchmarks/bench_geometry.py); inputs of any shape broadcast
against each other.

Radar grids (:class:`RadarGrid`) map line <-> image azimuth time and
pixel <-> slant range (S1 Product Specification S1-RS-MDA-52-7441,
``imageInformation`` / ``swathTiming``):

    t(line)   = t_first + line * azimuthTimeInterval
    tau(pixel)= slantRangeTime + pixel / rangeSamplingRate,   R = c tau / 2

Image lines are not quite zero-Doppler times. The IPF corrects the bistatic delay
(the satellite moves by tau/2 between transmission and reception) with one
constant, the delay at a reference two-way range time tau_ref (mid-range of the
mid swath, IW2 for IW), so a target at zero-Doppler time t_zd and two-way range
time tau appears on the image line of time

    t_img = t_zd - (tau - tau_ref) / 2

(the "bistatic delay" of the S1 geolocation calibration: Gisinger et al. 2021,
"In-depth verification of Sentinel-1 and TerraSAR-X geolocation accuracy using the
Australian corner reflector array", IEEE TGRS 59; Aresys SCT S1 corrections).
ESA's geolocation grid gives t_zd in ``azimuthTime`` and the image line in ``line``:
on the shared product t_zd - t_img fits (tau - 5.8505 ms)/2 to the grid's 1 us
rounding, and 5.8505 ms is IW2's mid-range time. Over IW1 this is -0.25..-0.08 ms
(-0.12..-0.04 lines, up to 1.7 m on the ground): :class:`RadarGrid` applies it when
its ``bistatic_reference_range_time`` is set (:func:`bistatic_reference_range_time`
reads it from a product), and geo2rdr's ``azimuth_time`` is always t_zd.

A TOPS IW measurement TIFF stacks its bursts: line L of the TIFF belongs to burst
k = L // linesPerBurst and its time is burst k's ``azimuthTime`` plus
(L - k linesPerBurst) azimuthTimeInterval. One :class:`RadarGrid` per burst (with its
``line_offset`` in the TIFF) describes that; :func:`burst_of` picks the burst of a
time, splitting burst overlaps at their middle (as ESA/SNAP debursting does).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, NamedTuple, Sequence

import numba
import numpy as np

from .orbit import Orbit, OrbitError, datetime_from_seconds, orbit_pva, seconds_since, to_datetime64

#: Speed of light in vacuum, m/s.
C_LIGHT = 299_792_458.0
#: WGS84 semi-major axis (m) and flattening (NIMA TR8350.2).
WGS84_A = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
_EP2 = WGS84_E2 / (1.0 - WGS84_E2)

__all__ = [
    "C_LIGHT", "RadarGrid", "RadarCoordinates", "GroundCoordinates", "burst_grids", "burst_of",
    "geo2rdr", "rdr2geo", "geo2rdr_bursts", "rdr2geo_bursts", "zero_doppler",
    "geolocate", "geodetic_to_ecef", "ecef_to_geodetic", "local_geometry", "OrbitError",
    "bistatic_reference_range_time", "SwathGeometry", "open_swath_geometry",
    "LAYOVER", "SHADOW", "LAYOVER_AND_SHADOW", "layover_shadow_mask", "pixel_geometry",
]


# --------------------------------------------------------------------------------------
# ellipsoid


@numba.njit(cache=True)
def _llh_to_xyz(lat, lon, h):
    """WGS84 geodetic (rad, rad, m) -> ECEF (m), closed form (module docstring)."""
    sl = np.sin(lat)
    cl = np.cos(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sl * sl)
    return (n + h) * cl * np.cos(lon), (n + h) * cl * np.sin(lon), (n * (1.0 - WGS84_E2) + h) * sl


@numba.njit(cache=True)
def _xyz_to_llh(x, y, z):
    """ECEF -> WGS84 geodetic (rad, rad, m): Bowring's (1976) formula, refined by two
    Newton-like fixed-point passes on the latitude (sub-micrometre near the Earth)."""
    p = np.sqrt(x * x + y * y)
    lon = np.arctan2(y, x)
    th = np.arctan2(z * WGS84_A, p * WGS84_B)
    st = np.sin(th)
    ct = np.cos(th)
    lat = np.arctan2(z + _EP2 * WGS84_B * st * st * st, p - WGS84_E2 * WGS84_A * ct * ct * ct)
    for _ in range(2):
        sl = np.sin(lat)
        n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sl * sl)
        h = p / np.cos(lat) - n if abs(lat) < 0.78 else z / sl - n * (1.0 - WGS84_E2)
        lat = np.arctan2(z, p * (1.0 - WGS84_E2 * n / (n + h)))
    sl = np.sin(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sl * sl)
    h = p / np.cos(lat) - n if abs(lat) < 0.78 else z / sl - n * (1.0 - WGS84_E2)
    return lat, lon, h


@numba.njit(parallel=True, cache=True)
def _llh_to_xyz_many(lat, lon, h, out):
    for j in numba.prange(lat.shape[0]):
        x, y, z = _llh_to_xyz(np.deg2rad(lat[j]), np.deg2rad(lon[j]), h[j])
        out[j, 0] = x
        out[j, 1] = y
        out[j, 2] = z


@numba.njit(parallel=True, cache=True)
def _xyz_to_llh_many(xyz, out):
    for j in numba.prange(xyz.shape[0]):
        lat, lon, h = _xyz_to_llh(xyz[j, 0], xyz[j, 1], xyz[j, 2])
        out[j, 0] = np.rad2deg(lat)
        out[j, 1] = np.rad2deg(lon)
        out[j, 2] = h


def _flat(*arrays) -> tuple[tuple[int, ...], list[np.ndarray]]:
    b = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
    shape = b[0].shape
    return shape, [np.ascontiguousarray(x.reshape(-1)) for x in b]


def geodetic_to_ecef(lat: Any, lon: Any, h: Any) -> np.ndarray:
    """WGS84 geodetic (deg, deg, m above the ellipsoid) -> ECEF (..., 3) in m.

    Closed form (module docstring; NIMA TR8350.2 eq. 4-14)."""
    shape, (la, lo, hh) = _flat(lat, lon, h)
    out = np.empty((la.size, 3))
    _llh_to_xyz_many(la, lo, hh, out)
    return out.reshape(shape + (3,))


def ecef_to_geodetic(xyz: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF (..., 3) m -> WGS84 (lat deg, lon deg, h m).

    Bowring (1976, Survey Review 23:181) closed-form latitude, refined twice with
    lat = atan2(z, p (1 - e^2 N / (N + h))); sub-micrometre for |h| < 1000 km."""
    a = np.asarray(xyz, dtype=np.float64)
    shape = a.shape[:-1]
    flat = np.ascontiguousarray(a.reshape(-1, 3))
    out = np.empty_like(flat)
    _xyz_to_llh_many(flat, out)
    return tuple(out[:, k].reshape(shape) for k in range(3))


# --------------------------------------------------------------------------------------
# solvers (numba)


@numba.njit(parallel=True, cache=True)
def _geo2rdr_kernel(lat, lon, h, tn, cp, cv, t_guess, tol, max_iter, out_t, out_r):
    t_lo = tn[0]
    t_hi = tn[-1]
    for j in numba.prange(lat.shape[0]):
        x, y, z = _llh_to_xyz(np.deg2rad(lat[j]), np.deg2rad(lon[j]), h[j])
        out_t[j] = np.nan
        out_r[j] = np.nan
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
            continue
        t = t_guess[j] if t_guess.shape[0] > 1 else t_guess[0]
        clamped = 0
        ok = False
        for _ in range(max_iter):
            px, py, pz, vx, vy, vz, ax, ay, az = orbit_pva(tn, cp, cv, t)
            dx = x - px
            dy = y - py
            dz = z - pz
            f = dx * vx + dy * vy + dz * vz
            fp = dx * ax + dy * ay + dz * az - (vx * vx + vy * vy + vz * vz)
            dt = -f / fp
            t += dt
            if t < t_lo:
                t = t_lo
                clamped += 1
            elif t > t_hi:
                t = t_hi
                clamped += 1
            if clamped > 2:
                break
            if abs(dt) < tol:
                ok = True
                break
        if ok and t >= t_lo and t <= t_hi:
            px, py, pz, vx, vy, vz, ax, ay, az = orbit_pva(tn, cp, cv, t)
            out_t[j] = t
            out_r[j] = np.sqrt((x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2)


@numba.njit(parallel=True, cache=True)
def _rdr2geo_kernel(t, rng, h, tn, cp, cv, side, tol, max_iter, out_lat, out_lon):
    t_lo = tn[0]
    t_hi = tn[-1]
    for j in numba.prange(t.shape[0]):
        out_lat[j] = np.nan
        out_lon[j] = np.nan
        tj = t[j]
        rj = rng[j]
        hj = h[j]
        if not (tj >= t_lo and tj <= t_hi and rj > 0.0 and np.isfinite(hj)):
            continue
        sx, sy, sz, vx, vy, vz, ax, ay, az = orbit_pva(tn, cp, cv, tj)
        rs = np.sqrt(sx * sx + sy * sy + sz * sz)
        # first guess: sphere of the ellipsoid's geocentric radius under the satellite
        sphi = sz / rs
        cphi2 = 1.0 - sphi * sphi
        re = WGS84_A * WGS84_B / np.sqrt(WGS84_B * WGS84_B * cphi2 + WGS84_A * WGS84_A * sphi * sphi)
        cos_look = (rs * rs + rj * rj - (re + hj) ** 2) / (2.0 * rs * rj)
        if cos_look > 1.0:
            cos_look = 1.0
        sin_look = np.sqrt(max(0.0, 1.0 - cos_look * cos_look))
        # c = V x S (right of track), w = c x V (up, perpendicular to V)
        cx = vy * sz - vz * sy
        cy = vz * sx - vx * sz
        cz = vx * sy - vy * sx
        cn = np.sqrt(cx * cx + cy * cy + cz * cz)
        cx /= cn
        cy /= cn
        cz /= cn
        wx = cy * vz - cz * vy
        wy = cz * vx - cx * vz
        wz = cx * vy - cy * vx
        wn = np.sqrt(wx * wx + wy * wy + wz * wz)
        lx = -cos_look * wx / wn + side * sin_look * cx
        ly = -cos_look * wy / wn + side * sin_look * cy
        lz = -cos_look * wz / wn + side * sin_look * cz
        lat, lon, _ = _xyz_to_llh(sx + rj * lx, sy + rj * ly, sz + rj * lz)
        ok = False
        for _ in range(max_iter):
            sl = np.sin(lat)
            cl = np.cos(lat)
            slo = np.sin(lon)
            clo = np.cos(lon)
            w2 = 1.0 - WGS84_E2 * sl * sl
            n = WGS84_A / np.sqrt(w2)
            m = WGS84_A * (1.0 - WGS84_E2) / (w2 * np.sqrt(w2))
            x = (n + hj) * cl * clo
            y = (n + hj) * cl * slo
            z = (n * (1.0 - WGS84_E2) + hj) * sl
            dx = x - sx
            dy = y - sy
            dz = z - sz
            r = np.sqrt(dx * dx + dy * dy + dz * dz)
            g1 = dx * vx + dy * vy + dz * vz
            g2 = r - rj
            # dX/dlat = (M + h)(-sin lat cos lon, -sin lat sin lon, cos lat)
            fx = -(m + hj) * sl * clo
            fy = -(m + hj) * sl * slo
            fz = (m + hj) * cl
            # dX/dlon = (N + h) cos lat (-sin lon, cos lon, 0)
            gx = -(n + hj) * cl * slo
            gy = (n + hj) * cl * clo
            j11 = vx * fx + vy * fy + vz * fz
            j12 = vx * gx + vy * gy
            j21 = (dx * fx + dy * fy + dz * fz) / r
            j22 = (dx * gx + dy * gy) / r
            det = j11 * j22 - j12 * j21
            dlat = -(j22 * g1 - j12 * g2) / det
            dlon = -(-j21 * g1 + j11 * g2) / det
            lat += dlat
            lon += dlon
            if abs(dlat) < tol and abs(dlon) < tol:
                ok = True
                break
        if not ok:
            continue
        # the solution must lie on the requested side: sign of (X - S) . (V x S)
        x, y, z = _llh_to_xyz(lat, lon, hj)
        if side * ((x - sx) * cx + (y - sy) * cy + (z - sz) * cz) <= 0.0:
            continue
        lon = (lon + np.pi) % (2.0 * np.pi) - np.pi
        out_lat[j] = np.rad2deg(lat)
        out_lon[j] = np.rad2deg(lon)


# --------------------------------------------------------------------------------------
# radar grids


@dataclasses.dataclass(frozen=True)
class RadarGrid:
    """A regular radar grid: lines in (image) azimuth time, pixels in slant range time.

    ``first_line_time`` and all azimuth times are float seconds since ``epoch``
    (datetime64[ns], UTC). ``slant_range_time`` is the two-way time of pixel 0.
    ``line_offset`` is the first line of this grid in its measurement TIFF (burst
    k of a TOPS swath: k * linesPerBurst); ``valid_first_line``/``valid_last_line``
    bound the lines with focused data (grid-local). ``burst_index`` is -1 for a
    grid that is not one burst (e.g. a debursted swath).
    ``bistatic_reference_range_time``: tau_ref of the IPF bistatic correction
    (module docstring; None: image times are taken as zero-Doppler times).

    Formulas (S1 Product Specification, ``imageInformation``/``swathTiming``):
    t(line) = first_line_time + line * azimuth_time_interval;
    tau(pixel) = slant_range_time + pixel / range_sampling_rate; R = c tau / 2.
    """

    epoch: np.datetime64
    first_line_time: float
    azimuth_time_interval: float
    slant_range_time: float
    range_sampling_rate: float
    lines: int
    samples: int
    wavelength: float
    line_offset: int = 0
    valid_first_line: int = 0
    valid_last_line: int = -1  # -1: lines - 1
    burst_index: int = -1
    look_side: str = "right"
    bistatic_reference_range_time: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "epoch", np.datetime64(self.epoch, "ns"))
        if self.valid_last_line < 0:
            object.__setattr__(self, "valid_last_line", self.lines - 1)
        if self.look_side not in ("right", "left"):
            raise ValueError(f"look_side must be 'right' or 'left', not {self.look_side!r}")

    # ------------------------------------------------------------ constructors

    @classmethod
    def from_annotation(cls, ann, burst: int | None = None, epoch: Any = None,
                        bistatic_reference_range_time: float | None = None) -> "RadarGrid":
        """From a parsed annotation (``products.sentinel1.Annotation``).

        ``burst=None``: the debursted swath, a continuous grid from the first burst's
        first line (``productFirstLineUtcTime``) to the last burst's last line
        (``lines`` = that span / azimuthTimeInterval + 1; ``line_offset`` 0 has no
        TIFF meaning here). ``burst=k``: burst k as it lies in the TIFF.
        ``epoch`` defaults to the grid's first line time. ``bistatic_reference_range_time``:
        see the class docstring (the annotation of one swath does not hold it:
        :func:`bistatic_reference_range_time` reads it from the product).
        """
        wavelength = C_LIGHT / ann.radar_frequency
        ati = ann.azimuth_time_interval
        if burst is None:
            t0 = to_datetime64(ann.bursts[0].azimuth_time)
            t_last = to_datetime64(ann.bursts[-1].azimuth_time)
            span = seconds_since(t_last, t0) + (ann.lines_per_burst - 1) * ati
            epoch = t0 if epoch is None else to_datetime64(epoch)
            return cls(epoch=epoch, first_line_time=seconds_since(t0, epoch), azimuth_time_interval=ati,
                       slant_range_time=ann.slant_range_time, range_sampling_rate=ann.range_sampling_rate,
                       lines=int(round(span / ati)) + 1, samples=ann.samples_per_burst,
                       wavelength=wavelength, bistatic_reference_range_time=bistatic_reference_range_time)
        b = ann.bursts[burst]
        t0 = to_datetime64(b.azimuth_time)
        epoch = t0 if epoch is None else to_datetime64(epoch)
        valid = np.flatnonzero(np.asarray(b.first_valid_sample) >= 0)
        v0, v1 = (int(valid[0]), int(valid[-1])) if valid.size else (0, ann.lines_per_burst - 1)
        return cls(epoch=epoch, first_line_time=seconds_since(t0, epoch), azimuth_time_interval=ati,
                   slant_range_time=ann.slant_range_time, range_sampling_rate=ann.range_sampling_rate,
                   lines=ann.lines_per_burst, samples=ann.samples_per_burst, wavelength=wavelength,
                   line_offset=burst * ann.lines_per_burst, valid_first_line=v0, valid_last_line=v1,
                   burst_index=burst, bistatic_reference_range_time=bistatic_reference_range_time)

    @classmethod
    def from_burst(cls, burst, epoch: Any = None,
                   bistatic_reference_range_time: float | None = None) -> "RadarGrid":
        """From a ``products.model.BurstInfo`` (times are its ISO first_line_time)."""
        t0 = to_datetime64(burst.first_line_time)
        epoch = t0 if epoch is None else to_datetime64(epoch)
        return cls(epoch=epoch, first_line_time=seconds_since(t0, epoch),
                   azimuth_time_interval=burst.azimuth_time_interval,
                   slant_range_time=burst.slant_range_time, range_sampling_rate=burst.range_sampling_rate,
                   lines=burst.lines, samples=burst.samples, wavelength=C_LIGHT / burst.radar_frequency,
                   line_offset=burst.line_offset, valid_first_line=burst.valid_first_line,
                   valid_last_line=burst.valid_last_line, burst_index=burst.burst_index,
                   bistatic_reference_range_time=bistatic_reference_range_time)

    def with_epoch(self, epoch: Any) -> "RadarGrid":
        epoch = to_datetime64(epoch)
        return dataclasses.replace(self, epoch=epoch,
                                   first_line_time=self.first_line_time + seconds_since(self.epoch, epoch))

    # ------------------------------------------------------------ mappings

    @property
    def last_line_time(self) -> float:
        return self.first_line_time + (self.lines - 1) * self.azimuth_time_interval

    @property
    def range_pixel_spacing(self) -> float:
        """Slant range pixel spacing c / (2 fs), m."""
        return C_LIGHT / (2.0 * self.range_sampling_rate)

    def line_to_time(self, line: Any) -> np.ndarray:
        """Image time t = first_line_time + line * azimuth_time_interval (s since epoch)."""
        return self.first_line_time + np.asarray(line, dtype=np.float64) * self.azimuth_time_interval

    def time_to_line(self, t: Any) -> np.ndarray:
        """line = (t - first_line_time) / azimuth_time_interval, t the image time (s since
        epoch, or datetimes); see :meth:`image_time` for zero-Doppler times."""
        return (self.seconds(t) - self.first_line_time) / self.azimuth_time_interval

    def image_time(self, zero_doppler_time: Any, slant_range_time: Any) -> np.ndarray:
        """Image (line) time of a target: t_img = t_zd - (tau - tau_ref) / 2 (module
        docstring, IPF bistatic correction); t_zd itself when tau_ref is None."""
        t = self.seconds(zero_doppler_time)
        if self.bistatic_reference_range_time is None:
            return t
        return t - 0.5 * (np.asarray(slant_range_time, dtype=np.float64) - self.bistatic_reference_range_time)

    def zero_doppler_time(self, image_time: Any, slant_range_time: Any) -> np.ndarray:
        """Inverse of :meth:`image_time`: t_zd = t_img + (tau - tau_ref) / 2."""
        t = self.seconds(image_time)
        if self.bistatic_reference_range_time is None:
            return t
        return t + 0.5 * (np.asarray(slant_range_time, dtype=np.float64) - self.bistatic_reference_range_time)

    def pixel_to_slant_range_time(self, pixel: Any) -> np.ndarray:
        """tau = slant_range_time + pixel / range_sampling_rate (two-way, s)."""
        return self.slant_range_time + np.asarray(pixel, dtype=np.float64) / self.range_sampling_rate

    def slant_range_time_to_pixel(self, tau: Any) -> np.ndarray:
        return (np.asarray(tau, dtype=np.float64) - self.slant_range_time) * self.range_sampling_rate

    def pixel_to_range(self, pixel: Any) -> np.ndarray:
        """R = c tau(pixel) / 2, m (one-way slant range)."""
        return 0.5 * C_LIGHT * self.pixel_to_slant_range_time(pixel)

    def range_to_pixel(self, slant_range: Any) -> np.ndarray:
        return self.slant_range_time_to_pixel(2.0 * np.asarray(slant_range, dtype=np.float64) / C_LIGHT)

    def seconds(self, t: Any) -> np.ndarray:
        """Seconds since the grid epoch (floats pass through; datetimes/ISO converted)."""
        a = np.asarray(t)
        if a.dtype.kind in "fiu":
            return a.astype(np.float64)
        return np.asarray(seconds_since(t, self.epoch), dtype=np.float64)

    def datetime(self, s: Any):
        """Seconds since the grid epoch -> datetime64[ns]."""
        return datetime_from_seconds(s, self.epoch)

    def valid_time_span(self) -> tuple[float, float]:
        """Azimuth times covered by the valid lines, half a line beyond each end."""
        half = 0.5 * self.azimuth_time_interval
        return (float(self.line_to_time(self.valid_first_line)) - half,
                float(self.line_to_time(self.valid_last_line)) + half)


def burst_grids(ann, epoch: Any = None, bistatic_reference_range_time: float | None = None) -> list[RadarGrid]:
    """One :class:`RadarGrid` per burst of an annotation, on a common epoch
    (default: the first burst's first line time)."""
    epoch = to_datetime64(ann.bursts[0].azimuth_time) if epoch is None else to_datetime64(epoch)
    return [RadarGrid.from_annotation(ann, burst=k, epoch=epoch,
                                      bistatic_reference_range_time=bistatic_reference_range_time)
            for k in range(len(ann.bursts))]


#: The mid swath of each multi-swath mode, whose mid-range time is the IPF's
#: bistatic reference (Aresys SCT S1 corrections: IW2 for IW, EW3 for EW).
MID_SWATH = {"IW": "IW2", "EW": "EW3"}


def bistatic_reference_range_time(product) -> float | None:
    """tau_ref of the IPF bistatic correction for an opened product (module docstring).

    The two-way slant range time of the middle sample of the mid swath (IW2 for IW,
    EW3 for EW; the swath itself for single-swath modes):
    tau_ref = slantRangeTime + (samplesPerBurst / 2) / rangeSamplingRate of that
    swath's annotation. Matches the value fitted to ESA's grid on the shared product
    (5.8505 ms) to 0.3 us. None when the product lacks that swath's annotation
    (e.g. a one-swath crop): image lines then differ from zero-Doppler times by up
    to ~0.13 lines.
    """
    swaths = product.swath_pols()
    if not swaths:
        return None
    mode = str(product.attrs.get("mode") or next(iter(swaths))[:2]).upper()
    mid = MID_SWATH.get(mode, next(iter(swaths)) if len(swaths) == 1 else None)
    if mid not in swaths:
        return None
    ann = product.annotation(mid, swaths[mid][0])
    return ann.slant_range_time + 0.5 * ann.samples_per_burst / ann.range_sampling_rate


def _as_grids(bursts: Sequence[Any], epoch: Any = None) -> list[RadarGrid]:
    if not bursts:
        raise ValueError("no bursts given")
    if isinstance(bursts[0], RadarGrid):
        epoch = bursts[0].epoch if epoch is None else to_datetime64(epoch)
        return [b.with_epoch(epoch) if b.epoch != epoch else b for b in bursts]
    epoch = to_datetime64(bursts[0].first_line_time) if epoch is None else to_datetime64(epoch)
    return [RadarGrid.from_burst(b, epoch=epoch) for b in bursts]


def _check_same_timing(grids: Sequence[RadarGrid]) -> RadarGrid:
    g0 = grids[0]
    for g in grids[1:]:
        if (g.azimuth_time_interval, g.slant_range_time, g.range_sampling_rate,
                g.bistatic_reference_range_time) != (g0.azimuth_time_interval, g0.slant_range_time,
                                                     g0.range_sampling_rate, g0.bistatic_reference_range_time):
            raise ValueError("bursts of one swath must share line interval, range timing and tau_ref")
    return g0


def burst_of(azimuth_time: Any, bursts: Sequence[Any], epoch: Any = None) -> np.ndarray:
    """Index into ``bursts`` of the burst imaging each azimuth time, -1 where none.

    ``bursts``: burst :class:`RadarGrid` s (common epoch: the first's) or
    ``BurstInfo`` records (epoch: the first burst's first line time).
    ``azimuth_time``: image (line) times (:meth:`RadarGrid.image_time`; zero-Doppler
    times differ by up to ~0.3 ms), float seconds since that epoch, or datetime64/ISO.

    A burst covers its valid lines (annotation firstValidSample >= 0) plus half a
    line at each end; where consecutive bursts overlap (TOPS: ~0.2 s) the overlap
    is split at its middle, the usual debursting choice (ESA S1TBX TOPS deburst),
    so each time belongs to at most one burst.
    """
    grids = _as_grids(bursts, epoch)
    t = grids[0].seconds(azimuth_time)
    spans = np.array([g.valid_time_span() for g in grids])
    order = np.argsort(spans[:, 0], kind="stable")
    s = spans[order, 0].copy()
    e = spans[order, 1].copy()
    cut = 0.5 * (s[1:] + e[:-1])
    over = e[:-1] > s[1:]
    e[:-1] = np.where(over, cut, e[:-1])
    s[1:] = np.where(over, cut, s[1:])
    k = np.searchsorted(s, t, side="right") - 1
    kc = np.clip(k, 0, len(s) - 1)
    inside = (k >= 0) & (t < e[kc]) & np.isfinite(t)
    return np.where(inside, order[kc], -1).astype(np.int64)


# --------------------------------------------------------------------------------------
# public solvers


class RadarCoordinates(NamedTuple):
    """Result of :func:`geo2rdr`: azimuth time (s since the grid epoch), slant range
    (m, one way), line and pixel (float, on the grid; TIFF lines for the burst
    variant) and, for :func:`geo2rdr_bursts`, the burst index (-1: in no burst)."""

    azimuth_time: np.ndarray
    slant_range: np.ndarray
    line: np.ndarray
    pixel: np.ndarray
    burst: np.ndarray | None = None

    @property
    def slant_range_time(self) -> np.ndarray:
        """Two-way slant range time tau = 2 R / c, s."""
        return 2.0 * self.slant_range / C_LIGHT


class GroundCoordinates(NamedTuple):
    """Result of :func:`rdr2geo`: WGS84 latitude and longitude (deg); height as given."""

    latitude: np.ndarray
    longitude: np.ndarray


def zero_doppler(lat: Any, lon: Any, h: Any, orbit: Orbit, t_guess: Any = None,
                 tol: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Zero-Doppler time (s since the orbit epoch) and slant range (m) of ground points.

    Newton on f(t) = (X - S(t)) . V(t) (module docstring) from ``t_guess`` (scalar or
    per point; default mid-orbit), stopping when |dt| < ``tol`` (the last step is
    quadratically smaller). Points whose solution lies outside the orbit's state
    vectors, or that do not converge, get NaN.
    """
    shape, (la, lo, hh) = _flat(lat, lon, h)
    if t_guess is None:
        guess = np.array([0.5 * (orbit.start + orbit.stop)])
    elif np.ndim(t_guess) == 0:
        guess = np.array([float(t_guess)])
    else:
        guess = np.ascontiguousarray(np.broadcast_to(np.asarray(t_guess, dtype=np.float64), shape).reshape(-1))
    t = np.empty(la.size)
    r = np.empty(la.size)
    _geo2rdr_kernel(la, lo, hh, *orbit.coefficients, guess, tol, max_iter, t, r)
    return t.reshape(shape), r.reshape(shape)


def geolocate(azimuth_time: Any, slant_range: Any, h: Any, orbit: Orbit, look_side: str = "right",
              tol: float = 1e-13, max_iter: int = 30) -> GroundCoordinates:
    """WGS84 (lat, lon) in degrees of zero-Doppler times and slant ranges at heights h.

    ``azimuth_time``: float seconds since the orbit epoch, or datetime64/ISO.
    Solves (X - S) . V = 0, |X - S| = R on the surface of geodetic height h by Newton
    in (lat, lon) (module docstring), from a spherical-Earth guess on ``look_side``
    (Sentinel-1: right). ``tol`` in radians (1e-13 rad ~ 0.6 micrometre). Times
    outside the orbit raise OrbitError; non-converging points get NaN.
    """
    t = orbit.seconds(azimuth_time)
    shape, (tt, rr, hh) = _flat(t, slant_range, h)
    finite = tt[np.isfinite(tt)]
    if finite.size:
        orbit.check_covers(finite.min(), finite.max())
    lat = np.empty(tt.size)
    lon = np.empty(tt.size)
    side = 1.0 if look_side == "right" else -1.0
    _rdr2geo_kernel(tt, rr, hh, *orbit.coefficients, side, tol, max_iter, lat, lon)
    return GroundCoordinates(lat.reshape(shape), lon.reshape(shape))


def _orbit_offset(orbit: Orbit, grid: RadarGrid) -> float:
    """Seconds to add to grid times to get orbit times."""
    return seconds_since(grid.epoch, orbit.epoch)


def geo2rdr(lat: Any, lon: Any, h: Any, orbit: Orbit, grid: RadarGrid,
            tol: float = 1e-10) -> RadarCoordinates:
    """Radar coordinates of ground points (WGS84 lat/lon in deg, h in m above the ellipsoid).

    Returns :class:`RadarCoordinates`: the zero-Doppler azimuth time t_zd (s since
    ``grid.epoch``; what ESA's geolocation grid calls ``azimuthTime``), the slant
    range R (m), ``pixel = grid.range_to_pixel(R)`` and
    ``line = grid.time_to_line(grid.image_time(t_zd, 2R/c))`` (the image line, with
    the IPF bistatic correction when the grid has tau_ref; floats, may fall outside
    the grid). Newton iteration: :func:`zero_doppler` (to |dt| < 1e-10 s); equations:
    module docstring. The orbit must cover the grid's time span (else OrbitError,
    e.g. an orbit of another date); points whose zero-Doppler time falls outside
    the orbit get NaN.
    """
    off = _orbit_offset(orbit, grid)
    orbit.check_covers(grid.first_line_time + off, grid.last_line_time + off)
    guess = 0.5 * (grid.first_line_time + grid.last_line_time) + off
    t, r = zero_doppler(lat, lon, h, orbit, t_guess=guess, tol=tol)
    ta = t - off
    t_img = grid.image_time(ta, 2.0 * r / C_LIGHT)
    return RadarCoordinates(ta, r, grid.time_to_line(t_img), grid.range_to_pixel(r))


def rdr2geo(line: Any, pixel: Any, h: Any, orbit: Orbit, grid: RadarGrid) -> GroundCoordinates:
    """WGS84 (lat, lon) in degrees of grid (line, pixel) at heights h (m above the ellipsoid).

    tau = grid.pixel_to_slant_range_time(pixel), R = c tau / 2,
    t_zd = grid.zero_doppler_time(grid.line_to_time(line), tau) (IPF bistatic
    correction when the grid has tau_ref), then :func:`geolocate` (zero-Doppler
    plane, range sphere and the surface of geodetic height h; Newton in (lat, lon)
    on the grid's look side)."""
    off = _orbit_offset(orbit, grid)
    tau = grid.pixel_to_slant_range_time(pixel)
    t = grid.zero_doppler_time(grid.line_to_time(line), tau)
    return geolocate(t + off, 0.5 * C_LIGHT * tau, h, orbit, look_side=grid.look_side)


def geo2rdr_bursts(lat: Any, lon: Any, h: Any, orbit: Orbit, bursts: Sequence[Any],
                   tol: float = 1e-10) -> RadarCoordinates:
    """:func:`geo2rdr` on a TOPS swath given as its bursts (``RadarGrid`` s or ``BurstInfo`` s).

    ``azimuth_time``: zero-Doppler time, s since the first burst's epoch; ``burst``:
    :func:`burst_of` of the image time (-1 outside every burst's valid lines, where
    ``line`` is NaN); ``line``: the measurement-TIFF line, ``line_offset`` of that
    burst + its local line.
    """
    grids = _as_grids(bursts)
    g0 = _check_same_timing(grids)
    off = _orbit_offset(orbit, g0)
    t0 = min(g.first_line_time for g in grids)
    t1 = max(g.last_line_time for g in grids)
    orbit.check_covers(t0 + off, t1 + off)
    t, r = zero_doppler(lat, lon, h, orbit, t_guess=0.5 * (t0 + t1) + off, tol=tol)
    ta = t - off
    t_img = g0.image_time(ta, 2.0 * r / C_LIGHT)
    k = burst_of(t_img, grids)
    first = np.array([g.first_line_time for g in grids])
    offset = np.array([g.line_offset for g in grids], dtype=np.float64)
    kc = np.clip(k, 0, len(grids) - 1)
    line = np.where(k >= 0, offset[kc] + (t_img - first[kc]) / g0.azimuth_time_interval, np.nan)
    return RadarCoordinates(ta, r, line, g0.range_to_pixel(r), k)


def rdr2geo_bursts(line: Any, pixel: Any, h: Any, orbit: Orbit, bursts: Sequence[Any]) -> GroundCoordinates:
    """:func:`rdr2geo` for measurement-TIFF lines of a TOPS swath (``RadarGrid`` s or
    ``BurstInfo`` s): TIFF line L belongs to the burst with
    line_offset <= L < line_offset + lines, at image time first_line_time +
    (L - line_offset) azimuth_time_interval; lines in no burst give NaN."""
    grids = _as_grids(bursts)
    g0 = _check_same_timing(grids)
    line = np.asarray(line, dtype=np.float64)
    lo = np.array([g.line_offset for g in grids], dtype=np.float64)
    n = np.array([g.lines for g in grids], dtype=np.float64)
    first = np.array([g.first_line_time for g in grids])
    order = np.argsort(lo)
    k = np.searchsorted(lo[order], line, side="right") - 1
    kc = order[np.clip(k, 0, len(grids) - 1)]
    inside = (k >= 0) & (line < lo[kc] + n[kc])
    t_img = np.where(inside, first[kc] + (line - lo[kc]) * g0.azimuth_time_interval, np.nan)
    tau = g0.pixel_to_slant_range_time(pixel)
    t = g0.zero_doppler_time(t_img, tau)
    return geolocate(t + _orbit_offset(orbit, g0), 0.5 * C_LIGHT * tau, h, orbit, look_side=g0.look_side)


# --------------------------------------------------------------------------------------
# local geometry


def local_geometry(lat: Any, lon: Any, h: Any, orbit: Orbit, azimuth_time: Any = None) -> dict[str, np.ndarray]:
    """Local imaging geometry of ground points (WGS84 deg, deg, m) seen from the orbit.

    ``azimuth_time`` (zero-Doppler, s since the orbit epoch, or datetimes): if
    known; otherwise solved (:func:`zero_doppler`). With X the point, S the
    satellite and l = (S - X)/|S - X| the line of sight to it, returns arrays (deg
    unless stated):

    * ``incidence_angle``: acos(n . l) with n the ellipsoid (geodetic) normal at the
      point, (cos lat cos lon, cos lat sin lon, sin lat): the incidence on the
      ellipsoid surface (terrain-flattening and sigma0/gamma0 conventions);
    * ``incidence_angle_geocentric``: acos(X/|X| . l), against the geocentric
      vertical: ESA's convention in the annotation ``geolocationGrid``
      ``incidenceAngle`` (matched to 3e-7 deg on the shared product; it differs from
      the ellipsoid incidence by ~0.035 deg there);
    * ``look_angle``: off-nadir angle at the satellite, between the geocentric nadir
      -S/|S| and X - S: ESA's grid ``elevationAngle`` convention (matched to 3e-7 deg);
    * ``heading``: azimuth of the satellite velocity projected on the local
      east/north plane at the point, clockwise from north;
    * ``los_east``, ``los_north``, ``los_up``: l in the local ENU frame (unitless,
      ground to satellite), to project displacements onto the line of sight;
    * ``slant_range`` (m) and ``azimuth_time`` (s since the orbit epoch).

    Points without a zero-Doppler solution give NaN.
    """
    shape, (la, lo, hh) = _flat(lat, lon, h)
    if azimuth_time is None:
        t, _ = zero_doppler(la, lo, hh, orbit)
    else:
        t = np.ascontiguousarray(np.broadcast_to(
            np.asarray(orbit.seconds(azimuth_time), dtype=np.float64), shape).reshape(-1))
    ok = np.isfinite(t)
    s, v = orbit.interpolate(np.where(ok, t, orbit.start))
    x = geodetic_to_ecef(la, lo, hh)
    d = s - x
    rng = np.linalg.norm(d, axis=-1)
    los = d / rng[:, None]
    phi, lam = np.deg2rad(la), np.deg2rad(lo)
    cp, sp, cl, sl = np.cos(phi), np.sin(phi), np.cos(lam), np.sin(lam)
    up = np.stack([cp * cl, cp * sl, sp], axis=-1)
    east = np.stack([-sl, cl, np.zeros_like(sl)], axis=-1)
    north = np.stack([-sp * cl, -sp * sl, cp], axis=-1)
    le, ln, lu = (np.sum(los * e, axis=-1) for e in (east, north, up))
    radial = x / np.linalg.norm(x, axis=-1, keepdims=True)
    nadir = -s / np.linalg.norm(s, axis=-1, keepdims=True)

    def angle(cosine):
        return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))

    out = {
        "incidence_angle": angle(lu),
        "incidence_angle_geocentric": angle(np.sum(radial * los, axis=-1)),
        "look_angle": angle(np.sum(-los * nadir, axis=-1)),
        "heading": np.degrees(np.arctan2(np.sum(v * east, axis=-1), np.sum(v * north, axis=-1))) % 360.0,
        "los_east": le, "los_north": ln, "los_up": lu, "slant_range": rng, "azimuth_time": t,
    }
    return {k: np.where(ok, val, np.nan).reshape(shape) for k, val in out.items()}


# --------------------------------------------------------------------------------------
# one swath of a product


@dataclasses.dataclass(frozen=True)
class SwathGeometry:
    """Orbit and burst grids of one swath/polarisation of a product (what geo2rdr and
    rdr2geo of the measurement TIFF need)."""

    product_name: str
    swath: str
    polarisation: str
    orbit: Orbit
    bursts: list[RadarGrid]  # one per burst, common epoch (first burst's first line)
    swath_grid: RadarGrid  # debursted swath on the same epoch
    bistatic_reference_range_time: float | None  # None: not found in the product

    def geo2rdr(self, lat: Any, lon: Any, h: Any) -> RadarCoordinates:
        """:func:`geo2rdr_bursts` on this swath (TIFF lines, burst index)."""
        return geo2rdr_bursts(lat, lon, h, self.orbit, self.bursts)

    def rdr2geo(self, line: Any, pixel: Any, h: Any) -> GroundCoordinates:
        """:func:`rdr2geo_bursts` on this swath (TIFF lines)."""
        return rdr2geo_bursts(line, pixel, h, self.orbit, self.bursts)


def open_swath_geometry(product, swath: str, polarisation: str | None = None, orbit: Any = None,
                        method: str = "hermite", storage_options: dict | None = None) -> SwathGeometry:
    """:class:`SwathGeometry` of a product (URL or ``OpenedProduct``) and swath.

    ``polarisation``: default the swath's first (co-pol first). ``orbit``: an
    :class:`Orbit`, or a path/URL/bytes of an ESA ``.EOF`` file read with
    :meth:`Orbit.from_eof` over the swath's time span; default the annotation's
    state vectors. tau_ref of the bistatic correction: :func:`bistatic_reference_range_time`.
    """
    from .products.sentinel1 import open_product

    if isinstance(product, str):
        product = open_product(product, storage_options, metadata_only=True, allow_partial=True)
    pols = product.swath_pols()
    if swath not in pols:
        raise ValueError(f"{product.url}: no swath {swath} (has {', '.join(pols) or 'none'})")
    pol = polarisation or pols[swath][0]
    if pol not in pols[swath]:
        raise ValueError(f"{product.url}: swath {swath} has no polarisation {pol} (has {', '.join(pols[swath])})")
    ann = product.annotation(swath, pol)
    tau_ref = bistatic_reference_range_time(product)
    bursts = burst_grids(ann, bistatic_reference_range_time=tau_ref)
    swath_grid = RadarGrid.from_annotation(ann, epoch=bursts[0].epoch, bistatic_reference_range_time=tau_ref)
    if orbit is None:
        orb = Orbit.from_product(product, swath, pol, method=method)
    elif isinstance(orbit, Orbit):
        orb = orbit
    else:
        orb = Orbit.from_eof(orbit, start=swath_grid.datetime(swath_grid.first_line_time),
                             stop=swath_grid.datetime(swath_grid.last_line_time), method=method)
    return SwathGeometry(product_name=product.name, swath=swath, polarisation=pol, orbit=orb,
                         bursts=bursts, swath_grid=swath_grid, bistatic_reference_range_time=tau_ref)


# --------------------------------------------------------------------------------------
# layover and shadow

#: Codes of :func:`layover_shadow_mask` (bit flags: 3 = both). The convention of the
#: brief for this pipeline; note that codes differ between packages (check before
#: comparing with ISCE or GAMMA masks).
LAYOVER = np.uint8(1)
SHADOW = np.uint8(2)
LAYOVER_AND_SHADOW = np.uint8(3)


def _line_frames(t_line: np.ndarray, orbit: Orbit, look_side: str):
    """Satellite position S (L, 3) at each line time and the in-plane unit vectors
    c (cross track, towards the imaged side: side * (V x S)/|V x S|) and d (down,
    V^ x (V x S)^, perpendicular to V in the zero-Doppler plane)."""
    s, v = orbit.interpolate(t_line)
    c = np.cross(v, s)
    c /= np.linalg.norm(c, axis=-1, keepdims=True)
    d = np.cross(v / np.linalg.norm(v, axis=-1, keepdims=True), c)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    side = 1.0 if look_side == "right" else -1.0
    return s, side * c, d


def _fill_line_ranges(rng: np.ndarray) -> np.ndarray:
    """Pixel slant ranges (L, N) with NaN gaps filled by each line's least-squares line
    R0 + i dR through its finite values (radar geometry: uniform range spacing)."""
    ok = np.isfinite(rng)
    if ok.all():
        return rng
    i = np.broadcast_to(np.arange(rng.shape[1], dtype=np.float64), rng.shape)
    n = ok.sum(axis=1)
    few = n < 2  # such lines get no mask (fewer than two ground points); any increasing fill
    ok = ok & ~few[:, None]
    n = np.where(few, 1, n)
    im = np.where(ok, i, 0).sum(axis=1) / n
    rm = np.where(ok, rng, 0).sum(axis=1) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (np.where(ok, (i - im[:, None]) * (rng - rm[:, None]), 0).sum(axis=1)
                 / np.where(ok, (i - im[:, None]) ** 2, 0).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = rm[:, None] + slope[:, None] * (i - im[:, None])
    return np.where(ok, rng, np.where(few[:, None], i, fill))


def _layover_shadow_block(xyz_foot, latlon, h, t_line, level, orbit, height_of, look_side, oversample, margin_m,
                          line_numbers):
    """:func:`layover_shadow_mask` on a block of lines (all inputs (L, N[, 3]));
    ``line_numbers``: the block's lines in the caller's arrays (for messages)."""
    nl, ns = h.shape
    s, c, d = _line_frames(t_line, orbit, look_side)
    valid = np.isfinite(h) & np.all(np.isfinite(xyz_foot), axis=-1)
    # ground-range coordinate of each pixel's foot on the ellipsoid: g = (X0 - S) . c
    g = np.einsum("lnk,lk->ln", xyz_foot - s[:, None, :], c)
    g = np.where(valid, g, np.inf)
    order = np.argsort(g, axis=1, kind="stable")
    gs = np.take_along_axis(g, order, axis=1)
    fs = np.take_along_axis(latlon, order[..., None], axis=1)
    fs[..., 1] = np.where(np.isfinite(fs[..., 1]), fs[..., 1], 0.0)  # finite for unwrap; unused
    hs = np.take_along_axis(h, order, axis=1)
    n_ok = valid.sum(axis=1)
    out = np.zeros((nl, ns), dtype=np.uint8)
    lines = np.flatnonzero(n_ok >= 2)
    if lines.size == 0:
        return out
    gs, fs, hs, n_ok, lev = gs[lines], fs[lines], hs[lines], n_ok[lines], level[lines]
    s, c, d = s[lines], c[lines], d[lines]
    nb = lines.size
    last = gs[np.arange(nb), n_ok - 1]
    first = gs[:, 0]
    # sorted keys with the invalid tail made finite and still increasing
    tail = np.arange(ns)[None, :] - (n_ok[:, None] - 1)
    gs = np.where(np.isfinite(gs), gs, last[:, None] + tail)
    steps = np.diff(gs, axis=1)
    steps = np.where(np.arange(ns - 1)[None, :] < (n_ok[:, None] - 1), steps, np.nan)
    spacing = float(np.nanmedian(np.where(steps > 0, steps, np.nan))) / oversample
    if not np.isfinite(spacing) or spacing <= 0:
        spacing = float(np.max(last - first)) / max(ns * oversample, 1)
    margin = 2.0 * spacing if margin_m is None else float(margin_m)
    span = last - first + 2.0 * margin
    m = int(np.ceil(np.max(span) / spacing)) + 1
    gg = (first - margin)[:, None] + span[:, None] * (np.arange(m) / (m - 1))[None, :]
    # piecewise-linear interpolation along each line's sorted feet, lines batched by offsets
    off = np.arange(nb)[:, None] * (4.0 * (np.max(np.abs(gs)) + np.max(np.abs(gg)) + 1.0))
    k = np.searchsorted((gs + off).ravel(), (gg + off).ravel(), side="right").reshape(nb, m)
    k = k - np.arange(nb)[:, None] * ns - 1
    k = np.clip(k, 0, (n_ok - 2)[:, None])
    g0 = np.take_along_axis(gs, k, axis=1)
    g1 = np.take_along_axis(gs, k + 1, axis=1)
    dg = g1 - g0
    w = np.where(dg > 0, (gg - g0) / np.where(dg > 0, dg, 1.0), 0.0)
    lat_s, lon_s = fs[..., 0], np.unwrap(fs[..., 1], period=360.0, axis=1)  # across +-180 deg

    def along(a):  # linear in g between the sorted pixels, extrapolated at the ends
        a0 = np.take_along_axis(a, k, axis=1)
        return a0 + w * (np.take_along_axis(a, k + 1, axis=1) - a0)

    lat_d = along(lat_s)
    lon_d = (along(lon_s) + 180.0) % 360.0 - 180.0
    if height_of is None:  # the pixels' own heights along the line, held beyond the ends
        wc = np.clip(w, 0.0, 1.0)
        h_d = np.take_along_axis(hs, k, axis=1) * (1 - wc) + np.take_along_axis(hs, k + 1, axis=1) * wc
    else:
        h_d = np.asarray(height_of(lon_d, lat_d), dtype=np.float64)
    x = geodetic_to_ecef(lat_d, lon_d, h_d) - s[:, None, :]
    r = np.linalg.norm(x, axis=-1)
    theta = np.arctan2(np.einsum("lmk,lk->lm", x, c), np.einsum("lmk,lk->lm", x, d))
    # shadow: look angle below the largest look angle of the terrain before it (hidden
    # behind it). With T_k = max_{j<=k} theta_j and theta linear along segment k -> k+1,
    # the hidden part is [0, s*]: s* = 1 if theta_k+1 < T_k, else (T_k - theta_k) /
    # (theta_k+1 - theta_k) if theta_k < T_k (the segment comes out of shadow), else 0.
    top = np.maximum.accumulate(theta, axis=1)[:, :-1]
    t0, t1 = theta[:, :-1], theta[:, 1:]
    tol = 1e-10  # rad (0.1 mm at 1000 km): flat terrain never hides itself
    with np.errstate(invalid="ignore", divide="ignore"):
        s_out = np.clip((top - t0) / (t1 - t0), 0.0, 1.0)
    s_hid = np.where(t1 < top - tol, 1.0, np.where(t0 < top - tol, s_out, 0.0))
    # crossings of each pixel's slant range level L by the profile segments: lo < L <= hi
    lo = np.minimum(r[:, 1:], r[:, :-1])
    hi = np.maximum(r[:, 1:], r[:, :-1])
    r_h = r[:, :-1] + s_hid * (r[:, 1:] - r[:, :-1])
    hid_seg = (s_hid > 0).ravel()
    lo_h = np.minimum(r[:, :-1], r_h).ravel()[hid_seg]
    hi_h = np.maximum(r[:, :-1], r_h).ravel()[hid_seg]
    loff = np.arange(nb)[:, None] * (4.0 * (np.nanmax(np.abs(lev)) + np.max(hi) + 1.0))
    key = (lev + loff).ravel()
    if np.any(np.diff(key) < 0):
        bad = np.unique(np.nonzero(np.diff(lev, axis=1) < 0)[0])
        raise ValueError(f"slant range decreases along samples on lines "
                         f"{np.asarray(line_numbers)[lines[bad]][:5].tolist()}: are "
                         "the arrays in radar geometry, shaped (lines, samples) with range increasing?")
    i0 = np.searchsorted(key, (lo + loff).ravel(), side="right")
    i1 = np.searchsorted(key, (hi + loff).ravel(), side="right")
    size = nb * ns + 1
    cross = np.cumsum(np.bincount(i0, minlength=size) - np.bincount(i1, minlength=size))[:-1]
    seg_line = np.repeat(np.arange(nb), m - 1)[hid_seg]
    j0 = np.searchsorted(key, lo_h + loff[seg_line, 0], side="right")
    j1 = np.searchsorted(key, hi_h + loff[seg_line, 0], side="right")
    hcross = np.cumsum(np.bincount(j0, minlength=size) - np.bincount(j1, minlength=size))[:-1]
    cross = cross.reshape(nb, ns)
    hcross = hcross.reshape(nb, ns)
    mask = np.where(cross >= 2, LAYOVER, 0) | np.where(hcross >= 1, SHADOW, 0)
    out[lines] = mask.astype(np.uint8)
    return out


def layover_shadow_mask(lat: Any, lon: Any, h: Any, orbit: Orbit, *, dem: Any = None,
                        slant_range: Any = None, azimuth_time: Any = None, look_side: str = "right",
                        oversample: float = 2.0, margin_m: float | None = None,
                        block_lines: int = 64) -> np.ndarray:
    """Layover and shadow mask (uint8: 0 none, 1 :data:`LAYOVER`, 2 :data:`SHADOW`, 3 both)
    of pixels in radar geometry.

    ``lat``, ``lon``, ``h`` (lines, samples): the ground point (WGS84 deg, deg, m above the
    ellipsoid) of each pixel of a radar grid, range increasing along samples (e.g. rdr2geo
    on the DEM). Definitions (Kropatsch & Strobl 1990, "The generation of SAR layover and
    shadow maps from digital elevation models", IEEE TGRS 28(1); the per-range-line
    algorithm of ISCE2 ``topozero`` / isce3 ``Topo::setLayoverShadow``): on each range
    line, take the terrain profile in the zero-Doppler plane ordered by ground range g,
    with slant range R(g) and look angle theta(g) from the satellite S at that line's
    zero-Doppler time;

    * layover (active and passive): a pixel whose slant range L is reached by the
      profile more than once, i.e. R is not monotonic in g there: the number of profile
      segments with min(R_k, R_k+1) < L <= max(R_k, R_k+1) is >= 2 (the foreslope
      steeper than the local incidence angle and the terrain before / beyond it that
      shares its ranges);
    * shadow (active and passive): a pixel whose range cell holds terrain hidden from
      the radar: profile points with theta_k < max_{j<k} theta_j (a nearer point lies on
      a steeper ray: numpy ``maximum.accumulate`` along g), i.e. back slopes steeper than
      the depression angle 90 deg - incidence and the ground behind them up to where the
      ray grazing the crest meets it again.

    Coordinates of the profile: c = side (V x S)/|V x S| (towards the imaged side),
    d = V^ x (V x S)^ (down in the zero-Doppler plane); g = (X0 - S) . c with X0 the point's
    foot on the ellipsoid; theta = atan2((X - S) . c, (X - S) . d); R = |X - S|.

    The profile is sampled at ``oversample`` points per median pixel ground spacing
    along the path of the pixels' feet (sorted by g; lat/lon linear in g, extrapolated by
    ``margin_m`` beyond both ends). Heights on it come from ``dem`` (a
    :class:`alignsar_core.dem.Dem` or any callable ``height(lon, lat)``, ellipsoidal)
    when given: then the result does not depend on which of several layover solutions
    rdr2geo returned for a pixel, and terrain just outside the swath can cast shadow or
    lay over into it (default ``margin_m`` 5 km, as the DEM is read with
    ``alignsar_core.dem.DEFAULT_FOOTPRINT_MARGIN_M``). Pass the DEM whenever there is
    one. Without ``dem`` the pixels' own heights are interpolated along g (margin: two
    profile samples), which is right only where every pixel's point lies on the terrain:
    layover is then seen only where the pixels sample more than one of its branches, and
    pixels where rdr2geo on the DEM did not converge (layover, back slopes steeper than
    the depression angle: the height fixed point of ``alignsar_core.terrain`` stops off
    the terrain there) give a wrong profile, i.e. spurious layover and shadow.

    ``slant_range`` (samples,) or (lines, samples): the range of each pixel centre (m);
    default |X - S| of the given points (exact for rdr2geo output). ``azimuth_time``:
    zero-Doppler times (s since the orbit epoch), per pixel or per line (lines, 1);
    default solved (:func:`zero_doppler`) and each line's median used. Pixels with a
    non-finite ground point get 0. Work is vectorised over a block of ``block_lines``
    lines at a time (memory ~ 200 bytes x lines x profile samples).
    """
    lat, lon, h = (np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(lat, lon, h))
    if lat.ndim != 2:
        raise ValueError(f"lat/lon/h must be 2-D (lines, samples) in radar geometry, got shape {lat.shape}")
    if look_side not in ("right", "left"):
        raise ValueError(f"look_side must be 'right' or 'left', not {look_side!r}")
    if oversample <= 0:
        raise ValueError(f"oversample must be positive, got {oversample}")
    nl, ns = lat.shape
    if ns < 2:
        raise ValueError("need at least two samples per line")
    height_of = None
    if dem is not None:
        height_of = dem.interp if hasattr(dem, "interp") else dem
        if margin_m is None:
            margin_m = 5000.0
    if azimuth_time is None:
        t, rng = zero_doppler(lat, lon, h, orbit)
    else:
        t = np.broadcast_to(np.asarray(orbit.seconds(azimuth_time), dtype=np.float64), (nl, ns))
        rng = None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN lines
        t_line = np.nanmedian(t, axis=1)
    if slant_range is None:
        if rng is None:
            s_pix, _ = orbit.interpolate(np.where(np.isfinite(t), t, orbit.start))
            rng = np.linalg.norm(geodetic_to_ecef(lat, lon, h) - s_pix, axis=-1)
            rng = np.where(np.isfinite(t), rng, np.nan)
        level = rng
    else:
        level = np.broadcast_to(np.asarray(slant_range, dtype=np.float64), (nl, ns))
    out = np.zeros((nl, ns), dtype=np.uint8)
    good_lines = np.isfinite(t_line)
    t_fill = np.where(good_lines, t_line, orbit.start)
    foot = geodetic_to_ecef(lat, lon, np.zeros_like(h))
    latlon = np.stack([lat, lon], axis=-1)
    hh = np.where(np.isfinite(t), h, np.nan)
    for a in range(0, nl, block_lines):  # blocks of lines bound the memory; vectorised within
        b = min(nl, a + block_lines)
        sel = np.flatnonzero(good_lines[a:b]) + a
        if sel.size == 0:
            continue
        lev = _fill_line_ranges(np.array(level[sel], dtype=np.float64))
        out[sel] = _layover_shadow_block(foot[sel], latlon[sel], hh[sel], t_fill[sel], lev, orbit, height_of,
                                         look_side, oversample, margin_m, sel)
    out[~(np.isfinite(lat) & np.isfinite(lon) & np.isfinite(h))] = 0
    return out


def pixel_geometry(lat: Any, lon: Any, h: Any, orbit: Orbit, *, dem: Any = None, slant_range: Any = None,
                   look_side: str = "right", oversample: float = 2.0,
                   margin_m: float | None = None) -> dict[str, np.ndarray]:
    """Local metadata of every pixel of a radar grid: :func:`local_geometry` (incidence
    angle, look angle, heading, line of sight, slant range, zero-Doppler time) of the
    pixels' ground points (lines, samples), plus ``layover_shadow`` from
    :func:`layover_shadow_mask` (same arguments; the zero-Doppler times are shared)."""
    geo = local_geometry(lat, lon, h, orbit)
    geo["layover_shadow"] = layover_shadow_mask(
        lat, lon, h, orbit, dem=dem, slant_range=slant_range, azimuth_time=geo["azimuth_time"],
        look_side=look_side, oversample=oversample, margin_m=margin_m)
    return geo
