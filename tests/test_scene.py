"""The simulator's ground truth world (alignsar_core.simulate.scene): statistics of the
random fields, file round trips, DEM reprojection and height systems, change events,
query speed."""

import math
import time
import warnings

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import Affine

from alignsar_core.simulate import scene as sc
from alignsar_core.simulate.scene import (
    DEFAULT_CLASSES,
    ChangeEvent,
    Dem,
    GeoGrid,
    GeoidUnavailableError,
    LandCoverClass,
    Scene,
    SubsidenceBowl,
    atmospheric_phase_screen,
    make_default_scene,
    random_landcover,
    read_dem,
    read_landcover,
    synthetic_dem,
    write_dem,
    write_landcover,
)

FOOTPRINT = shapely.Polygon([(11.50, 46.00), (11.75, 46.02), (11.73, 46.20), (11.52, 46.18)])


@pytest.fixture(scope="module")
def scene():
    return make_default_scene(FOOTPRINT, n_dates=6, seed=7, resolution_m=60.0)


def spectral_slope(field, window=True):
    """Slope of the radially averaged periodogram in log-log, over 4/N .. 0.25 cycles/px."""
    f = np.asarray(field, dtype=np.float64)
    f = f - f.mean()
    ny, nx = f.shape
    if window:  # Hann taper against the leakage of non-periodic edges
        f = f * np.hanning(ny)[:, None] * np.hanning(nx)[None, :]
    p = np.abs(np.fft.fft2(f)).ravel() ** 2
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(ny), np.fft.fftfreq(nx), indexing="ij")).ravel()
    edges = np.geomspace(4.0 / min(ny, nx), 0.25, 16)
    idx = np.digitize(k, edges)
    kk = np.array([k[idx == i].mean() for i in range(1, len(edges))])
    pp = np.array([p[idx == i].mean() for i in range(1, len(edges))])
    return np.polyfit(np.log(kk), np.log(pp), 1)[0]


# ---------------------------------------------------------------------------- DEM


@pytest.mark.parametrize("beta", [3.0, 3.5])
def test_dem_spectrum_follows_power_law(beta):
    bounds = (11.0, 46.0, 11.2, 46.15)
    periodic = synthetic_dem(bounds, (400, 300), seed=3, beta=beta, oversample=1)
    s = spectral_slope(periodic.height, window=False)
    print(f"beta={beta}: periodic slope {s:.3f}")
    assert s == pytest.approx(-beta, abs=0.15)
    dem = synthetic_dem(bounds, (400, 300), seed=3, beta=beta, relief_m=1200.0, base_height_m=50.0)
    s = spectral_slope(dem.height)
    print(f"beta={beta}: non-periodic (cropped) slope {s:.3f}")
    assert s == pytest.approx(-beta, abs=0.25)
    assert dem.height.dtype == np.float32
    assert dem.height.min() == pytest.approx(50.0, abs=1e-3)
    assert dem.height.max() == pytest.approx(1250.0, abs=1e-3)


def test_dem_geotiff_round_trip(tmp_path):
    dem = synthetic_dem((11.0, 46.0, 11.1, 46.05), (60, 90), seed=1)
    path = write_dem(dem, tmp_path / "dem.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 4326 and src.dtypes[0] == "float32"
        assert src.units[0] == "metre" and src.tags()["VERTICAL_REFERENCE"] == "ellipsoid"
    back = read_dem(path)  # EPSG:4326, no bounds: read exactly on its own grid
    np.testing.assert_array_equal(back.height, dem.height)
    assert back.grid.shape == dem.grid.shape
    assert back.grid.bounds == pytest.approx(dem.grid.bounds, abs=1e-12)


def _utm_dem(path, fn):
    """A UTM 32N DEM (EPSG:32632, 30 m) holding the analytic surface fn(x, y), no vertical tag."""
    x0, y0, n = 680000.0, 5120000.0, 800
    xs = x0 + (np.arange(n) + 0.5) * 30.0
    ys = y0 - (np.arange(n) + 0.5) * 30.0
    h = fn(xs[None, :], ys[:, None]).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:32632", transform=Affine(30.0, 0.0, x0, 0.0, -30.0, y0), nodata=-9999) as d:
        d.write(h, 1)
    return path


def _surface(x, y):
    return 400.0 + 0.01 * (x - 680000.0) - 0.02 * (y - 5120000.0) + 60.0 * np.sin(2 * np.pi * x / 9000.0)


def test_read_dem_reprojects_other_crs(tmp_path):
    path = _utm_dem(tmp_path / "utm.tif", _surface)
    to_ll = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
    w, s = to_ll.transform(683000.0, 5100000.0)
    e, n = to_ll.transform(699000.0, 5116000.0)
    bounds = (w, s, e, n)
    with pytest.raises(ValueError, match="ellipsoidal or geoid"):
        read_dem(path, bounds, resolution_m=20.0)
    dem = read_dem(path, bounds, resolution_m=20.0, vertical="ellipsoid")
    assert dem.grid.crs == "EPSG:4326" and dem.grid.spacing_m() == pytest.approx((20.0, 20.0), rel=1e-5)
    rng = np.random.default_rng(0)
    lon = rng.uniform(w + 0.01, e - 0.01, 25)
    lat = rng.uniform(s + 0.01, n - 0.01, 25)
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True).transform(lon, lat)
    err = dem.interp(lon, lat) - _surface(np.asarray(x), np.asarray(y))
    print(f"reprojected DEM error: max {np.abs(err).max() * 1000:.1f} mm")
    assert np.abs(err).max() < 0.01  # bilinear curvature error of the 9 km sine: ~3 mm
    # beyond the source's coverage: refused
    with pytest.raises(ValueError, match="does not cover"):
        read_dem(path, (w, s, e + 0.5, n), resolution_m=200.0, vertical="ellipsoid")


def test_read_dem_from_fsspec_url(tmp_path):
    import fsspec

    path = _utm_dem(tmp_path / "utm.tif", _surface)
    fs = fsspec.filesystem("memory")
    fs.pipe("/scene-test/utm.tif", path.read_bytes())
    to_ll = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
    w, s = to_ll.transform(685000.0, 5100000.0)
    e, n = to_ll.transform(690000.0, 5105000.0)
    a = read_dem("memory://scene-test/utm.tif", (w, s, e, n), shape=(50, 60), vertical="ellipsoid",
                 storage_options={})
    b = read_dem(path, (w, s, e, n), shape=(50, 60), vertical="ellipsoid")
    np.testing.assert_array_equal(a.height, b.height)


def _geographic_dem(path, value=300.0, bounds=(11.0, 46.0, 11.2, 46.2), n=40):
    w, s, e, nn = bounds
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine((e - w) / n, 0.0, w, 0.0, -(nn - s) / n, nn)) as d:
        d.write(np.full((n, n), value, np.float32), 1)
    return path


def test_geoid_heights_refused_without_offline_geoid(tmp_path):
    from pyproj.transformer import TransformerGroup

    path = _geographic_dem(tmp_path / "geoid.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyproj: grid missing
        group = TransformerGroup("EPSG:4326+3855", "EPSG:4979", always_xy=True)
    if group.best_available:
        pytest.skip("the EGM2008 PROJ grid is installed here")
    with pytest.raises(GeoidUnavailableError, match="no EGM2008 geoid model is available offline"):
        read_dem(path, (11.05, 46.05, 11.15, 46.15), shape=(10, 10), vertical="geoid")
    with pytest.raises(GeoidUnavailableError):
        read_dem(path, vertical="geoid", geoid_model="EGM96")


def test_geoid_heights_converted_with_given_undulation_grid(tmp_path):
    path = _geographic_dem(tmp_path / "geoid.tif", value=300.0)
    n_path = _geographic_dem(tmp_path / "n.tif", value=47.25, bounds=(10.5, 45.5, 11.5, 46.5))
    dem = read_dem(path, (11.05, 46.05, 11.15, 46.15), shape=(10, 10), vertical="geoid",
                   geoid_grid=n_path)
    np.testing.assert_allclose(dem.height, 347.25, atol=1e-4)  # h = H + N


# ---------------------------------------------------------------------------- land cover


def test_landcover_geopackage_round_trip(tmp_path):
    import pyogrio

    bounds = (11.0, 46.0, 11.3, 46.2)
    dem = synthetic_dem(bounds, (100, 120), seed=2)
    lc = random_landcover(bounds, seed=5, n_polygons=80, dem=dem)
    assert len(lc) == 80
    assert shapely.union_all(lc.geometry).area == pytest.approx(0.3 * 0.2, rel=1e-9)  # tiles the bounds
    assert set(lc.class_code.tolist()) == {10, 40, 50, 60, 80}
    # DEM rule: water in the lowest cells
    seed_h = dem.interp(*shapely.get_coordinates(shapely.point_on_surface(lc.geometry)).T)
    assert seed_h[lc.class_code == 80].mean() < seed_h[lc.class_code != 80].mean()
    path = write_landcover(lc, tmp_path / "lc.gpkg")
    info = pyogrio.read_info(path, layer="landcover")
    assert info["crs"] == "EPSG:4326"
    assert {"class_code", "class_name", "sigma0_vv_db", "sigma0_vh_db"} <= set(info["fields"])
    back = read_landcover(path)
    assert len(back) == len(lc)
    assert all(shapely.equals_exact(back.geometry, lc.geometry, tolerance=0.0))
    np.testing.assert_array_equal(back.class_code, lc.class_code)
    np.testing.assert_array_equal(back.sigma0_vv_db, lc.sigma0_vv_db)
    np.testing.assert_array_equal(back.sigma0_vh_db, lc.sigma0_vh_db)
    names = pyogrio.raw.read(path, layer="landcover", columns=["class_name"])[3][0]
    assert set(names) == {"water", "forest", "cropland", "urban", "bare_soil"}


# ---------------------------------------------------------------------------- classes, coherence


def test_class_table_is_physical():
    c = DEFAULT_CLASSES
    assert c[80].sigma0_vv_db == pytest.approx(-20.0) and c[50].sigma0_vv_db == pytest.approx(0.0)
    assert c[10].sigma0_vv_db == pytest.approx(-7.0) and c[10].sigma0_vh_db == pytest.approx(-13.0)
    for k in c.values():
        assert -12.0 < k.vh_vv_ratio_db < -4.0  # cross-pol below co-pol
        assert 0 <= k.gamma_inf <= k.gamma0 <= 1 and abs(k.rho_vv_vh) <= 1
    g12 = {code: float(k.coherence(12.0)) for code, k in c.items()}
    assert g12[80] == 0.0 and g12[10] < g12[40] < g12[60] < g12[50]
    with pytest.raises(ValueError):
        LandCoverClass(1, "bad", 0.1, 0.01, gamma0=0.3, gamma_inf=0.5, tau_days=10)
    with pytest.raises(ValueError):
        LandCoverClass(1, "bad", 0.1, 0.01, gamma0=0.5, gamma_inf=0.1, tau_days=10, rho_vv_vh=1.2)


def test_coherence_closed_form(scene):
    codes = np.array(sorted(DEFAULT_CLASSES))
    g0 = np.array([DEFAULT_CLASSES[c].gamma0 for c in codes])
    gi = np.array([DEFAULT_CLASSES[c].gamma_inf for c in codes])
    tau = np.array([DEFAULT_CLASSES[c].tau_days for c in codes])
    np.testing.assert_allclose(scene.coherence(codes, 0.0), g0)
    np.testing.assert_allclose(scene.coherence(codes, 1e6), gi)
    np.testing.assert_allclose(scene.coherence(codes, tau), (g0 - gi) / math.e + gi)
    np.testing.assert_allclose(scene.coherence(codes, -tau), scene.coherence(codes, tau))
    grid = scene.coherence(codes[:, None], np.array([0.0, 12.0, 24.0])[None, :])
    assert grid.shape == (5, 3) and np.all(np.diff(grid, axis=1) <= 0)
    p = scene.class_parameters(np.array([50, 80]))
    assert p["rho_vv_vh"].dtype.kind == "c" and p["gamma0"].tolist() == [0.95, 0.0]


# ---------------------------------------------------------------------------- atmosphere


def test_aps_statistics_and_independence():
    shape, spacing = (300, 400), (200.0, 200.0)
    a = atmospheric_phase_screen(shape, 11, 0, spacing_m=spacing, std_m=0.012)
    b = atmospheric_phase_screen(shape, 11, 1, spacing_m=spacing, std_m=0.012)
    assert a.dtype == np.float32 and a.shape == shape
    assert abs(float(a.mean(dtype=np.float64))) < 1e-8
    assert float(a.std(dtype=np.float64)) == pytest.approx(0.012, rel=1e-5)
    slopes = [spectral_slope(atmospheric_phase_screen(shape, s, 0, spacing_m=spacing)) for s in range(4)]
    print("APS spectral slopes", np.round(slopes, 3))
    assert np.mean(slopes) == pytest.approx(-8.0 / 3.0, abs=0.2)
    # dates independent: correlation of the (nearly white) second differences ~ 0
    da = np.diff(np.diff(a, axis=0), axis=1).ravel()
    db = np.diff(np.diff(b, axis=0), axis=1).ravel()
    r = np.corrcoef(da, db)[0, 1]
    print(f"APS date 0 / date 1 correlation of differences: {r:.4f}")
    assert abs(r) < 0.03
    np.testing.assert_array_equal(a, atmospheric_phase_screen(shape, 11, 0, spacing_m=spacing, std_m=0.012))


def test_scene_atmosphere_per_date(scene):
    g = scene.grid
    lon2, lat2 = np.meshgrid(g.lon[::3], g.lat[::3])
    d0 = scene.sample(lon2, lat2, 0)
    d1 = scene.sample(lon2, lat2, 1)
    k0, k1 = scene.atmosphere.stratified_coefficient(0), scene.atmosphere.stratified_coefficient(1)
    turb0 = d0["atmospheric_delay"] - k0 * d0["height"]
    turb1 = d1["atmospheric_delay"] - k1 * d1["height"]
    assert np.std(turb0) == pytest.approx(scene.atmosphere.turbulence_std_m, rel=0.2)
    assert k0 != k1
    assert not np.allclose(turb0, turb1)


# ---------------------------------------------------------------------------- deformation, targets


def test_subsidence_bowl():
    b = SubsidenceBowl(11.5, 46.0, radius_m=3000.0, rate_mm_per_yr=-30.0)
    e, n, u = b.displacement(np.array([11.5]), np.array([46.0]), 0.0)
    assert u[0] == 0.0 and e[0] == 0.0
    e, n, u = b.displacement(np.array([11.5]), np.array([46.0]), 365.25)
    assert u[0] == pytest.approx(-0.030) and e[0] == 0.0 and n[0] == 0.0
    # Knothe-Budryk: horizontal peak exp(-1/2) |U| at r = R / sqrt(2 pi), towards the centre
    m_lat, _ = sc.metres_per_degree(46.0)
    r = 3000.0 / math.sqrt(2 * math.pi)
    e, n, u = b.displacement(np.array([11.5]), np.array([46.0 + r / m_lat]), 365.25)
    assert n[0] == pytest.approx(-0.030 * math.exp(-0.5), rel=1e-9) and abs(e[0]) < 1e-12  # southward
    seasonal = SubsidenceBowl(11.5, 46.0, 3000.0, 0.0, seasonal_amplitude_mm=5.0, seasonal_peak_doy=100.0)
    assert seasonal.amplitude(0.0, start_doy=91.0) == 0.0
    assert seasonal.amplitude(365.25, start_doy=91.0) == pytest.approx(0.0, abs=1e-15)


def test_point_targets(scene):
    t = scene.targets
    cr = t[t["kind"] == "corner_reflector"]
    ships = t[t["kind"] == "ship"]
    assert len(cr) == 4 and np.all(cr["date_index"] == -1)
    assert np.all((cr["rcs_dbsm"] > 27.4) & (cr["rcs_dbsm"] < 38.5))  # 0.8 .. 1.5 m legs
    assert sc.trihedral_rcs_dbsm(1.0) == pytest.approx(31.3, abs=0.1)
    assert shapely.contains_xy(FOOTPRINT, t["lon"], t["lat"]).all()
    if len(ships):
        water = shapely.union_all(scene.landcover.geometry[scene.landcover.class_code == 80])
        assert shapely.contains_xy(water, ships["lon"], ships["lat"]).all()
        assert set(ships["date_index"].tolist()) <= set(range(scene.n_dates))
    np.testing.assert_allclose(t["height_m"], scene.dem.interp(t["lon"], t["lat"]) + t["height_above_dem_m"])
    assert len(scene.targets_on(0)) == len(cr) + np.sum(ships["date_index"] == 0)


# ---------------------------------------------------------------------------- change events, sample()


def test_change_events_apply_on_and_after_their_date(scene):
    assert len(scene.events) == 2
    flood, cut = sorted(scene.events, key=lambda e: e.cell_id is None)
    assert flood.cell_id is not None and cut.polygon is not None
    g = scene.grid
    lon2, lat2 = np.meshgrid(g.lon, g.lat)
    lon, lat = lon2.ravel(), lat2.ravel()
    cells = scene.sample(lon, lat, 0)["cell_id"]
    in_flood = cells == flood.cell_id
    in_cut = shapely.contains_xy(shapely.buffer(cut.polygon, -2 * g.dlat), lon, lat)
    assert in_flood.sum() > 10 and in_cut.sum() > 10
    base = scene.class_at(lon, lat, 0)
    assert np.all(base[in_flood] == 40) and np.all(base[in_cut] == 10)
    for d in range(scene.n_dates):
        s = scene.sample(lon, lat, d)
        cls = s["class_code"]
        assert np.all(cls[in_flood] == (80 if d >= flood.date_index else 40)), d
        assert np.all(cls[in_cut] == (60 if d >= cut.date_index else 10)), d
        untouched = ~in_flood & ~shapely.contains_xy(cut.polygon, lon, lat)
        np.testing.assert_array_equal(cls[untouched], base[untouched])
        if d >= flood.date_index:  # the flooded field takes the nominal water backscatter
            np.testing.assert_allclose(s["sigma0_vv"][in_flood], DEFAULT_CLASSES[80].sigma0_vv, rtol=1e-6)


def test_sample_layers(scene):
    g = scene.grid
    rng = np.random.default_rng(1)
    lon = rng.uniform(g.west, g.east, (30, 40))
    lat = rng.uniform(g.south, g.north, (30, 40))
    s = scene.sample(lon, lat, 3)
    assert set(s) == set(sc.SAMPLE_UNITS)
    assert all(v.shape == (30, 40) for v in s.values())
    assert s["class_code"].dtype == np.int16 and s["height"].dtype == np.float64
    np.testing.assert_allclose(s["height"], scene.dem.interp(lon, lat))
    assert np.all(s["sigma0_vv"] > s["sigma0_vh"])
    s0 = scene.sample(lon, lat, 0)
    assert np.all(s0["displacement_up"] == 0.0)
    assert s["displacement_up"].min() < 0.0
    with pytest.raises(ValueError, match="outside the scene"):
        scene.sample(np.array([g.east + 1.0]), np.array([g.north]), 0)
    clipped = scene.sample(np.array([g.east + 1.0]), np.array([g.north]), 0, outside="clip")
    assert np.isfinite(clipped["height"]).all()
    with pytest.raises(IndexError):
        scene.sample(lon, lat, scene.n_dates)
    ds = scene.to_dataset(0)
    assert all("units" in ds[k].attrs for k in ds.data_vars)


def test_sample_million_points_speed(scene):
    g = scene.grid
    rng = np.random.default_rng(2)
    lon = rng.uniform(g.west, g.east, 1_000_000)
    lat = rng.uniform(g.south, g.north, 1_000_000)
    scene.sample(lon[:10], lat[:10], 2)  # screen of date 2 cached
    t0 = time.perf_counter()
    s = scene.sample(lon, lat, 2)
    dt = time.perf_counter() - t0
    print(f"Scene.sample of 1e6 points: {dt * 1000:.0f} ms ({scene.grid.shape} grid, "
          f"{len(scene.landcover)} polygons)")
    assert s["height"].shape == (1_000_000,)


# ---------------------------------------------------------------------------- persistence


def test_save_load_round_trip(scene, tmp_path):
    scene.save(tmp_path / "truth")
    assert {p.name for p in (tmp_path / "truth").iterdir()} == {
        "dem.tif", "landcover.gpkg", "targets.csv", "scene.json"}
    back = Scene.load(tmp_path / "truth")
    np.testing.assert_array_equal(back.dem.height, scene.dem.height)
    assert back.grid == scene.grid
    assert back.classes == scene.classes
    assert back.deformation == scene.deformation and back.atmosphere == scene.atmosphere
    assert back.events == scene.events
    np.testing.assert_array_equal(back.targets, scene.targets)
    np.testing.assert_array_equal(back.acquisition_days, scene.acquisition_days)
    assert all(shapely.equals_exact(back.landcover.geometry, scene.landcover.geometry, 0.0))
    rng = np.random.default_rng(3)
    g = scene.grid
    lon = rng.uniform(g.west, g.east, 5000)
    lat = rng.uniform(g.south, g.north, 5000)
    for d in (0, scene.n_dates - 1):
        a, b = scene.sample(lon, lat, d), back.sample(lon, lat, d)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_save_load_object_store_url(scene):
    scene.save("memory://scene-test/truth")
    back = Scene.load("memory://scene-test/truth")
    np.testing.assert_array_equal(back.dem.height, scene.dem.height)
    assert back.events == scene.events


def test_custom_scene_with_polygon_event():
    bounds = (11.0, 46.0, 11.1, 46.06)
    dem = synthetic_dem(bounds, (70, 80), seed=4)
    lc = random_landcover(bounds, seed=4, n_polygons=20, dem=dem)
    square = shapely.box(11.04, 46.02, 11.06, 46.04)
    s = Scene(dem=dem, landcover=lc, events=[ChangeEvent(1, 80, polygon=square),
                                             ChangeEvent(2, 50, polygon=square)],
              acquisition_days=[0, 12, 24])
    pts = (np.array([11.05, 11.01]), np.array([46.03, 46.01]))
    assert s.class_at(*pts, 1).tolist()[0] == 80 and s.class_at(*pts, 2).tolist()[0] == 50
    assert s.class_at(*pts, 0)[1] == s.class_at(*pts, 2)[1]
    with pytest.raises(ValueError, match="not in the class table"):
        Scene(dem=dem, landcover=lc, events=[ChangeEvent(0, 99, cell_id=0)])
    assert isinstance(dem, Dem) and isinstance(dem.grid, GeoGrid)
