"""Orbits and zero-Doppler geometry against ESA's own numbers.

The key check: ESA's geolocation grid in the real product's annotation (computed by
the IPF, not by us) gives, for 210 points per swath, latitude/longitude/height and
the zero-Doppler azimuthTime and slantRangeTime. geo2rdr must reproduce the times,
rdr2geo the positions, and the grid's (line, pixel) the image coordinates.
"""

import dataclasses
import io
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from alignsar_core.geometry import (
    C_LIGHT,
    RadarGrid,
    bistatic_reference_range_time,
    burst_grids,
    burst_of,
    ecef_to_geodetic,
    geo2rdr,
    geo2rdr_bursts,
    geodetic_to_ecef,
    geolocate,
    local_geometry,
    open_swath_geometry,
    rdr2geo,
    rdr2geo_bursts,
    zero_doppler,
)
from alignsar_core.orbit import REPEAT_CYCLE_S, Orbit, OrbitError

from ._shared import S1_PRODUCT, needs_shared

pytestmark = needs_shared

CASES = [("IW1", "VV"), ("IW2", "VH")]
GROUND_SPEED = 6900.0  # m/s, to express azimuth time errors in metres


@pytest.fixture(scope="module")
def product():
    from alignsar_core.products.sentinel1 import open_product

    return open_product(str(S1_PRODUCT), metadata_only=True, allow_partial=True)


def esa_grid(product, swath, pol):
    """ESA's geolocationGrid with its per-point azimuthTime (Annotation.grid lacks it)."""
    root = ET.fromstring(product.fs.cat_file(product.groups[f"{swath}/{pol}"][1]))
    pts = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    grid = {k: np.array([float(p.findtext(k)) for p in pts])
            for k in ("slantRangeTime", "line", "pixel", "latitude", "longitude", "height",
                      "incidenceAngle", "elevationAngle")}
    grid["azimuthTime"] = np.array([p.findtext("azimuthTime") for p in pts], dtype="datetime64[ns]")
    return grid


@pytest.fixture(scope="module")
def setups(product):
    out = {}
    for swath, pol in CASES:
        out[swath, pol] = dict(ann=product.annotation(swath, pol), grid=esa_grid(product, swath, pol),
                               orbit=Orbit.from_product(product, swath, pol))
    return out


def horizontal_error(lat, lon, lat_ref, lon_ref, h):
    return np.linalg.norm(geodetic_to_ecef(lat, lon, h) - geodetic_to_ecef(lat_ref, lon_ref, h), axis=-1)


# ------------------------------------------------------------------------- orbit


@pytest.mark.parametrize("method", ["hermite", "lagrange"])
def test_interpolation_at_state_vectors_gives_the_vectors(setups, method):
    o = setups["IW1", "VV"]["orbit"]
    o = Orbit(o.epoch, o.time, o.position, o.velocity, method=method)
    pos, vel = o.interpolate(o.time)
    assert np.abs(pos - o.position).max() < 1e-6
    assert np.abs(vel - o.velocity).max() < 1e-9
    pos, vel = o.interpolate(o.datetime(o.time[3]))  # datetimes work too
    np.testing.assert_allclose(pos, o.position[3], atol=1e-6)


@pytest.mark.parametrize("method,max_pos,max_vel", [("hermite", 0.02, 1e-4), ("lagrange", 0.02, 1e-4)])
def test_leave_one_out(setups, method, max_pos, max_vel):
    """Drop a state vector, interpolate over the 20 s gap, compare with the dropped one."""
    o = setups["IW1", "VV"]["orbit"]
    errs_p, errs_v = [], []
    for k in range(1, o.time.size - 1):
        keep = np.arange(o.time.size) != k
        sub = Orbit(o.epoch, o.time[keep], o.position[keep], o.velocity[keep], method=method)
        pos, vel = sub.interpolate(o.time[k])
        errs_p.append(np.linalg.norm(pos - o.position[k]))
        errs_v.append(np.linalg.norm(vel - o.velocity[k]))
    print(f"\nleave-one-out ({method}, 20 s gaps): position max {max(errs_p) * 1e3:.1f} mm "
          f"median {np.median(errs_p) * 1e3:.1f} mm; velocity max {max(errs_v) * 1e3:.3f} mm/s")
    assert max(errs_p) < max_pos
    assert max(errs_v) < max_vel


def test_orbit_refuses_times_outside_its_vectors(setups):
    o = setups["IW1", "VV"]["orbit"]
    with pytest.raises(OrbitError, match="before its first state vector"):
        o.interpolate(o.start - 1.0)
    with pytest.raises(OrbitError, match=r"12\.00 days .* after its last state vector"):
        o.check_covers(np.datetime64("2021-04-13T05:26:30"), np.datetime64("2021-04-13T05:26:40"))
    o.check_covers(o.start_time, o.stop_time)  # its own span is fine


def test_eof_round_trip_selection_and_refusal(setups, tmp_path):
    o = setups["IW1", "VV"]["orbit"]
    text = o.to_eof()
    path = tmp_path / "S1B_OPER_AUX_POEORB_OPOD_test.EOF"
    path.write_text(text)
    for src in (path, str(path), text, text.encode()):
        e = Orbit.from_eof(src)
        assert e.epoch == o.epoch and e.time.size == o.time.size
        np.testing.assert_allclose(e.position, o.position, atol=1e-6)
        np.testing.assert_allclose(e.velocity, o.velocity, atol=1e-6)
    # selection around a span: only the bracketing vectors plus the margin
    sel = Orbit.from_eof(path, start="2021-04-01T05:26:24", stop="2021-04-01T05:26:50", margin_s=10)
    assert sel.start_time <= np.datetime64("2021-04-01T05:26:14") and sel.time.size < o.time.size
    assert sel.stop_time >= np.datetime64("2021-04-01T05:27:00")
    # an orbit file for another date is refused, naming the gap
    with pytest.raises(OrbitError, match="12.00 days"):
        Orbit.from_eof(path, start="2021-04-13T05:26:24", stop="2021-04-13T05:26:50")
    with pytest.raises(OrbitError, match="no <OSV>"):
        Orbit.from_eof(b"<Earth_Explorer_File/>")
    with pytest.raises(OrbitError, match="not valid XML"):
        Orbit.from_eof(b"<Earth")


def test_geo2rdr_refuses_an_orbit_of_another_date(setups):
    s = setups["IW1", "VV"]
    grid = RadarGrid.from_annotation(s["ann"])
    later = dataclasses.replace(grid, epoch=grid.epoch + np.timedelta64(12, "D"))  # 12 days later
    with pytest.raises(OrbitError, match="12.00 days"):
        geo2rdr(47.0, 12.0, 0.0, s["orbit"], later)


# ------------------------------------------------------------------ ESA's grid


@pytest.mark.parametrize("case", CASES)
def test_geo2rdr_reproduces_esa_grid_times(setups, case):
    s = setups[case]
    g, orbit = s["grid"], s["orbit"]
    grid = RadarGrid.from_annotation(s["ann"])
    rc = geo2rdr(g["latitude"], g["longitude"], g["height"], orbit, grid)
    dt = rc.azimuth_time - grid.seconds(g["azimuthTime"])
    dr = rc.slant_range - g["slantRangeTime"] * C_LIGHT / 2
    print(f"\n{case} geo2rdr vs ESA grid ({dt.size} points): azimuth max {np.abs(dt).max() * 1e6:.2f} us "
          f"({np.abs(dt).max() * GROUND_SPEED:.3f} m) median {np.median(np.abs(dt)) * 1e6:.2f} us; "
          f"slant range max {np.abs(dr).max() * 1e3:.2f} mm median {np.median(np.abs(dr)) * 1e3:.2f} mm")
    # brief: < 0.5 m each; measured 2.2 us (1.5 cm) and 1.9 mm (ESA's times are rounded to 1 us)
    assert np.abs(dt).max() < 5e-6
    assert np.abs(dr).max() < 0.005
    np.testing.assert_allclose(rc.slant_range_time, g["slantRangeTime"], atol=3e-11)
    # pixels follow from slant range exactly (no bistatic term in range)
    assert np.abs(rc.pixel - g["pixel"]).max() < 0.01


@pytest.mark.parametrize("case", CASES)
def test_rdr2geo_reproduces_esa_grid_positions(setups, case):
    s = setups[case]
    g, orbit = s["grid"], s["orbit"]
    ll = geolocate(g["azimuthTime"], g["slantRangeTime"] * C_LIGHT / 2, g["height"], orbit)
    err = horizontal_error(ll.latitude, ll.longitude, g["latitude"], g["longitude"], g["height"])
    print(f"\n{case} rdr2geo vs ESA grid: max {err.max():.3f} m median {np.median(err):.3f} m")
    assert err.max() < 0.05  # brief: < 1 m; measured 1.5 cm


@pytest.mark.parametrize("case", CASES)
def test_grid_lines_need_the_ipf_bistatic_correction(product, setups, case):
    """ESA's grid ``line`` is the image line: t_img = t_zd - (tau - tau_ref)/2."""
    s = setups[case]
    g, orbit, ann = s["grid"], s["orbit"], s["ann"]
    tau_ref = bistatic_reference_range_time(product)
    assert tau_ref == pytest.approx(5.8505e-3, abs=1e-6)  # fitted to ESA's grid
    k = np.minimum(g["line"].astype(int) // ann.lines_per_burst, len(ann.bursts) - 1)
    worst = {}
    for ref in (None, tau_ref):
        grids = burst_grids(ann, bistatic_reference_range_time=ref)
        dl = np.empty(k.size)
        for b in np.unique(k):  # one call per burst grid, vectorised over its points
            sel = k == b
            rc = geo2rdr(g["latitude"][sel], g["longitude"][sel], g["height"][sel], orbit, grids[b])
            dl[sel] = rc.line + grids[b].line_offset - g["line"][sel]
        ll = rdr2geo_bursts(g["line"], g["pixel"], g["height"], orbit, grids)
        err = horizontal_error(ll.latitude, ll.longitude, g["latitude"], g["longitude"], g["height"])
        worst[ref] = (np.abs(dl).max(), err.max())
    print(f"\n{case} image lines: uncorrected {worst[None][0]:.3f} lines / {worst[None][1]:.2f} m, "
          f"with tau_ref {worst[tau_ref][0]:.4f} lines / {worst[tau_ref][1]:.3f} m")
    assert worst[tau_ref][0] < 0.005 and worst[tau_ref][1] < 0.05
    assert worst[None][0] > 0.04  # the correction matters (0.05 to 0.12 lines here)


@pytest.mark.parametrize("case", CASES)
def test_local_geometry_matches_esa_angles(setups, case):
    s = setups[case]
    g, orbit = s["grid"], s["orbit"]
    lg = local_geometry(g["latitude"], g["longitude"], g["height"], orbit, g["azimuthTime"])
    np.testing.assert_allclose(lg["incidence_angle_geocentric"], g["incidenceAngle"], atol=1e-5)
    np.testing.assert_allclose(lg["look_angle"], g["elevationAngle"], atol=1e-5)
    # the ellipsoid-normal incidence differs from ESA's geocentric one by a few 0.01 deg
    assert np.abs(lg["incidence_angle"] - g["incidenceAngle"]).max() < 0.06
    assert np.all((lg["heading"] > 180) & (lg["heading"] < 200))  # descending pass
    assert np.all(lg["los_east"] > 0.4)  # right-looking on a descending pass: looks west,
    #                                       so the line of sight to the satellite points east
    lg2 = local_geometry(g["latitude"][:5], g["longitude"][:5], g["height"][:5], orbit)  # solves t
    np.testing.assert_allclose(lg2["incidence_angle"], lg["incidence_angle"][:5], atol=1e-7)


# ---------------------------------------------------------------- consistency


def test_round_trip_random_points(product, setups):
    s = setups["IW1", "VV"]
    grid = RadarGrid.from_annotation(s["ann"], bistatic_reference_range_time=bistatic_reference_range_time(product))
    rng = np.random.default_rng(1)
    n = 20000
    line = rng.uniform(0, grid.lines - 1, n)
    pixel = rng.uniform(0, grid.samples - 1, n)
    h = rng.uniform(-100, 4000, n)
    ll = rdr2geo(line, pixel, h, s["orbit"], grid)
    rc = geo2rdr(ll.latitude, ll.longitude, h, s["orbit"], grid)
    assert np.abs(rc.line - line).max() < 1e-6
    assert np.abs(rc.pixel - pixel).max() < 1e-6
    # broadcasting: a scalar height with arrays
    one = rdr2geo(line[:3].reshape(3, 1), pixel[:2], 100.0, s["orbit"], grid)
    assert one.latitude.shape == (3, 2)


def test_geodetic_ecef_agree_with_pyproj():
    from pyproj import Transformer

    rng = np.random.default_rng(2)
    lat, lon, h = rng.uniform(-89, 89, 1000), rng.uniform(-180, 180, 1000), rng.uniform(-500, 9000, 1000)
    xyz = geodetic_to_ecef(lat, lon, h)
    tr = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    ref = np.stack(tr.transform(lon, lat, h), axis=-1)
    assert np.abs(xyz - ref).max() < 1e-6
    la, lo, hh = ecef_to_geodetic(xyz)
    assert np.abs(la - lat).max() < 1e-10 and np.abs(lo - lon).max() < 1e-10 and np.abs(hh - h).max() < 1e-6


def test_points_off_the_orbit_get_nan(setups):
    s = setups["IW1", "VV"]
    t, r = zero_doppler([47.0, -30.0, np.nan], [12.0, 140.0, 0.0], [0.0, 0.0, 0.0], s["orbit"])
    assert np.isfinite(t[0]) and np.isnan(t[1]) and np.isnan(t[2]) and np.isnan(r[1])


def test_burst_of_and_tiff_lines(product, setups):
    from alignsar_core.products.sentinel1 import list_bursts

    s = setups["IW1", "VV"]
    ann, orbit = s["ann"], s["orbit"]
    grids = burst_grids(ann)
    infos = [b for b in list_bursts(product) if b.swath == "IW1"]
    mid = np.array([g.line_to_time(g.lines / 2) for g in grids])
    np.testing.assert_array_equal(burst_of(mid, grids), np.arange(len(grids)))
    np.testing.assert_array_equal(burst_of(grids[0].datetime(mid), infos), np.arange(len(grids)))
    # the overlap of bursts 0 and 1 is split at its middle
    e0 = grids[0].valid_time_span()[1]
    s1 = grids[1].valid_time_span()[0]
    assert s1 < e0  # TOPS bursts overlap in time
    cut = 0.5 * (s1 + e0)
    np.testing.assert_array_equal(burst_of([cut - 1e-3, cut + 1e-3, -100.0, 1e4], grids), [0, 1, -1, -1])
    # TIFF lines: rdr2geo_bursts then geo2rdr_bursts returns the same line in mid-burst
    lines = np.array([g.line_offset + g.lines / 2 for g in grids])
    ll = rdr2geo_bursts(lines, 5000.0, 300.0, orbit, infos)
    rc = geo2rdr_bursts(ll.latitude, ll.longitude, 300.0, orbit, grids)
    np.testing.assert_array_equal(rc.burst, np.arange(len(grids)))
    assert np.abs(rc.line - lines).max() < 1e-6


def test_shifted_orbit_baseline_and_repeat_pass(product, setups):
    s = setups["IW1", "VV"]
    orbit, ann = s["orbit"], s["ann"]
    grid = RadarGrid.from_annotation(ann)
    lat, lon, h = 47.0, 12.2, 500.0
    look = float(local_geometry(lat, lon, h, orbit)["look_angle"])
    sec = orbit.shifted(150.0, time_shift_s=REPEAT_CYCLE_S, look_angle_deg=look)
    assert sec.epoch == orbit.epoch + np.timedelta64(12, "D")
    # the secondary images the same point 12 days later, in the same place on its grid
    grid2 = dataclasses.replace(grid, epoch=grid.epoch + np.timedelta64(12, "D"))
    with pytest.raises(OrbitError):
        geo2rdr(lat, lon, h, orbit, grid2)
    r1 = geo2rdr(lat, lon, h, orbit, grid)
    r2 = geo2rdr(lat, lon, h, sec, grid2)
    assert abs(r2.line - r1.line) < 0.05  # a perpendicular baseline barely moves azimuth
    # baseline vector at the zero-Doppler times, split along/perpendicular to the LOS
    x = geodetic_to_ecef(lat, lon, h)
    p1, _ = orbit.interpolate(grid.datetime(r1.azimuth_time))
    p2, _ = sec.interpolate(grid2.datetime(r2.azimuth_time))
    los = (x - p1) / np.linalg.norm(x - p1)
    b = p2 - p1
    b_par = b @ los
    b_perp = np.linalg.norm(b - b_par * los)
    assert b_perp == pytest.approx(150.0, abs=0.5)
    assert abs(b_par) < 0.5
    # range change: -B_par + B_perp^2 / (2 R) (second order, 1.4 cm here)
    expected = -b_par + b_perp ** 2 / (2 * r1.slant_range)
    assert r2.slant_range - r1.slant_range == pytest.approx(expected, abs=1e-3)
    # velocities stay consistent with positions: interpolation at nodes and between
    mid = 0.5 * (sec.time[4] + sec.time[5])
    pa, _ = sec.interpolate(mid - 0.01)
    pb, _ = sec.interpolate(mid + 0.01)
    _, vm = sec.interpolate(mid)
    assert np.linalg.norm((pb - pa) / 0.02 - vm) < 0.05  # the annotation's own p/v mismatch is ~0.01 m/s
    # along-track shift: same track, later
    at = orbit.shifted(0.0, along_track_s=1.0)
    pa, _ = at.interpolate(50.0)
    pb, _ = orbit.interpolate(49.0)
    assert np.linalg.norm(pa - pb) < 1e-6


# ---------------------------------------------------------------- command line


def test_cli_geo2rdr_and_rdr2geo(product, tmp_path):
    import pandas as pd

    g = esa_grid(product, "IW1", "VV")
    ann = product.annotation("IW1", "VV")
    pick = np.flatnonzero((g["line"] > 0) & (g["line"] < 13000))[[5, 60, 150]]
    pts = pd.DataFrame({k: g[k][pick] for k in ("latitude", "longitude", "height")})
    pts.to_csv(tmp_path / "in.csv", index=False)
    out = subprocess.run([sys.executable, "-m", "flows.cli", "geo2rdr", str(S1_PRODUCT), "--swath", "IW1",
                          "--polarization", "VV", "--points", str(tmp_path / "in.csv"),
                          "--out", str(tmp_path / "out.csv")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    res = pd.read_csv(tmp_path / "out.csv")
    assert list(res.columns[:3]) == ["latitude", "longitude", "height"]
    dt = (pd.to_datetime(res["azimuth_time"]).to_numpy() - g["azimuthTime"][pick]) / np.timedelta64(1, "s")
    assert np.abs(dt).max() < 5e-6
    np.testing.assert_allclose(res["slant_range_time"], g["slantRangeTime"][pick], atol=3e-11)
    np.testing.assert_allclose(res["pixel"], g["pixel"][pick], atol=0.01)
    esa_burst = g["line"][pick] // ann.lines_per_burst
    same = res["burst"].to_numpy() == esa_burst  # grid rows at a burst start lie in an overlap
    assert np.all((res["burst"] == esa_burst) | (res["burst"] == esa_burst - 1))
    np.testing.assert_allclose(res["line"][same], g["line"][pick][same], atol=0.005)

    # rdr2geo from ESA's (line, pixel): to stdout
    pd.DataFrame({"line": g["line"][pick], "pixel": g["pixel"][pick], "height": g["height"][pick]}).to_csv(
        tmp_path / "rdr.csv", index=False)
    out = subprocess.run([sys.executable, "-m", "flows.cli", "rdr2geo", str(S1_PRODUCT), "--swath", "IW1",
                          "--polarization", "VV", "--points", str(tmp_path / "rdr.csv")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    res = pd.read_csv(io.StringIO(out.stdout))
    err = horizontal_error(res["latitude"].to_numpy(), res["longitude"].to_numpy(), g["latitude"][pick],
                           g["longitude"][pick], g["height"][pick])
    assert err.max() < 0.05


def test_open_swath_geometry_with_an_eof(product, setups, tmp_path):
    o = setups["IW1", "VV"]["orbit"]
    (tmp_path / "orbit.EOF").write_text(o.to_eof())
    geom = open_swath_geometry(product, "IW1", "VV", orbit=tmp_path / "orbit.EOF")
    ref = open_swath_geometry(product, "IW1", "VV")
    assert geom.polarisation == "VV" and len(geom.bursts) == len(product.annotation("IW1", "VV").bursts)
    a = geom.geo2rdr(47.0, 12.2, 300.0)
    b = ref.geo2rdr(47.0, 12.2, 300.0)
    assert abs(a.line - b.line) < 1e-6 and abs(a.pixel - b.pixel) < 1e-6
    with pytest.raises(ValueError, match="no swath IW3"):
        open_swath_geometry(product, "IW3")
