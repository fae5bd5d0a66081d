"""Input checks before coregistering a secondary burst onto a reference burst.

Coregistration (DEM-assisted geometric, then ESD: Sansosti et al. 2006; Yague-Martinez
et al. 2016) only makes sense for the same burst footprint seen along the same track:
same relative orbit (Sentinel-1 track, 175 per 12-day cycle), pass direction, mode,
swath and relative burst id (ESA burst ID map: stable across dates), and the same
radar (carrier, range sampling rate and line interval, so the grids are compatible).
A burst stack is exactly that set (``BurstInfo.stack_id``). The orbit used for a burst
must cover its azimuth times: an orbit file for another date, or another satellite's,
gives geolocation errors of kilometres without any warning from the interpolator.

* :func:`check_secondary` refuses a secondary from another track, swath, burst or
  polarisation set, naming every mismatch;
* :func:`check_orbit_covers` refuses an orbit that does not span the burst (message:
  the orbit's validity span and the burst's time span, and how far apart they are), and,
  given a ``BurstInfo``, one whose geometry does not fit the burst (zero-Doppler time and
  slant range of the burst's footprint centre: an orbit of another satellite or track
  for the same date passes the time test but fails this one).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from .geometry import C_LIGHT, RadarGrid, zero_doppler
from .orbit import Orbit, OrbitError, to_datetime64
from .products.model import BurstInfo

__all__ = ["StackError", "check_secondary", "check_orbit_covers"]


class StackError(ValueError):
    """A secondary burst cannot be coregistered onto the reference burst."""


def _label(b: BurstInfo) -> str:
    return f"{b.acquisition_id} ({b.swath} burst {b.burst_index} of {b.product_id})"


def check_secondary(reference: BurstInfo, secondary: BurstInfo,
                    polarisations: Sequence[str] | None = None, *, rtol: float = 1e-6) -> None:
    """Refuse (:class:`StackError`) a secondary burst that is not the reference burst's
    footprint on the same track, or cannot provide the polarisations to coregister.

    Checked (``products.model.BurstInfo`` fields; S1 Product Specification annotation):
    ``mode``, ``swath``, ``relative_orbit``, ``pass_direction``, ``burst_id`` equal;
    ``polarisations`` (default: the reference's) all present in the secondary;
    ``radar_frequency``, ``range_sampling_rate`` and ``azimuth_time_interval`` equal to
    relative tolerance ``rtol`` (same radar and PRF, so the grids are commensurate); the
    secondary is not the reference acquisition itself. Every mismatch is listed in one
    message. Sentinel-1A and -1B on one track are compatible (same orbit and burst map).
    """
    problems = []
    for field, what in (("mode", "mode"), ("swath", "swath"), ("relative_orbit", "relative orbit (track)"),
                        ("pass_direction", "pass direction"), ("burst_id", "relative burst id")):
        a, b = getattr(reference, field), getattr(secondary, field)
        if a != b:
            problems.append(f"{what} {b!r} != reference {a!r}")
    pols = tuple(polarisations) if polarisations is not None else tuple(reference.polarisations)
    missing_ref = [p for p in pols if p not in reference.polarisations]
    if missing_ref:
        problems.append(f"reference has no {'/'.join(missing_ref)} (has {'/'.join(reference.polarisations)})")
    missing = [p for p in pols if p not in secondary.polarisations]
    if missing:
        problems.append(f"polarisation {'/'.join(missing)} missing (secondary has "
                        f"{'/'.join(secondary.polarisations)}, coregistering {'/'.join(pols)})")
    for field, unit in (("radar_frequency", "Hz"), ("range_sampling_rate", "Hz"), ("azimuth_time_interval", "s")):
        a, b = float(getattr(reference, field)), float(getattr(secondary, field))
        if abs(a - b) > rtol * abs(a):
            problems.append(f"{field.replace('_', ' ')} {b:.9g} {unit} != reference {a:.9g} {unit}")
    if (secondary.product_id, secondary.swath, secondary.burst_index) == (
            reference.product_id, reference.swath, reference.burst_index):
        problems.append("it is the reference acquisition itself")
    if problems:
        raise StackError(f"secondary burst {_label(secondary)} cannot be coregistered onto reference burst "
                         f"{_label(reference)} (stack {reference.stack_id}): " + "; ".join(problems))


def _burst_span(burst: Any, epoch: np.datetime64 | None = None) -> tuple[np.datetime64, np.datetime64, str]:
    """(first line time, last line time, label) of a BurstInfo or RadarGrid."""
    if isinstance(burst, BurstInfo):
        return (to_datetime64(burst.first_line_time), to_datetime64(burst.last_line_time), _label(burst))
    if isinstance(burst, RadarGrid):
        label = f"burst {burst.burst_index}" if burst.burst_index >= 0 else "radar grid"
        return burst.datetime(burst.first_line_time), burst.datetime(burst.last_line_time), label
    raise TypeError(f"need a BurstInfo or RadarGrid, got {type(burst).__name__}")


def _orbit_name(orbit: Orbit) -> str:
    return f"orbit {orbit.source}" if orbit.source else "orbit"


def _fmt(t: np.datetime64) -> str:
    return str(np.datetime_as_string(np.datetime64(t, "us"), unit="us"))


def check_orbit_covers(orbit: Orbit, burst: BurstInfo | RadarGrid, *, margin_s: float = 0.0,
                       check_geometry: bool = True, max_range_error_m: float = 10e3) -> None:
    """Refuse (:class:`~alignsar_core.orbit.OrbitError`) an orbit that cannot serve ``burst``.

    1. Time: the state vectors must span the burst's first..last line times widened by
       ``margin_s`` (no extrapolation). The message names the orbit (its file), its
       validity span, the burst and its span, and the gap ("... ends 11.99 days before
       the burst": an orbit file for another date).
    2. Mission: an orbit whose file name says S1A/S1B/S1C/S1D (``S1B_OPER_AUX_POEORB_...``)
       must match ``BurstInfo.mission``.
    3. Geometry (``check_geometry`` and a ``BurstInfo``): the zero-Doppler solution
       (X - S(t)) . V(t) = 0 of the burst footprint's centre (height 0) must fall within
       the burst's lines +- one burst length, at a slant range R = |X - S| within
       ``max_range_error_m`` of the burst's range extent
       [c tau_0 / 2, c (tau_0 + samples / f_s) / 2]. An orbit of another satellite or
       track for the right date fails here.
    """
    t0, t1, label = _burst_span(burst)
    m = np.timedelta64(int(round(margin_s * 1e9)), "ns")
    need0, need1 = t0 - m, t1 + m
    have0, have1 = orbit.start_time, orbit.stop_time
    if need0 < have0 or need1 > have1:
        if need1 < have0:
            gap = f"it starts {_span_text(have0 - need1)} after the burst ends"
        elif need0 > have1:
            gap = f"it ends {_span_text(need0 - have1)} before the burst starts"
        else:
            parts = []
            if need0 < have0:
                parts.append(f"starts {_span_text(have0 - need0)} too late")
            if need1 > have1:
                parts.append(f"ends {_span_text(need1 - have1)} too early")
            gap = "it " + " and ".join(parts)
        raise OrbitError(
            f"{_orbit_name(orbit)} covers {_fmt(have0)} to {_fmt(have1)}; {label} needs {_fmt(need0)} to "
            f"{_fmt(need1)}{f' (burst lines +- {margin_s:g} s)' if margin_s else ''}: {gap} "
            "(an orbit file for another date?)")
    mission = getattr(burst, "mission", None)
    found = re.search(r"(S1[A-D])_OPER_AUX_(?:POE|RES|PRE)ORB", orbit.source or "")
    if mission and found and found.group(1) != mission:
        raise OrbitError(f"{_orbit_name(orbit)} is a {found.group(1)} orbit file; {label} was acquired by "
                         f"{mission}")
    if check_geometry and isinstance(burst, BurstInfo):
        ring = np.asarray(burst.footprint, dtype=np.float64)
        if ring.shape[0] > 1 and np.allclose(ring[0], ring[-1]):
            ring = ring[:-1]
        lon, lat = ring[:, 0].mean(), ring[:, 1].mean()
        tmid = orbit.seconds(t0) + 0.5 * (orbit.seconds(t1) - orbit.seconds(t0))
        t, r = zero_doppler(lat, lon, 0.0, orbit, t_guess=tmid)
        t, r = float(t), float(r)
        r_near = 0.5 * C_LIGHT * burst.slant_range_time
        r_far = 0.5 * C_LIGHT * (burst.slant_range_time + burst.samples / burst.range_sampling_rate)
        length = orbit.seconds(t1) - orbit.seconds(t0)
        centre = f"the centre of its footprint ({lat:.4f} N, {lon:.4f} E)"
        if not np.isfinite(t):
            raise OrbitError(f"{_orbit_name(orbit)} never sees {centre} of {label} at zero Doppler within "
                             f"{_fmt(have0)} to {_fmt(have1)} (another satellite or track?)")
        if not (orbit.seconds(t0) - length <= t <= orbit.seconds(t1) + length) or not (
                r_near - max_range_error_m <= r <= r_far + max_range_error_m):
            raise OrbitError(
                f"{_orbit_name(orbit)} does not fit {label}: it sees {centre} at zero Doppler at "
                f"{_fmt(orbit.datetime(t))} and {r / 1e3:.1f} km slant range, but the burst spans "
                f"{_fmt(t0)} to {_fmt(t1)} and {r_near / 1e3:.1f} to {r_far / 1e3:.1f} km "
                "(an orbit of another satellite or track?)")


def _span_text(d: np.timedelta64) -> str:
    s = float(d / np.timedelta64(1, "s"))
    if s >= 86400:
        return f"{s / 86400:.2f} days ({s:.0f} s)"
    return f"{s:.3f} s"
