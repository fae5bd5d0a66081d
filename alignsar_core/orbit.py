"""Satellite orbits: state vectors, Hermite (or Lagrange) interpolation, precise orbit files.

An :class:`Orbit` holds state vectors in the Earth-fixed frame (ECEF, ITRF/WGS84
axes: positions in m, velocities in m/s) at times given as float seconds since a
``datetime64[ns]`` ``epoch`` (UTC, like every time in Sentinel-1 annotations).
Float seconds near the scene keep ~1e-14 s resolution; the epoch is kept in
integer nanoseconds, so no precision is lost on dates.

Sources of state vectors:

* the product annotation (``generalAnnotation/orbitList``, S1 Product Specification
  S1-RS-MDA-52-7441, 10 s apart, "Earth Fixed" frame), read through xarray-sentinel's
  ``{swath}/{pol}/orbit`` group: :meth:`Orbit.from_dataset`, :meth:`Orbit.from_product`;
* an ESA precise or restituted orbit file (Earth Explorer ``.EOF``: AUX_POEORB /
  AUX_RESORB, "Sentinel-1 precise orbit determination" file format, ``<OSV>``
  records with ``UTC=...``, ``X Y Z VX VY VZ``): :meth:`Orbit.from_eof`.

Interpolation (:meth:`Orbit.interpolate`), ``method="hermite"`` (default). Positions:
the piecewise cubic Hermite spline on positions and velocities (SCIENCE.md): on
[t_i, t_i+1] of length h, with u = (t - t_i)/h,

    P(t) = h00(u) P_i + h h10(u) V_i + h01(u) P_i+1 + h h11(u) V_i+1
    h00 = 2u^3 - 3u^2 + 1,  h10 = u^3 - 2u^2 + u,  h01 = -2u^3 + 3u^2,  h11 = u^3 - u^2

Velocities: the same spline on velocities and accelerations,
V(t) = h00 V_i + h h10 A_i + h01 V_i+1 + h h11 A_i+1, with node accelerations A_i
the derivative at t_i of the Lagrange polynomial through the 5 nearest velocity
vectors (4th-order finite differences); the acceleration is dV/dt.

Why velocities are interpolated on their own rather than taken as dP/dt: the
annotation's velocity vectors are not the derivative of its positions (they differ
by about 1 cm/s, mostly along track, measured on the shared product), so dP/dt of
the position spline wobbles by ~2 mm/s between vectors. That tilts the zero-Doppler
plane and moved ESA's geolocation grid points by up to 0.3 m (42 us) in azimuth;
interpolating the velocity vectors themselves reproduces ESA's grid azimuth times
to 2 us (1.5 cm) and its slant ranges to 2 mm (tests/test_geometry.py). The
position spline's own error is h^4 max|P''''| / 384, about 0.3 mm for h = 10 s
(|P''''| ~ 1e-5 m/s^4 on this orbit).

``method="lagrange"``: positions and velocities each by the Lagrange polynomial
through the 8 nearest vectors (degree 7, window shifted at the ends), the usual
Sentinel-1 orbit interpolator (e.g. ESA SNAP); it reproduces ESA's grid to 1 us in
azimuth and 0.01 mm in range, i.e. it is what the IPF did.

Both are stored as per-interval polynomial coefficients in u (positions and
velocities separately) and evaluated by Horner's rule in a numba routine
(:func:`orbit_pva`), so the geometry kernels call one routine whatever the method.

Extrapolation is refused: a time outside the first..last state vector raises
:class:`OrbitError` naming the gap (an orbit for another date, or too short a file).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
import xml.etree.ElementTree as ET
from typing import Any

import numba
import numpy as np

#: Sentinel-1 repeat cycle, one satellite: 12 days (175 orbits).
REPEAT_CYCLE_S = 12 * 86400.0

#: Interpolation methods of :class:`Orbit` (module docstring).
METHODS = ("hermite", "lagrange")


class OrbitError(ValueError):
    """An orbit cannot serve the requested times (gap, wrong date, bad file)."""


# --------------------------------------------------------------------------------------
# time helpers


def to_datetime64(t: Any) -> np.ndarray | np.datetime64:
    """ISO string(s) (optionally ``UTC=`` prefixed or ``Z`` suffixed, as in orbit files),
    ``datetime`` or datetime64, scalar or array -> datetime64[ns] (UTC, naive)."""
    if isinstance(t, _dt.datetime) and t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    a = np.asarray(t)
    if a.dtype.kind == "O" and not any(isinstance(x, str) for x in a.reshape(-1)[:1]):
        a = np.asarray([np.datetime64(x, "ns") for x in a.reshape(-1)]).reshape(a.shape)
    if a.dtype.kind in "OUS":
        a = np.char.strip(a.astype(str))
        a = np.char.replace(np.char.replace(a, "UTC=", ""), "Z", "")
    out = a.astype("datetime64[ns]")
    return out[()] if out.ndim == 0 else out


def seconds_since(t: Any, epoch: np.datetime64) -> np.ndarray | float:
    """Float seconds of ``t`` (datetime64/ISO, scalar or array) since ``epoch``.

    Exact to the nanosecond before the conversion to float (int64 ns difference)."""
    d = (np.asarray(to_datetime64(t), dtype="datetime64[ns]")
         - np.datetime64(epoch, "ns")).astype(np.int64)
    out = d / 1e9
    return float(out) if out.ndim == 0 else out


def datetime_from_seconds(s: Any, epoch: np.datetime64) -> np.ndarray | np.datetime64:
    """Inverse of :func:`seconds_since`, rounded to the nanosecond (NaN -> NaT)."""
    s = np.asarray(s, dtype=np.float64)
    ok = np.isfinite(s)
    ns = np.round(np.where(ok, s, 0.0) * 1e9).astype(np.int64)
    out = np.datetime64(epoch, "ns") + ns.astype("timedelta64[ns]")
    out = np.where(ok, out, np.datetime64("NaT", "ns"))
    return out[()] if out.ndim == 0 else out


def _as_seconds(t: Any, epoch: np.datetime64) -> np.ndarray:
    """Float seconds since epoch from floats (already seconds) or datetimes/strings."""
    a = np.asarray(t)
    if a.dtype.kind in "fiu":
        return a.astype(np.float64)
    return np.asarray(seconds_since(t, epoch), dtype=np.float64)


# --------------------------------------------------------------------------------------
# interpolation kernels (numba: used here and inside the geometry kernels)


@numba.njit(cache=True)
def orbit_pva(tn, cp, cv, t):
    """Interpolated position, velocity and acceleration at one time ``t`` (numba).

    ``tn`` (N,) node times; ``cp``/``cv`` (N-1, D+1, 3) per-interval monomial
    coefficients of position/velocity in u = (t - tn[i]) / (tn[i+1] - tn[i])
    (:attr:`Orbit.coefficients`). Horner's rule; the acceleration is dV/du / h.
    Returns the 9-tuple (px, py, pz, vx, vy, vz, ax, ay, az), a tuple so callers in
    parallel loops do not allocate. ``t`` should lie in [tn[0], tn[-1]] (callers
    check); outside, the end polynomial is extended. Interval by binary search.
    """
    n = tn.shape[0]
    i = np.searchsorted(tn, t, side="right") - 1
    if i < 0:
        i = 0
    if i > n - 2:
        i = n - 2
    h = tn[i + 1] - tn[i]
    u = (t - tn[i]) / h
    deg = cp.shape[1] - 1
    px = cp[i, deg, 0]
    py = cp[i, deg, 1]
    pz = cp[i, deg, 2]
    vx = cv[i, deg, 0]
    vy = cv[i, deg, 1]
    vz = cv[i, deg, 2]
    ax = 0.0
    ay = 0.0
    az = 0.0
    for k in range(deg - 1, -1, -1):
        ax = ax * u + vx
        ay = ay * u + vy
        az = az * u + vz
        px = px * u + cp[i, k, 0]
        py = py * u + cp[i, k, 1]
        pz = pz * u + cp[i, k, 2]
        vx = vx * u + cv[i, k, 0]
        vy = vy * u + cv[i, k, 1]
        vz = vz * u + cv[i, k, 2]
    return px, py, pz, vx, vy, vz, ax / h, ay / h, az / h


@numba.njit(parallel=True, cache=True)
def _interpolate_many(tn, cp, cv, t, pos, vel, acc):
    for j in numba.prange(t.shape[0]):
        px, py, pz, vx, vy, vz, ax, ay, az = orbit_pva(tn, cp, cv, t[j])
        pos[j, 0] = px
        pos[j, 1] = py
        pos[j, 2] = pz
        vel[j, 0] = vx
        vel[j, 1] = vy
        vel[j, 2] = vz
        acc[j, 0] = ax
        acc[j, 1] = ay
        acc[j, 2] = az


def hermite_coefficients(tn: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Cubic Hermite spline of values ``y`` and derivatives ``dy`` (N, 3) at ``tn``,
    per interval as monomial coefficients in u = (t - t_i)/h, shape (N-1, 4, 3):
    c0 = y0, c1 = h y0', c2 = -3 y0 - 2 h y0' + 3 y1 - h y1', c3 = 2 y0 + h y0' - 2 y1 + h y1'
    (the Hermite basis h00, h10, h01, h11 of the module docstring, expanded)."""
    h = np.diff(tn)[:, None]
    y0, y1, d0, d1 = y[:-1], y[1:], dy[:-1] * h, dy[1:] * h
    return np.stack([y0, d0, -3 * y0 - 2 * d0 + 3 * y1 - d1, 2 * y0 + d0 - 2 * y1 + d1], axis=1)


def node_derivatives(tn: np.ndarray, y: np.ndarray, size: int = 5) -> np.ndarray:
    """dy/dt at each node: derivative of the Lagrange polynomial through the ``size``
    nearest nodes (window shifted at the ends; 4th-order finite differences for 5
    evenly spaced nodes, any spacing allowed). Lagrange basis derivative at node x_q:

        L_j'(x_q) = prod_{k != j,q} (x_q - x_k) / prod_{k != j} (x_j - x_k)   (j != q)
        L_q'(x_q) = sum_{k != q} 1 / (x_q - x_k)
    """
    n = tn.size
    size = min(size, n)
    start = np.clip(np.arange(n) - (size - 1) // 2, 0, n - size)
    idx = start[:, None] + np.arange(size)[None, :]  # (n, size) window of each node
    x = tn[idx]
    q = np.arange(n) - start  # the node's own position in its window
    j = np.arange(size)
    eye = j[:, None] == j[None, :]
    diff = x[:, :, None] - x[:, None, :]  # x_j - x_k
    denom = np.prod(np.where(eye[None], 1.0, diff), axis=2)
    skip = eye[None] | (j[None, None, :] == q[:, None, None])
    num = np.prod(np.where(skip, 1.0, tn[:, None, None] - x[:, None, :]), axis=2)
    w = num / denom
    dq = tn[:, None] - x  # x_q - x_k
    own = j[None, :] == q[:, None]
    w[np.arange(n), q] = np.sum(np.where(own, 0.0, 1.0 / np.where(own, 1.0, dq)), axis=1)
    return np.einsum("nj,njc->nc", w, y[idx])


def lagrange_coefficients(tn: np.ndarray, y: np.ndarray, size: int = 8) -> np.ndarray:
    """Per interval [t_i, t_i+1], the monomial coefficients in u = (t - t_i)/h of the
    Lagrange polynomial through the ``size`` nearest nodes (N-1, size, 3), by a
    batched Vandermonde solve (conditioned well enough in u: nm on positions)."""
    n = tn.size
    size = min(size, n)
    start = np.clip(np.arange(n - 1) - (size // 2 - 1), 0, n - size)
    idx = start[:, None] + np.arange(size)[None, :]
    u = (tn[idx] - tn[:-1, None]) / np.diff(tn)[:, None]
    vander = u[:, :, None] ** np.arange(size)[None, None, :]
    return np.linalg.solve(vander, y[idx])


# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Orbit:
    """State vectors of one satellite pass in the Earth-fixed frame.

    ``time`` (N,) float seconds since ``epoch`` (datetime64[ns], UTC), strictly
    increasing; ``position``/``velocity`` (N, 3) ECEF in m and m/s.
    """

    epoch: np.datetime64
    time: np.ndarray
    position: np.ndarray
    velocity: np.ndarray
    frame: str = "Earth Fixed"
    source: str = ""
    method: str = "hermite"

    def __post_init__(self):
        t = np.ascontiguousarray(self.time, dtype=np.float64)
        p = np.ascontiguousarray(self.position, dtype=np.float64)
        v = np.ascontiguousarray(self.velocity, dtype=np.float64)
        if t.ndim != 1 or p.shape != (t.size, 3) or v.shape != (t.size, 3):
            raise OrbitError(f"{self.source or 'orbit'}: need time (N,), position and velocity (N, 3); "
                             f"got {t.shape}, {p.shape}, {v.shape}")
        if t.size < 2:
            raise OrbitError(f"{self.source or 'orbit'}: at least two state vectors are needed, got {t.size}")
        if not np.all(np.diff(t) > 0):
            raise OrbitError(f"{self.source or 'orbit'}: state vector times must be strictly increasing")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(v))):
            raise OrbitError(f"{self.source or 'orbit'}: non-finite state vectors")
        object.__setattr__(self, "epoch", np.datetime64(self.epoch, "ns"))
        object.__setattr__(self, "time", t)
        object.__setattr__(self, "position", p)
        object.__setattr__(self, "velocity", v)
        if self.method == "hermite":
            cp = hermite_coefficients(t, p, v)
            cv = hermite_coefficients(t, v, node_derivatives(t, v))
        elif self.method == "lagrange":
            cp = lagrange_coefficients(t, p)
            cv = lagrange_coefficients(t, v)
        else:
            raise OrbitError(f"unknown orbit interpolation method {self.method!r}; use one of {METHODS}")
        object.__setattr__(self, "_coefficients", (np.ascontiguousarray(cp), np.ascontiguousarray(cv)))

    @property
    def coefficients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(node times, position coefficients, velocity coefficients) for :func:`orbit_pva`."""
        return (self.time,) + self._coefficients

    # ---------------------------------------------------------------- constructors

    @classmethod
    def from_state_vectors(cls, times: Any, position: Any, velocity: Any,
                           epoch: Any = None, frame: str = "Earth Fixed",
                           source: str = "", method: str = "hermite") -> "Orbit":
        """From datetime64/ISO times and (N, 3) ECEF positions/velocities.

        ``epoch`` defaults to the first state vector's time.
        """
        times = np.asarray(to_datetime64(np.asarray(times)), dtype="datetime64[ns]")
        order = np.argsort(times, kind="stable")
        times, idx = np.unique(times[order], return_index=True)  # drop repeated vectors
        sel = order[idx]
        epoch = times[0] if epoch is None else to_datetime64(epoch)
        return cls(epoch=epoch, time=seconds_since(times, epoch),
                   position=np.asarray(position, dtype=np.float64)[sel],
                   velocity=np.asarray(velocity, dtype=np.float64)[sel],
                   frame=frame, source=source, method=method)

    @classmethod
    def from_dataset(cls, ds, epoch: Any = None, source: str = "", method: str = "hermite") -> "Orbit":
        """From xarray-sentinel's ``{swath}/{pol}/orbit`` group (annotation
        ``orbitList``: ``position``/``velocity`` with dims (axis, azimuth_time))."""
        frame = str(ds.attrs.get("reference_system", "Earth Fixed"))
        if frame.lower().replace(" ", "") not in ("earthfixed", "ecef", "itrf"):
            raise OrbitError(f"{source or 'orbit'}: state vectors in frame {frame!r}, need Earth Fixed")
        pos = ds["position"].transpose("azimuth_time", "axis").values
        vel = ds["velocity"].transpose("azimuth_time", "axis").values
        return cls.from_state_vectors(ds["azimuth_time"].values, pos, vel, epoch=epoch,
                                      frame="Earth Fixed", source=source or "annotation orbitList",
                                      method=method)

    @classmethod
    def from_product(cls, product, swath: str, pol: str, epoch: Any = None,
                     method: str = "hermite") -> "Orbit":
        """The annotation orbit of an opened product (``products.sentinel1.OpenedProduct``)."""
        ds = product.open_group(f"{swath}/{pol}/orbit")
        return cls.from_dataset(ds, epoch=epoch, source=f"{product.url} ({swath}/{pol} orbitList)",
                                method=method)

    @classmethod
    def from_eof(cls, path_or_bytes: Any, start: Any = None, stop: Any = None,
                 margin_s: float = 60.0, epoch: Any = None, method: str = "hermite") -> "Orbit":
        """Parse an ESA Earth Explorer orbit file (AUX_POEORB / AUX_RESORB ``.EOF``).

        Each ``Data_Block/List_of_OSVs/OSV`` carries ``<UTC>UTC=YYYY-mm-ddTHH:MM:SS.ffffff</UTC>``,
        ``<X>``, ``<Y>``, ``<Z>`` (m) and ``<VX>``, ``<VY>``, ``<VZ>`` (m/s) in the Earth-fixed
        frame (ESA "Sentinel-1 orbit file" format, Earth Explorer file format standard).
        UTC times are used, as in the product annotation.

        With ``start``/``stop`` (datetime64, ISO string or datetime) only the vectors
        within [start - margin_s, stop + margin_s] are kept (plus one on each side so
        the span is bracketed); a file that does not cover [start, stop] is refused
        with :class:`OrbitError` (an orbit file for another date). ``path_or_bytes``
        is a local path, an fsspec URL, bytes or a str holding the XML.
        """
        data, name = _read_eof_bytes(path_or_bytes)
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            raise OrbitError(f"{name}: not valid XML ({exc})") from exc
        osvs = root.findall(".//List_of_OSVs/OSV") or root.findall(".//OSV")
        if not osvs:
            raise OrbitError(f"{name}: no <OSV> state vectors (not an ESA orbit file?)")
        try:
            utc = np.array([_strip_utc(o.findtext("UTC")) for o in osvs], dtype="datetime64[ns]")
            sv = np.array([[float(o.findtext(k)) for k in ("X", "Y", "Z", "VX", "VY", "VZ")]
                           for o in osvs], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise OrbitError(f"{name}: malformed <OSV> record ({exc})") from exc
        if start is not None or stop is not None:
            t0 = to_datetime64(start if start is not None else stop)
            t1 = to_datetime64(stop if stop is not None else start)
            if t1 < t0:
                t0, t1 = t1, t0
            if t0 < utc.min() or t1 > utc.max():
                raise OrbitError(
                    f"{name}: orbit file covers {utc.min()} .. {utc.max()}, not the requested "
                    f"{t0} .. {t1}{_gap_text(utc.min(), utc.max(), t0, t1)}")
            m = np.timedelta64(int(round(margin_s * 1e9)), "ns")
            i0 = max(int(np.searchsorted(utc, t0 - m, side="right")) - 1, 0)
            i1 = min(int(np.searchsorted(utc, t1 + m, side="left")) + 1, utc.size)
            utc, sv = utc[i0:i1], sv[i0:i1]
        return cls.from_state_vectors(utc, sv[:, :3], sv[:, 3:], epoch=epoch, source=name, method=method)

    # ---------------------------------------------------------------- time

    @property
    def start(self) -> float:
        return float(self.time[0])

    @property
    def stop(self) -> float:
        return float(self.time[-1])

    @property
    def start_time(self) -> np.datetime64:
        return datetime_from_seconds(self.start, self.epoch)

    @property
    def stop_time(self) -> np.datetime64:
        return datetime_from_seconds(self.stop, self.epoch)

    def seconds(self, t: Any) -> np.ndarray | float:
        """Seconds since this orbit's epoch of datetimes/ISO strings (floats pass through)."""
        s = _as_seconds(t, self.epoch)
        return float(s) if s.ndim == 0 else s

    def datetime(self, s: Any) -> np.ndarray | np.datetime64:
        return datetime_from_seconds(s, self.epoch)

    def check_covers(self, t0: Any, t1: Any = None) -> None:
        """Raise :class:`OrbitError` unless the state vectors span [t0, t1].

        ``t0``/``t1``: float seconds since the epoch, or datetimes/ISO strings. The
        message names the orbit span, the request and the gap (e.g. an orbit file
        for another date)."""
        a = float(np.min(_as_seconds(t0, self.epoch)))
        b = float(np.max(_as_seconds(t0 if t1 is None else t1, self.epoch)))
        if not (np.isfinite(a) and np.isfinite(b)):
            raise OrbitError(f"{self.source or 'orbit'}: non-finite times requested")
        if a < self.start or b > self.stop:
            raise OrbitError(
                f"{self.source or 'orbit'}: state vectors cover {self.start_time} .. {self.stop_time}, "
                f"not {self.datetime(a)} .. {self.datetime(b)}"
                f"{_gap_text(self.start, self.stop, a, b)}; "
                "extrapolating an orbit is refused (wrong date or too short an orbit file?)")

    # ---------------------------------------------------------------- interpolation

    def interpolate(self, t: Any, acceleration: bool = False):
        """Interpolated position and velocity (and acceleration) at times ``t``.

        ``t``: float seconds since the epoch or datetimes (scalar or any shape).
        Returns ``(pos, vel)`` or ``(pos, vel, acc)``, each of shape ``t.shape + (3,)``
        (m, m/s, m/s^2), ECEF. Formulas: module docstring (cubic Hermite splines of
        positions and of velocities; acceleration = dV/dt). Times outside the state
        vectors raise OrbitError (no extrapolation).
        """
        s = _as_seconds(t, self.epoch)
        shape = s.shape
        flat = np.ascontiguousarray(s.reshape(-1))
        if flat.size:
            self.check_covers(flat.min(), flat.max())
        pos = np.empty((flat.size, 3))
        vel = np.empty((flat.size, 3))
        acc = np.empty((flat.size, 3))
        _interpolate_many(*self.coefficients, flat, pos, vel, acc)
        out = (pos.reshape(shape + (3,)), vel.reshape(shape + (3,)))
        if acceleration:
            out = out + (acc.reshape(shape + (3,)),)
        return out

    # ---------------------------------------------------------------- derived orbits

    def with_epoch(self, epoch: Any) -> "Orbit":
        """The same orbit with times counted from another epoch."""
        epoch = to_datetime64(epoch)
        shift = seconds_since(self.epoch, epoch)
        return dataclasses.replace(self, epoch=epoch, time=self.time + shift)

    def select(self, t0: Any, t1: Any, margin_s: float = 0.0) -> "Orbit":
        """The state vectors bracketing [t0 - margin_s, t1 + margin_s] (within the
        orbit); [t0, t1] itself must be covered (OrbitError otherwise)."""
        self.check_covers(t0, t1)
        a = float(np.min(_as_seconds(t0, self.epoch))) - margin_s
        b = float(np.max(_as_seconds(t1, self.epoch))) + margin_s
        i0 = max(int(np.searchsorted(self.time, a, side="right")) - 1, 0)
        i1 = min(int(np.searchsorted(self.time, b, side="left")) + 1, self.time.size)
        return dataclasses.replace(self, time=self.time[i0:i1], position=self.position[i0:i1],
                                   velocity=self.velocity[i0:i1])

    def shifted(self, perpendicular_baseline_m: float, along_track_s: float = 0.0,
                time_shift_s: float = 0.0, *, look_angle_deg: float = 35.0,
                parallel_baseline_m: float = 0.0) -> "Orbit":
        """A copy of this orbit displaced by a baseline and moved in time (a secondary pass).

        Local orbital frame at each state vector (position r, velocity v):

            t = v / |v|                       along track
            c = (v x r) / |v x r|             cross track, to the right of the track
                                              (the side Sentinel-1 looks to)
            u = (r - (r.t) t) / |...|         radial up, perpendicular to v

        In the plane (c, u) perpendicular to the velocity, the zero-Doppler line of
        sight of a right-looking radar at look angle theta (off nadir) is
        l = sin(theta) c - cos(theta) u, and p = cos(theta) c + sin(theta) u is
        perpendicular to it. The displacement added to every position is

            d = B_perp p(theta) + B_par l(theta)

        so with ``look_angle_deg`` = theta of the scene the whole of
        ``perpendicular_baseline_m`` is perpendicular baseline (positive: towards the
        scene side and up, i.e. the secondary sees the scene under a smaller look
        angle), and ``parallel_baseline_m`` (default 0) moves along the line of sight
        (positive: towards the ground, a shorter range). The perpendicular baseline at
        another look angle theta' is B_perp cos(theta' - theta) (0.5% less 6 deg away).
        Velocities get the time derivative of d (central differences of the frame on
        the interpolated orbit, +-0.05 s), so the new vectors stay as consistent as the
        original ones. New vectors are the interpolated orbit at the old node times.

        ``along_track_s``: the secondary passes ``along_track_s`` seconds later along
        the same track: its state at time t is the primary's at t - along_track_s
        (vectors whose source time falls outside the orbit are dropped).
        ``time_shift_s``: the whole pass moves by this many seconds (e.g. a multiple of
        the 12-day repeat cycle, :data:`REPEAT_CYCLE_S`); only the epoch moves, so the
        float times stay the same.
        """
        src = self.time - along_track_s
        keep = (src >= self.start) & (src <= self.stop)
        if keep.sum() < 2:
            raise OrbitError(f"along_track_s={along_track_s} leaves fewer than two state vectors")
        t_new, src = self.time[keep], src[keep]
        theta = np.deg2rad(look_angle_deg)

        def offset(ts):
            r, v = self.interpolate(ts)
            return _baseline_offset(r, v, theta, perpendicular_baseline_m, parallel_baseline_m)

        r, v = self.interpolate(src)
        d = _baseline_offset(r, v, theta, perpendicular_baseline_m, parallel_baseline_m)
        eps = 0.05
        lo = np.clip(src - eps, self.start, self.stop)
        hi = np.clip(src + eps, self.start, self.stop)
        dd = (offset(hi) - offset(lo)) / (hi - lo)[:, None]
        epoch = self.epoch + np.timedelta64(int(round(time_shift_s * 1e9)), "ns")
        return Orbit(epoch=epoch, time=t_new, position=r + d, velocity=v + dd, frame=self.frame,
                     method=self.method,
                     source=f"{self.source or 'orbit'} shifted (B_perp={perpendicular_baseline_m} m, "
                            f"along={along_track_s} s, dt={time_shift_s} s)")

    def to_eof(self, mission: str = "S1B") -> str:
        """Write the state vectors as a minimal ESA Earth Explorer orbit file (text).

        Enough for :meth:`from_eof` and for tools reading ``List_of_OSVs``; TAI/UT1 are
        not modelled (TAI = UTC + 37 s for dates after 2017, UT1 written as UTC)."""
        times = self.datetime(self.time)
        start, stop = str(times[0])[:26], str(times[-1])[:26]
        rows = []
        tai_shift = np.timedelta64(37, "s")
        for k in range(self.time.size):  # writing text: one record per vector
            t = str(times[k])[:26]
            ta = str(times[k] + tai_shift)[:26]
            x, y, z = self.position[k]
            vx, vy, vz = self.velocity[k]
            rows.append(
                f"      <OSV>\n        <TAI>TAI={ta}</TAI>\n        <UTC>UTC={t}</UTC>\n"
                f"        <UT1>UT1={t}</UT1>\n        <Absolute_Orbit>+0</Absolute_Orbit>\n"
                f"        <X unit=\"m\">{x:.6f}</X>\n        <Y unit=\"m\">{y:.6f}</Y>\n"
                f"        <Z unit=\"m\">{z:.6f}</Z>\n        <VX unit=\"m/s\">{vx:.6f}</VX>\n"
                f"        <VY unit=\"m/s\">{vy:.6f}</VY>\n        <VZ unit=\"m/s\">{vz:.6f}</VZ>\n"
                f"        <Quality>NOMINAL</Quality>\n      </OSV>\n")
        return (
            '<?xml version="1.0" ?>\n<Earth_Explorer_File>\n  <Earth_Explorer_Header>\n'
            "    <Fixed_Header>\n      <File_Name>"
            f"{mission}_OPER_AUX_POEORB_OPOD_V{start[:19].replace('-', '').replace(':', '')}"
            f"_{stop[:19].replace('-', '').replace(':', '')}</File_Name>\n"
            f"      <Mission>Sentinel-1{mission[-1]}</Mission>\n      <File_Type>AUX_POEORB</File_Type>\n"
            f"      <Validity_Period>\n        <Validity_Start>UTC={start[:19]}</Validity_Start>\n"
            f"        <Validity_Stop>UTC={stop[:19]}</Validity_Stop>\n      </Validity_Period>\n"
            "    </Fixed_Header>\n  </Earth_Explorer_Header>\n  <Data_Block type=\"xml\">\n"
            f"    <List_of_OSVs count=\"{self.time.size}\">\n{''.join(rows)}"
            "    </List_of_OSVs>\n  </Data_Block>\n</Earth_Explorer_File>\n")


def _baseline_offset(r, v, theta, b_perp, b_par):
    """d = B_perp (cos th c + sin th u) + B_par (sin th c - cos th u), see Orbit.shifted."""
    t = v / np.linalg.norm(v, axis=-1, keepdims=True)
    c = np.cross(v, r)
    c /= np.linalg.norm(c, axis=-1, keepdims=True)
    u = r - np.sum(r * t, axis=-1, keepdims=True) * t
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    p = np.cos(theta) * c + np.sin(theta) * u
    los = np.sin(theta) * c - np.cos(theta) * u
    return b_perp * p + b_par * los


def _strip_utc(s: str | None) -> str:
    if s is None:
        raise ValueError("OSV without <UTC>")
    return s.strip().removeprefix("UTC=")


def _read_eof_bytes(src: Any) -> tuple[bytes, str]:
    if isinstance(src, (bytes, bytearray)):
        return bytes(src), "orbit file (bytes)"
    if isinstance(src, str) and src.lstrip().startswith("<"):
        return src.encode(), "orbit file (text)"
    name = os.fspath(src)
    try:
        import fsspec

        with fsspec.open(name, "rb") as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise OrbitError(f"{name}: orbit file not found") from exc
    if name.lower().endswith(".zip"):  # EOFs are sometimes shipped zipped
        import io
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = [m for m in z.namelist() if m.upper().endswith(".EOF")]
            if len(members) != 1:
                raise OrbitError(f"{name}: zip must hold exactly one .EOF, found {members}")
            data = z.read(members[0])
    return data, re.sub(r".*/", "", name)


def _gap_text(lo, hi, a, b) -> str:
    def secs(x):
        return float(x / np.timedelta64(1, "s")) if isinstance(x, np.timedelta64) else float(x)

    parts = []
    if a < lo:
        parts.append(f"{_human(secs(lo - a))} before its first state vector")
    if b > hi:
        parts.append(f"{_human(secs(b - hi))} after its last state vector")
    return (": requested times lie " + " and ".join(parts)) if parts else ""


def _human(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.2f} days ({s:.0f} s)"
    return f"{s:.3f} s"
