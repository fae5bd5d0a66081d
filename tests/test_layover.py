"""Layover and shadow masks in radar geometry (alignsar_core.geometry.layover_shadow_mask)
against constructed terrain: a ridge whose foreslope is steeper than the incidence (layover
between the slant ranges of its crest and its foot), a back slope steeper than the
depression angle (shadow from the crest to where the grazing ray meets the ground again),
flat terrain (nothing). Self-contained: a circular orbit, no shared data."""

import numpy as np
import pytest

from alignsar_core.geometry import (
    C_LIGHT,
    LAYOVER,
    SHADOW,
    ecef_to_geodetic,
    geodetic_to_ecef,
    geolocate,
    layover_shadow_mask,
    pixel_geometry,
    zero_doppler,
)
from alignsar_core.orbit import Orbit

GM = 3.986004418e14
A_ORBIT = 6378137.0 + 700e3
DR = C_LIGHT / (2 * 64.345e6)  # Sentinel-1 IW slant range pixel, m
R0 = 830e3
SAMPLES = 2400
LINE_DT = 2.0555e-3


def circular_orbit() -> Orbit:
    """A circular orbit at 700 km, inclination 98 deg, crossing latitude ~44 deg at t = 0
    (state vectors every 10 s from -60 s to +60 s; Earth rotation ignored, irrelevant here)."""
    w = np.sqrt(GM / A_ORBIT ** 3)
    inc = np.deg2rad(98.0)
    p = np.array([1.0, 0.0, 0.0])
    q = np.array([0.0, np.cos(inc), np.sin(inc)])
    t = np.arange(-60.0, 60.1, 10.0)
    u = np.deg2rad(45.0) + w * t
    pos = A_ORBIT * (np.cos(u)[:, None] * p + np.sin(u)[:, None] * q)
    vel = A_ORBIT * w * (-np.sin(u)[:, None] * p + np.cos(u)[:, None] * q)
    return Orbit(epoch=np.datetime64("2021-04-01T05:26:00", "ns"), time=t, position=pos, velocity=vel)


ORBIT = circular_orbit()
T_LINES = (np.arange(3) - 1) * LINE_DT
RANGES = R0 + np.arange(SAMPLES) * DR


def frame(t):
    s, v = ORBIT.interpolate(t)
    c = np.cross(v, s)
    return s, c / np.linalg.norm(c)


S_MID, C_MID = frame(0.0)
FLAT = geolocate(T_LINES[:, None], RANGES[None, :], 0.0, ORBIT)  # pixel feet on the ellipsoid


def ground_range(lon, lat):
    """Cross-track ground coordinate of the mid line (m): (X0 - S) . c."""
    return np.einsum("...k,k->...", geodetic_to_ecef(lat, lon, 0.0) - S_MID, C_MID)


G_FLAT = ground_range(FLAT.longitude[1], FLAT.latitude[1])
G_MID = G_FLAT[SAMPLES // 2]


def ridge(front_deg, back_deg, height=600.0, foot=-500.0):
    """Terrain h(lon, lat): flat 0, up at front_deg (facing the radar) from g = G_MID + foot
    to ``height``, down at back_deg, flat 0 beyond. Returns (function, g_foot, g_crest, g_base)."""
    g_a = G_MID + foot
    g_b = g_a + height / np.tan(np.deg2rad(front_deg))
    g_c = g_b + height / np.tan(np.deg2rad(back_deg))

    def h(lon, lat):
        return np.interp(ground_range(lon, lat), [g_a, g_b, g_c], [0.0, height, 0.0])

    return h, g_a, g_b, g_c


def point_at(g, height):
    """(lat, lon, h) of the mid line's path at ground coordinate g, raised to height."""
    lat = np.interp(g, G_FLAT, FLAT.latitude[1])
    lon = np.interp(g, G_FLAT, FLAT.longitude[1])
    return lat, lon, height


def slant_range_of(lat, lon, h):
    return float(zero_doppler(lat, lon, h, ORBIT, t_guess=0.0)[1])


def grazing_range(lat, lon, h, floor=0.0):
    """Range along the ray from the mid-line satellite through the crest where it meets
    height ``floor`` again (bisection on the distance along the ray)."""
    x = geodetic_to_ecef(lat, lon, h)
    u = (x - S_MID) / np.linalg.norm(x - S_MID)
    lo, hi = np.linalg.norm(x - S_MID) + 1e-3, np.linalg.norm(x - S_MID) + 5000.0
    for _ in range(60):  # bisection steps on one scalar
        mid = 0.5 * (lo + hi)
        if ecef_to_geodetic(S_MID + mid * u)[2] > floor:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def flags(mask, code):
    return (mask & code) > 0


def expect_interval(mask, code, r_lo, r_hi, tol=2 * DR):
    """``code`` set for every pixel with r_lo + tol < R <= r_hi - tol and for none outside
    [r_lo - tol, r_hi + tol], on every line. Shadow edges get 3 pixels: the profile (2
    samples per ground pixel) cuts the sharp crest's corner, and range stretches 2.8x on a
    70 deg back slope, so the first hidden sample can lie ~1.6 pixels past the crest."""
    inside = (RANGES > r_lo + tol) & (RANGES <= r_hi - tol)
    outside = (RANGES < r_lo - tol) | (RANGES > r_hi + tol)
    assert inside.sum() > 10
    f = flags(mask, code)
    assert f[:, inside].all(), f"code {code}: {(~f[:, inside]).sum()} pixels missing inside"
    assert not f[:, outside].any(), f"code {code}: {f[:, outside].sum()} pixels set outside"


def test_flat_terrain_has_neither():
    for height in (0.0, 250.0):
        lat, lon = geolocate(T_LINES[:, None], RANGES[None, :], height, ORBIT)
        m = layover_shadow_mask(lat, lon, np.full(lat.shape, height), ORBIT)
        assert m.shape == (3, SAMPLES) and m.dtype == np.uint8 and not m.any()
        m = layover_shadow_mask(FLAT.latitude, FLAT.longitude, 0.0, ORBIT, dem=lambda lo, la: 0.0 * lo + height)
        assert not m.any()
    # a Dem object (alignsar_core.dem) is used through its interp()
    from alignsar_core.dem import Dem, GeoGrid

    w, e = FLAT.longitude.min() - 0.2, FLAT.longitude.max() + 0.2
    s, n = FLAT.latitude.min() - 0.2, FLAT.latitude.max() + 0.2
    dem = Dem(GeoGrid(w, s, e, n, 50, 50), np.full((50, 50), 120.0))
    assert not layover_shadow_mask(FLAT.latitude, FLAT.longitude, 0.0, ORBIT, dem=dem).any()


def test_foreslope_steeper_than_incidence_lays_over():
    h, g_a, g_b, _ = ridge(front_deg=60.0, back_deg=20.0)
    r_foot = slant_range_of(*point_at(g_a, 0.0))
    r_crest = slant_range_of(*point_at(g_b, 600.0))
    assert r_crest < r_foot  # the crest is imaged before its foot
    m = layover_shadow_mask(FLAT.latitude, FLAT.longitude, 0.0, ORBIT, dem=h, slant_range=RANGES)
    expect_interval(m, LAYOVER, r_crest, r_foot)
    assert not flags(m, SHADOW).any()
    n = flags(m[1], LAYOVER).sum()
    print(f"layover: {n} pixels, expected {(r_foot - r_crest) / DR:.1f}")
    # a foreslope gentler than the incidence (~35 deg): no layover
    h2, *_ = ridge(front_deg=25.0, back_deg=20.0)
    assert not layover_shadow_mask(FLAT.latitude, FLAT.longitude, 0.0, ORBIT, dem=h2).any()


def test_back_slope_steeper_than_depression_angle_is_shadowed():
    h, _, g_b, g_c = ridge(front_deg=20.0, back_deg=70.0)
    crest = point_at(g_b, 600.0)
    r_crest = slant_range_of(*crest)
    r_hit = grazing_range(*crest)
    m = layover_shadow_mask(FLAT.latitude, FLAT.longitude, 0.0, ORBIT, dem=h, slant_range=RANGES)
    expect_interval(m, SHADOW, r_crest, r_hit, tol=3 * DR)
    assert not flags(m, LAYOVER).any()
    # the shadow runs beyond the foot of the back slope (passive shadow on the floor)
    r_base = slant_range_of(*point_at(g_c, 0.0))
    assert r_hit > r_base + 10 * DR
    # a back slope gentler than the depression angle (90 - ~35 deg): no shadow
    h2, *_ = ridge(front_deg=20.0, back_deg=45.0)
    assert not layover_shadow_mask(FLAT.latitude, FLAT.longitude, 0.0, ORBIT, dem=h2).any()


def test_both_where_layover_and_shadow_share_ranges():
    h, g_a, g_b, _ = ridge(front_deg=60.0, back_deg=75.0)
    crest = point_at(g_b, 600.0)
    r_crest, r_foot, r_hit = slant_range_of(*crest), slant_range_of(*point_at(g_a, 0.0)), grazing_range(*crest)
    m = layover_shadow_mask(FLAT.latitude, FLAT.longitude, 0.0, ORBIT, dem=h, slant_range=RANGES)
    expect_interval(m, LAYOVER, r_crest, r_foot)
    expect_interval(m, SHADOW, r_crest, r_hit, tol=3 * DR)
    both = (RANGES > r_crest + 3 * DR) & (RANGES <= min(r_foot, r_hit) - 3 * DR)
    assert (m[:, both] == 3).all()


def radar_geometry_points(h_fun):
    """Each pixel's ground point on the terrain (what rdr2geo on the DEM gives), for a
    profile with a single solution per range: invert R(g) along each line's path."""
    lat = np.empty((3, SAMPLES))
    lon = np.empty((3, SAMPLES))
    hgt = np.empty((3, SAMPLES))
    for j in range(3):  # three lines: invert each line's own profile
        s, _ = ORBIT.interpolate(T_LINES[j])
        gl = ground_range(FLAT.longitude[j], FLAT.latitude[j])
        gd = np.linspace(gl[0], gl[-1], 40 * SAMPLES)  # the ridge lies inside, flat at both ends
        la = np.interp(gd, gl, FLAT.latitude[j])
        lo = np.interp(gd, gl, FLAT.longitude[j])
        hd = h_fun(lo, la)
        r = np.linalg.norm(geodetic_to_ecef(la, lo, hd) - s, axis=-1)
        assert np.all(np.diff(r) > 0)
        g = np.interp(RANGES, r, gd)
        lat[j], lon[j], hgt[j] = np.interp(g, gd, la), np.interp(g, gd, lo), h_fun(np.interp(g, gd, lo),
                                                                                  np.interp(g, gd, la))
    return lat, lon, hgt


def test_shadow_from_the_pixels_own_points_and_pixel_geometry():
    h, _, g_b, _ = ridge(front_deg=20.0, back_deg=70.0)
    lat, lon, hgt = radar_geometry_points(h)
    crest = point_at(g_b, 600.0)
    r_crest, r_hit = slant_range_of(*crest), grazing_range(*crest)
    geo = pixel_geometry(lat, lon, hgt, ORBIT)  # no DEM: the pixels' own heights
    np.testing.assert_allclose(geo["slant_range"], np.broadcast_to(RANGES, (3, SAMPLES)), atol=0.05)
    expect_interval(geo["layover_shadow"], SHADOW, r_crest, r_hit, tol=3 * DR)
    assert not flags(geo["layover_shadow"], LAYOVER).any()
    flat = geo["layover_shadow"] == 0
    assert 30 < np.median(geo["incidence_angle"][flat]) < 40
    assert np.all(np.isfinite(geo["heading"])) and np.all(np.isfinite(geo["look_angle"]))
    # the same with the terrain given as a DEM function
    m = layover_shadow_mask(lat, lon, hgt, ORBIT, dem=h)
    expect_interval(m, SHADOW, r_crest, r_hit, tol=3 * DR)


def test_refuses_non_radar_geometry():
    with pytest.raises(ValueError, match="2-D"):
        layover_shadow_mask(FLAT.latitude[0], FLAT.longitude[0], 0.0, ORBIT)
    with pytest.raises(ValueError, match="slant range decreases along samples"):
        layover_shadow_mask(FLAT.latitude[:, ::-1], FLAT.longitude[:, ::-1], 0.0, ORBIT)


def test_invalid_pixels_get_zero():
    lat = FLAT.latitude.copy()
    lat[1, 100:200] = np.nan
    h, *_ = ridge(front_deg=60.0, back_deg=20.0)
    m = layover_shadow_mask(lat, FLAT.longitude, 0.0, ORBIT, dem=h, slant_range=RANGES)
    ref = layover_shadow_mask(FLAT.latitude, FLAT.longitude, 0.0, ORBIT, dem=h, slant_range=RANGES)
    assert not m[1, 100:200].any()
    np.testing.assert_array_equal(np.delete(m, np.s_[100:200], axis=1), np.delete(ref, np.s_[100:200], axis=1))
