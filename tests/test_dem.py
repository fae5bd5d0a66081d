"""The pipeline's DEM reader (alignsar_core.dem): any CRS onto lon/lat, cropping to a burst
footprint, refusal of DEMs that do not cover it, geoid heights, object storage."""

import warnings

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import Affine

from alignsar_core import dem as dm
from alignsar_core.dem import (
    Dem,
    DemError,
    GeoGrid,
    GeoidUnavailableError,
    footprint_bounds,
    metres_per_degree,
    read_dem,
    read_dem_for_footprint,
)

X0, Y0, N, D = 680000.0, 5120000.0, 600, 30.0  # UTM 32N DEM: 18 km x 18 km at 30 m
TO_LL = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)


def surface(x, y):
    """Smooth analytic terrain in UTM metres (a tilted plane and a 9 km sine)."""
    return 400.0 + 0.01 * (x - X0) - 0.02 * (y - Y0) + 60.0 * np.sin(2 * np.pi * x / 9000.0)


def utm_dem(path, nodata_block=None):
    xs = X0 + (np.arange(N) + 0.5) * D
    ys = Y0 - (np.arange(N) + 0.5) * D
    h = surface(xs[None, :], ys[:, None]).astype(np.float32)
    if nodata_block is not None:
        h[nodata_block] = -9999.0
    with rasterio.open(path, "w", driver="GTiff", width=N, height=N, count=1, dtype="float32",
                       crs="EPSG:32632", transform=Affine(D, 0.0, X0, 0.0, -D, Y0), nodata=-9999,
                       tiled=True, blockxsize=256, blockysize=256) as d:
        d.write(h, 1)
    return path


def centre_footprint(half_m=3000.0):
    """A tilted burst-like quadrilateral (lon, lat ring) around the DEM's centre."""
    cx, cy = X0 + N * D / 2, Y0 - N * D / 2
    pts = [(cx - half_m, cy - half_m * 0.6), (cx + half_m, cy - half_m * 0.8),
           (cx + half_m * 0.9, cy + half_m * 0.7), (cx - half_m * 0.8, cy + half_m * 0.6)]
    lon, lat = TO_LL.transform(*np.array(pts).T)
    ring = list(zip(lon, lat))
    return tuple(ring + ring[:1])


@pytest.fixture(scope="module")
def utm_path(tmp_path_factory):
    return utm_dem(tmp_path_factory.mktemp("dem") / "utm.tif")


def check_surface(dem, tol=0.01):
    g = dem.grid
    rng = np.random.default_rng(1)
    lon = rng.uniform(g.west + 3 * g.dlon, g.east - 3 * g.dlon, 200)
    lat = rng.uniform(g.south + 3 * g.dlat, g.north - 3 * g.dlat, 200)
    x, y = TO_UTM.transform(lon, lat)
    err = dem.interp(lon, lat) - surface(np.asarray(x), np.asarray(y))
    assert np.abs(err).max() < tol, np.abs(err).max()


def test_utm_dem_read_onto_lonlat(utm_path):
    fp = centre_footprint()
    dem = read_dem_for_footprint(utm_path, fp, margin_m=1000.0, vertical="ellipsoid")
    assert isinstance(dem, Dem) and dem.grid.crs == "EPSG:4326"
    assert dem.source == str(utm_path)
    # the source's pixel size by default
    assert dem.grid.spacing_m() == pytest.approx((30.0, 30.0), rel=1e-4)
    check_surface(dem)  # bilinear curvature error of the 9 km sine: millimetres


def test_crop_is_footprint_plus_margin(utm_path):
    fp = centre_footprint()
    w, s, e, n = shapely.Polygon(fp).bounds
    dem = read_dem_for_footprint(utm_path, fp, margin_m=1000.0, resolution_m=60.0, vertical="ellipsoid")
    m_lat, _ = metres_per_degree(0.5 * (s + n))
    _, m_lon = metres_per_degree(n)  # longitude margin: at the poleward edge, so >= 1000 m
    g = dem.grid
    # west and north exact; east and south moved out to whole 60 m pixels
    assert g.west == pytest.approx(w - 1000.0 / m_lon, rel=0, abs=1e-9)
    assert g.north == pytest.approx(n + 1000.0 / m_lat, rel=0, abs=1e-9)
    assert 0 <= (g.east - (e + 1000.0 / m_lon)) < g.dlon + 1e-12
    assert 0 <= ((s - 1000.0 / m_lat) - g.south) < g.dlat + 1e-12
    assert g.spacing_m() == pytest.approx((60.0, 60.0), rel=1e-4)
    # a larger margin gives a larger grid on the same pixel size
    big = read_dem_for_footprint(utm_path, fp, margin_m=2000.0, resolution_m=60.0, vertical="ellipsoid")
    assert big.grid.ny - g.ny in (33, 34) and big.grid.nx - g.nx in (33, 34)  # 2 x 1000 m / 60 m
    # footprint as a shapely polygon or as bounds gives the same grid
    same = read_dem_for_footprint(utm_path, shapely.Polygon(fp), margin_m=1000.0, resolution_m=60.0,
                                  vertical="ellipsoid")
    also = read_dem_for_footprint(utm_path, (w, s, e, n), margin_m=1000.0, resolution_m=60.0,
                                  vertical="ellipsoid")
    assert same.grid == g == also.grid
    np.testing.assert_array_equal(same.height, dem.height)
    check_surface(dem, tol=0.1)  # coarser than the source: GDAL widens the kernel (read_dem docstring)


def test_non_covering_dem_refused_with_bounds(utm_path):
    fp = centre_footprint()
    with pytest.raises(DemError) as info:  # 10 km of margin reaches beyond the 18 km DEM
        read_dem_for_footprint(utm_path, fp, margin_m=10000.0, vertical="ellipsoid")
    msg = str(info.value)
    print(msg)
    assert str(utm_path) in msg and "does not cover the burst" in msg
    have = dm.dem_bounds_lonlat(utm_path)
    need = footprint_bounds(fp, 10000.0)
    assert "(W {:.5f}, S {:.5f}, E {:.5f}, N {:.5f})".format(*have) in msg
    assert "(W {:.5f}, S {:.5f}, E {:.5f}, N {:.5f})".format(*need) in msg
    assert isinstance(info.value, ValueError)
    # a burst elsewhere entirely
    with pytest.raises(DemError, match="missing 100.0 %"):
        read_dem_for_footprint(utm_path, (5.0, 45.0, 5.1, 45.1), margin_m=0.0, vertical="ellipsoid")


def test_nodata_void_refused(tmp_path):
    path = utm_dem(tmp_path / "void.tif", nodata_block=(slice(280, 320), slice(280, 320)))
    with pytest.raises(DemError, match="no-data voids"):
        read_dem_for_footprint(path, centre_footprint(), margin_m=500.0, vertical="ellipsoid")


def test_geoid_heights_refused_without_geoid(utm_path, tmp_path):
    from pyproj.transformer import TransformerGroup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        group = TransformerGroup("EPSG:4326+3855", "EPSG:4979", always_xy=True)
    if group.best_available:
        pytest.skip("the EGM2008 PROJ grid is installed here")
    fp = centre_footprint()
    with pytest.raises(GeoidUnavailableError, match="no EGM2008 geoid model is available offline"):
        read_dem_for_footprint(utm_path, fp, margin_m=500.0, vertical="geoid")
    # with an undulation grid: h = H + N
    n_path = tmp_path / "n.tif"
    with rasterio.open(n_path, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(0.1, 0.0, 10.0, 0.0, -0.1, 47.0)) as d:
        d.write(np.full((20, 20), 47.25, np.float32), 1)
    a = read_dem_for_footprint(utm_path, fp, margin_m=500.0, vertical="geoid", geoid_grid=n_path)
    b = read_dem_for_footprint(utm_path, fp, margin_m=500.0, vertical="ellipsoid")
    np.testing.assert_allclose(a.height - b.height, 47.25, atol=1e-4)
    # the vertical reference must be known
    with pytest.raises(ValueError, match="ellipsoidal or geoid"):
        read_dem_for_footprint(utm_path, fp, margin_m=500.0)


def test_footprint_bounds_forms():
    ring = ((11.0, 46.0), (11.2, 46.05), (11.15, 46.2), (10.98, 46.1), (11.0, 46.0))
    assert footprint_bounds(ring) == (10.98, 46.0, 11.2, 46.2)
    w, s, e, n = footprint_bounds(ring, 1000.0)
    m_lat, _ = metres_per_degree(46.1)
    assert (46.0 - s) * m_lat == pytest.approx(1000.0, rel=1e-9)
    _, m_lon = metres_per_degree(46.2)
    assert (10.98 - w) * m_lon == pytest.approx(1000.0, rel=1e-9)
    with pytest.raises(ValueError, match="antimeridian"):
        footprint_bounds(((179.9, 0.0), (-179.9, 0.0), (-179.9, 0.1)))
    grid = GeoGrid.from_footprint(ring, margin_m=0.0, resolution_m=100.0)
    assert grid.west == 10.98 and grid.north == 46.2


def test_scene_reexports_the_dem_reader():
    from alignsar_core.simulate import scene

    assert scene.read_dem is read_dem and scene.Dem is Dem and scene.GeoGrid is GeoGrid
    assert scene.GeoidUnavailableError is GeoidUnavailableError


@pytest.mark.s3
def test_read_from_s3(utm_path, s3_server, monkeypatch):
    import fsspec

    from alignsar_core.settings import Settings

    url = "s3://alignsar-test/dem/utm.tif"
    settings = Settings(s3_endpoint_url=s3_server.endpoint_url, s3_access_key=s3_server.access_key,
                        s3_secret_key=s3_server.secret_key, s3_region=s3_server.region)
    opts = settings.storage_options_for(url)
    fs, p = fsspec.core.url_to_fs(url, **opts)
    fs.pipe(p, utm_path.read_bytes())
    fp = centre_footprint()
    local = read_dem_for_footprint(utm_path, fp, margin_m=1000.0, vertical="ellipsoid")
    remote = read_dem_for_footprint(url, fp, margin_m=1000.0, vertical="ellipsoid", storage_options=opts)
    assert remote.grid == local.grid
    np.testing.assert_array_equal(remote.height, local.height)
    assert remote.source == url
    # storage_options=None: endpoint and keys from the pipeline settings (environment)
    for k, v in s3_server.env().items():
        if k.startswith("ALIGNSAR_S3_"):
            monkeypatch.setenv(k, v)
    again = read_dem_for_footprint(url, fp, margin_m=1000.0, vertical="ellipsoid")
    np.testing.assert_array_equal(again.height, local.height)
    with pytest.raises(DemError, match="does not cover the burst"):
        read_dem_for_footprint(url, fp, margin_m=20000.0, vertical="ellipsoid")
    with pytest.raises(FileNotFoundError, match="no such DEM file"):
        read_dem_for_footprint("s3://alignsar-test/dem/missing.tif", fp, vertical="ellipsoid")
