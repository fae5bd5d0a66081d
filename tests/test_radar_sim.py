"""The scene simulator seen through the project's reader and xarray-sentinel: the
statistics of the written products against the truth kept beside them."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy.ndimage import uniform_filter

from alignsar_core.calibration import CalibrationLut, NoiseLut
from alignsar_core.coregistration import resample_burst
from alignsar_core.geometry import open_swath_geometry
from alignsar_core.products.sentinel1 import list_bursts, open_product, read_burst_lines
from alignsar_core.simulate.radar import simulate_stack
from alignsar_core.simulate.scene import Scene
from alignsar_core.tops import TopsRamp

from ._shared import S1_PRODUCT, needs_shared

pytestmark = needs_shared

N_SAMPLES = 1024  # IW1 valid samples start at 529: 495 valid columns


@pytest.fixture(scope="module")
def stack(sim_stack):
    st = sim_stack
    products = [open_product(p) for p in st.products]
    bursts = [[b for b in list_bursts(p) if b.swath == "IW1"] for p in products]
    truth = xr.open_zarr(st.truth, consolidated=False).load()
    return st, products, bursts, truth


def _coregistered(products, bursts, truth, d, k, pol):
    """Date d's burst k on the reference grid with the TRUE offsets (deramp, 16-tap
    resampling, reramp), and the reference burst."""
    L = bursts[0][k].lines
    t = truth.isel(line=slice(k * L, (k + 1) * L))
    ref = read_burst_lines(products[0], bursts[0][k], pol)
    sec = read_burst_lines(products[d], bursts[d][k], pol)
    ramp = TopsRamp.from_product(products[d], bursts[d][k])
    out = resample_burst(sec, ramp, t.azimuth_offset.values[d], t.range_offset.values[d], taps=16)
    return ref, out, t


def _snr(products, k, pol, truth_rows, d, L):
    """sigma0 / NESZ of every pixel of burst k on date d."""
    p = products[d]
    lines = np.arange(k * L, (k + 1) * L)
    cal = CalibrationLut.from_xarray_sentinel(p.open_group(f"IW1/{pol}/calibration"))
    noise = NoiseLut.from_xarray_sentinel(p.open_group(f"IW1/{pol}/noise_range"),
                                          p.open_group(f"IW1/{pol}/noise_azimuth"))
    a2 = cal.interpolate(lines, np.arange(N_SAMPLES)) ** 2
    return truth_rows[f"sigma0_{pol.lower()}"].values[d] * a2 / noise.interpolate(lines, np.arange(N_SAMPLES))


def _far_from_targets(st, k, L, radius=40):
    """Mask of burst k's pixels away from every point target (their energy is not sigma0)."""
    m = np.ones((L, N_SAMPLES), bool)
    for t in json.loads((Path(st.truth).parent / "targets.json").read_text()):
        if t["burst"] == k:
            li, pi = int(t["line"]) - k * L, int(t["pixel"])
            m[max(li - radius, 0):li + radius, max(pi - radius, 0):pi + radius] = False
    return m


def test_products_open_like_real_ones_and_keep_the_template_timing(stack):
    st, products, bursts, truth = stack
    tpl = open_product(str(S1_PRODUCT), metadata_only=True, allow_partial=True)
    tb = [b for b in list_bursts(tpl) if b.swath == "IW1"][:2]
    for d, (p, bs) in enumerate(zip(products, bursts)):
        assert len(bs) == 2 and p.swath_pols() == {"IW1": ["VV", "VH"]}
        shift = np.timedelta64(12 * d, "D")
        for b, t in zip(bs, tb):
            assert np.datetime64(b.first_line_time) == np.datetime64(t.first_line_time) + shift
            assert (b.lines, b.azimuth_time_interval, b.slant_range_time) == (t.lines, t.azimuth_time_interval,
                                                                               t.slant_range_time)
        # xarray-sentinel opens the measurement and sees the same bursts
        ds = xr.open_dataset(st.products[d], engine="sentinel-1", group="IW1/VV")
        assert ds.sizes["line"] == 2 * bs[0].lines and ds.sizes["pixel"] == N_SAMPLES
        assert int(np.abs(ds.measurement.isel(line=slice(800, 801)).values).max()) > 0


def test_geolocation_grid_matches_the_pixels_and_the_template(stack):
    st, products, bursts, truth = stack
    from lxml import etree

    root = etree.parse(str(next((S1_PRODUCT / "annotation").glob("s1b-iw1-slc-vv-*.xml"))))
    pts = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    esa_pts = {k: np.array([float(p.findtext(k)) for p in pts]) for k in ("latitude", "longitude", "height")}
    esa_pts["azimuth_time"] = np.array([np.datetime64(p.findtext("azimuthTime"), "ns") for p in pts])
    esa_pts["slant_range_time"] = np.array([float(p.findtext("slantRangeTime")) for p in pts])
    for d, p in enumerate(products):
        geom = open_swath_geometry(p, "IW1", "VV")
        g = p.annotation("IW1", "VV").grid
        # every grid point is where the date's own orbit images its line and pixel
        inside = g["line"] < 2 * bursts[d][0].lines
        lat, lon = geom.rdr2geo(g["line"][inside], g["pixel"][inside], g["height"][inside])
        np.testing.assert_allclose(lat, g["latitude"][inside], atol=1e-7)  # ~1 cm
        np.testing.assert_allclose(lon, g["longitude"][inside], atol=1e-7)
        rc = geom.geo2rdr(g["latitude"], g["longitude"], g["height"])
        np.testing.assert_allclose(rc.pixel, g["pixel"], atol=1e-3)
        # ESA's own grid points of the template (their lat/lon/height) get ESA's
        # zero-Doppler azimuth time and slant range time from the simulated product's
        # orbit: the template's on date 0, moved along the track by a_d on date d
        rc = geom.geo2rdr(esa_pts["latitude"], esa_pts["longitude"], esa_pts["height"])
        t = geom.bursts[0].datetime(rc.azimuth_time) - np.timedelta64(12 * d, "D")
        a_d = truth.attrs["acquisitions"][d]["along_track_s"]
        dt = (t - esa_pts["azimuth_time"]) / np.timedelta64(1, "s") - a_d
        assert np.abs(dt).max() < 5e-6  # < 4 cm along the track
        # date d: the baseline changes the range by B_perp sin(theta - theta_mid), < 0.15 B_perp
        b_perp = abs(truth.attrs["acquisitions"][d]["perpendicular_baseline_m"])
        np.testing.assert_allclose(rc.slant_range_time, esa_pts["slant_range_time"],
                                   atol=1e-10 + 2 * 0.15 * b_perp / 299_792_458.0)


def test_mean_intensity_is_sigma0_times_calibration_constant_plus_noise(stack):
    st, products, bursts, truth = stack
    L = bursts[0][0].lines
    for pol in ("VV", "VH"):
        p = products[0]
        cal = CalibrationLut.from_xarray_sentinel(p.open_group(f"IW1/{pol}/calibration"))
        noise = NoiseLut.from_xarray_sentinel(p.open_group(f"IW1/{pol}/noise_range"),
                                              p.open_group(f"IW1/{pol}/noise_azimuth"))
        for k in range(2):
            lines = np.arange(k * L, (k + 1) * L)
            dn = read_burst_lines(p, bursts[0][k], pol)
            a2 = cal.interpolate(lines, np.arange(N_SAMPLES)) ** 2
            n = noise.interpolate(lines, np.arange(N_SAMPLES))
            s0 = truth[f"sigma0_{pol.lower()}"].values[0, lines]
            valid = np.abs(dn) > 0
            for c in np.unique(truth.class_code.values[0, lines][valid]):
                # a few pixels inside the class (the impulse response mixes in the neighbours)
                inside = uniform_filter((truth.class_code.values[0, lines] == c).astype(np.float32), 9) > 0.999
                m = valid & inside & _far_from_targets(st, k, L)
                if m.sum() < 20_000:
                    continue
                measured = np.mean(np.abs(dn[m]) ** 2)
                expected = np.mean(s0[m] * a2[m] + n[m])
                # single-look speckle: relative std 1 per independent sample; the
                # system oversamples (0.67 x 0.88 of the band): ~1.7 pixels per sample
                tol = 4.0 / np.sqrt(m.sum() / 1.7)
                assert measured / expected == pytest.approx(1.0, abs=tol), (pol, k, c)


def test_coherence_and_phase_of_coregistered_pairs_follow_the_truth(stack):
    st, products, bursts, truth = stack
    lam = truth.attrs["wavelength_m"]
    L = bursts[0][0].lines
    pairs = [(int(a), int(b)) for a, b in zip(truth.pair_first.values, truth.pair_second.values)]
    for d in (1, 2):
        for k in range(2):
            ref, sec, t = _coregistered(products, bursts, truth, d, k, "VV")
            model = 4 * np.pi / lam * (t.range_difference.values[d] + t.deformation_range.values[d]
                                       - t.deformation_range.values[0] + t.atmosphere_range.values[d]
                                       - t.atmosphere_range.values[0])
            ifg = ref * np.conj(sec) * np.exp(-1j * model)
            w = (15, 60)
            num = uniform_filter(ifg.real, w) + 1j * uniform_filter(ifg.imag, w)
            den = np.sqrt(uniform_filter(np.abs(ref) ** 2, w) * uniform_filter(np.abs(sec) ** 2, w))
            est = np.abs(num) / np.maximum(den, 1e-20)
            snr0 = _snr(products, k, "VV", t, 0, L)
            snrd = _snr(products, k, "VV", t, d, L)
            expected = t.coherence.values[pairs.index((0, d))] / np.sqrt((1 + 1 / snr0) * (1 + 1 / snrd))
            inner = np.zeros(ref.shape, bool)
            inner[40:-40, 560:-40] = True
            valid = inner & (np.abs(ref) > 0) & (np.abs(sec) > 0)
            checked = 0
            for c in np.unique(t.class_code.values[0][valid]):
                # whole estimation window inside one class, unchanged on date d (a window
                # across a border mixes the classes' coherences, weighted by their power)
                same = ((t.class_code.values[0] == c) & (t.class_code.values[d] == c)).astype(np.float32)
                m = valid & (uniform_filter(same, (w[0] + 4, w[1] + 8)) > 0.999) & _far_from_targets(st, k, L)
                if m.sum() < 20_000:
                    continue
                checked += 1
                # 900-look estimate: bias and spread << 0.02
                assert est[m].mean() == pytest.approx(expected[m].mean(), abs=0.02), (d, k, c)
            assert checked >= 1
            # the phase left after the modelled geometry, deformation and atmosphere is noise
            good = valid & (expected > 0.5)
            if good.sum() > 10_000:
                assert abs(np.angle(ifg[good].sum())) < 0.02
                assert np.std(np.angle(num[good])) < 0.1


def test_point_targets_are_where_the_truth_says(stack):
    st, products, bursts, truth = stack
    targets = json.loads((Path(st.truth).parent / "targets.json").read_text())
    L = bursts[0][0].lines
    checked = 0
    for t in targets:
        if t["kind"] != "corner_reflector" or not (30 < t["line"] % L < L - 30 and 560 < t["pixel"] < N_SAMPLES - 30):
            continue
        k = t["burst"]
        img = np.abs(read_burst_lines(products[0], bursts[0][k], "VV"))
        li, pi = int(round(t["line"] - k * L)), int(round(t["pixel"]))
        win = img[li - 8:li + 9, pi - 8:pi + 9]
        peak = np.unravel_index(np.argmax(win), win.shape)
        assert abs(peak[0] - 8) <= 1 and abs(peak[1] - 8) <= 1
        checked += 1
    if checked == 0:
        pytest.skip("no corner reflector inside the small test crop")


def test_truth_and_scene_are_complete_and_documented(stack):
    st, products, bursts, truth = stack
    assert truth.sizes == {"date": 3, "line": 2 * bursts[0][0].lines, "sample": N_SAMPLES, "pair": 3}
    for name, var in truth.data_vars.items():
        if name.startswith("pair_"):
            continue
        assert var.attrs.get("units") and var.attrs.get("description"), name
    assert truth.azimuth_offset.values[0].max() == 0 and truth.range_difference.values[0].max() == 0
    assert np.abs(truth.range_offset.values[1:]).max() > 0
    scene = Scene.load(st.scene)
    assert scene.n_dates == 3
    # the truth's ground points are on the scene's DEM (the geometry used it per pixel)
    h = scene.dem.interp(truth.longitude.values[::37, ::11], truth.latitude.values[::37, ::11])
    assert np.median(np.abs(h - truth.height.values[::37, ::11])) < 0.05


@pytest.mark.s3
def test_same_seed_same_products_in_a_folder_and_in_object_storage(tmp_path, s3_server):
    import fsspec

    from alignsar_core.settings import Settings

    opts = Settings(s3_endpoint_url=s3_server.endpoint_url, s3_access_key=s3_server.access_key,
                    s3_secret_key=s3_server.secret_key, s3_region=s3_server.region).storage_options_for("s3://")
    kw = dict(n_dates=1, n_bursts=1, n_samples=N_SAMPLES, seed=11, relief_m=200.0)
    local = simulate_stack(tmp_path / "a", **kw)
    remote = simulate_stack("s3://alignsar-test/sim", storage_options=opts, **kw)
    assert remote.products[0].startswith("s3://alignsar-test/sim/S1B_IW_SLC__1SDV_")
    fs = fsspec.filesystem("s3", **opts)
    for pol in ("vv", "vh"):
        rel = next(Path(local.products[0], "measurement").glob(f"*-{pol}-*.tiff")).relative_to(local.products[0])
        assert fs.cat_file(f"{remote.products[0]}/{rel}") == Path(local.products[0], rel).read_bytes()
    assert fs.exists(remote.truth + "/zarr.json") and fs.exists("alignsar-test/sim/scene/dem.tif")
    # another seed is another scene and other speckle
    other = simulate_stack(tmp_path / "b", **{**kw, "seed": 12})
    rel = next(Path(other.products[0], "measurement").glob("*-vv-*.tiff")).relative_to(other.products[0])
    assert Path(other.products[0], rel).read_bytes() != Path(local.products[0], rel).read_bytes()


def test_a_given_geotiff_dem_is_the_scene_terrain(tmp_path):
    """Any GeoTIFF DEM (here a UTM one) becomes the scene's terrain, and the simulated
    ground points lie on it."""
    import rasterio
    from rasterio.transform import from_origin

    # a tilted plane in UTM 33N around the template's IW1 footprint (lon 12.2-12.6, lat 46.7-47.2)
    x0, y0, res = 270_000.0, 5_240_000.0, 30.0
    nx, ny = 1600, 2400
    xx, yy = np.meshgrid(x0 + res * (np.arange(nx) + 0.5), y0 - res * (np.arange(ny) + 0.5))
    h = (300.0 + 0.004 * (xx - x0) + 0.002 * (y0 - yy)).astype(np.float32)
    path = tmp_path / "dem_utm.tif"
    with rasterio.open(path, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(x0, y0, res, res)) as dst:
        dst.write(h, 1)
        dst.update_tags(VERTICAL_REFERENCE="ellipsoid")
    st = simulate_stack(tmp_path / "out", n_dates=1, n_bursts=1, n_samples=N_SAMPLES, seed=5, dem=str(path))
    truth = xr.open_zarr(st.truth, consolidated=False)
    hs = truth.height.values[::50, 600::50]
    assert 300.0 < hs.min() and hs.max() < 300.0 + 0.004 * res * nx + 0.002 * res * ny
    assert np.ptp(hs) > 5.0  # the plane's tilt shows up
