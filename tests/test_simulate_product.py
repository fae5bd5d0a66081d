"""Simulated Sentinel-1 IW SLC products: readable by xarray-sentinel, exact burst byte
offsets, calibrated intensity equal to the known sigma0 within speckle statistics,
zip products readable through fsspec, several dates."""

import hashlib
import zipfile

import fsspec
import numpy as np
import pytest
import rasterio
import tifffile
import xarray as xr
import xarray_sentinel
from lxml import etree

from alignsar_core.simulate import (
    PATCH_LINES,
    PATCH_SAMPLES,
    default_patch_class,
    default_sigma0,
    simulate_product,
)
from alignsar_core.simulate.product import default_template

TEMPLATE = default_template()
pytestmark = pytest.mark.skipif(
    not (TEMPLATE / "manifest.safe").is_file(),
    reason=f"shared template product missing: {TEMPLATE} (set ALIGNSAR_SHARED_DATA)")


#: ESA's geolocation grid times run ~0.25 ms (range dependent) before the annotation's
#: line times (template: row 0 at 05:26:24.209736, first line at 05:26:24.209990).
GRID_TIME_OFFSET = np.timedelta64(1, "ms")


def _template_annotation(pol: str = "vv"):
    (path,) = (TEMPLATE / "annotation").glob(f"s1b-iw1-slc-{pol}-*.xml")
    return etree.parse(str(path)).getroot()


def _annotation(product, pol: str):
    return etree.parse(str(product.path / product.files[pol]["annotation"])).getroot()


def _open(product, group: str | None = None, **kw) -> xr.Dataset:
    # One dask chunk per burst: by default xarray-sentinel chunks the measurement by
    # the TIFF block (ONE row for S1 products), thousands of tiny tasks (8x slower).
    kw.setdefault("rasterio_chunks", {"y": 1501, "x": -1})
    return xr.open_dataset(product.path, engine="sentinel-1", group=group, **kw)


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """The default product: 3 bursts x 2048 samples, VV + VH, IW1."""
    return simulate_product(tmp_path_factory.mktemp("sim"))


# --------------------------------------------------------------------------------------
# Structure


def test_xarray_sentinel_opens_all_groups(product):
    root = _open(product)
    for group in ("IW1/VV", "IW1/VH"):
        assert group in root.attrs["subgroups"]
    assert root.attrs["swaths"] == ["IW1"]
    assert root.attrs["transmitter_receiver_polarisations"] == ["VV", "VH"]
    assert product.path.name == product.name + ".SAFE"
    assert product.name.startswith("S1B_IW_SLC__1SDV_20210401T052624_")

    for pol in ("VV", "VH"):
        ds = _open(product, f"IW1/{pol}")
        assert ds.measurement.shape == (3 * 1501, 2048)
        assert ds.attrs["number_of_bursts"] == 3 and ds.attrs["lines_per_burst"] == 1501
        for k in range(3):
            burst = xarray_sentinel.crop_burst_dataset(ds, burst_index=k)
            assert burst.measurement.shape == (1501, 2048)
        for sub in ("calibration", "noise_range", "noise_azimuth", "gcp", "orbit", "attitude",
                    "dc_estimate", "azimuth_fm_rate"):
            assert _open(product, f"IW1/{pol}/{sub}").sizes


def test_burst_timing_equals_template(product):
    template_times = [np.datetime64(b.findtext("azimuthTime"), "ns")
                      for b in _template_annotation().findall("swathTiming/burstList/burst")]
    ds = _open(product, "IW1/VV")
    first_lines = ds.azimuth_time.values[::1501]
    np.testing.assert_array_equal(first_lines, template_times[:3])
    assert [np.datetime64(t, "ns") for t in product.burst_times] == template_times[:3]
    # the line time step inside a burst is the annotation's azimuthTimeInterval
    step = np.diff(ds.azimuth_time.values[:1501]).astype(np.int64)
    assert np.all(np.abs(step - ds.attrs["azimuth_time_interval"] * 1e9) <= 1)


def test_cropped_annotation_is_consistent(product):
    ann = _annotation(product, "VV")
    info = ann.find("imageAnnotation/imageInformation")
    assert int(info.findtext("numberOfLines")) == 3 * 1501
    assert int(info.findtext("numberOfSamples")) == 2048
    assert int(ann.findtext("swathTiming/samplesPerBurst")) == 2048
    bursts = ann.findall("swathTiming/burstList/burst")
    assert len(bursts) == 3 == int(ann.find("swathTiming/burstList").get("count"))
    valid = np.zeros((3 * 1501, 2048), bool)
    for k, b in enumerate(bursts):
        fv = np.array(b.findtext("firstValidSample").split(), int)
        lv = np.array(b.findtext("lastValidSample").split(), int)
        assert fv.size == lv.size == 1501
        assert lv.max() <= 2047 and ((fv == -1) == (lv == -1)).all()
        s = np.arange(2048)
        valid[k * 1501:(k + 1) * 1501] = (fv[:, None] >= 0) & (s >= fv[:, None]) & (s <= lv[:, None])
    np.testing.assert_array_equal(valid, product.valid_mask)
    assert 0.8 < valid[:, 600:].mean() < 1.0  # ~19 invalid lines per burst edge, samples < 529

    # LUTs cover the crop (xarray interp gives no NaN) with the template's own vectors
    for group, var in (("calibration", "sigmaNought"), ("noise_range", "noiseRangeLut")):
        lut = _open(product, f"IW1/VV/{group}")
        assert lut.line.values[0] <= 0 and lut.line.values[-1] >= 3 * 1501 - 1
        assert lut.pixel.values[0] == 0 and lut.pixel.values[-1] >= 2047
        assert lut.pixel.values[-2] < 2047  # only one vector point beyond the crop
        assert not np.isnan(lut[var].interp(line=[0, 4502], pixel=[0, 2047]).values).any()
    naz = _open(product, "IW1/VV/noise_azimuth")
    assert naz.line.values[0] == 0 and naz.line.values[-1] == 3 * 1501 - 1

    # geolocation grid: ESA's points (unchanged values), covering the crop in pixel,
    # line and azimuth time (TOPS bursts overlap: the last line is later than the
    # next burst's first line)
    gcp = _open(product, "IW1/VV/gcp")
    ds = _open(product, "IW1/VV")
    assert gcp.pixel.values[0] == 0 and gcp.pixel.values[-1] >= 2047
    assert gcp.line.values[0] == 0 and gcp.line.values[-1] >= 3 * 1501 - 1
    assert gcp.azimuth_time.values[0] <= ds.azimuth_time.values[0]
    assert gcp.azimuth_time.values[-1] >= ds.azimuth_time.values[-1]
    assert gcp.azimuth_time.values[-2] < ds.azimuth_time.values[-1]  # one row beyond, no more
    assert not np.isnan(gcp.latitude.values).any()
    template = {}
    for p in _template_annotation().iter("geolocationGridPoint"):
        template[int(p.findtext("line")), int(p.findtext("pixel"))] = float(p.findtext("latitude"))
    for p in ann.iter("geolocationGridPoint"):
        assert template[int(p.findtext("line")), int(p.findtext("pixel"))] == float(p.findtext("latitude"))


def test_first_burst_offset_and_last_template_burst(tmp_path):
    """Bursts 7..8 (the template's last) re-based to line 0; narrow crop."""
    p = simulate_product(tmp_path, n_bursts=2, first_burst=7, n_samples=1200, polarisations=("VH",))
    assert p.first_line == 7 * 1501
    template_times = [np.datetime64(b.findtext("azimuthTime"), "ns")
                      for b in _template_annotation("vh").findall("swathTiming/burstList/burst")]
    ds = _open(p, "IW1/VH")
    assert ds.measurement.shape == (2 * 1501, 1200)
    np.testing.assert_array_equal(ds.azimuth_time.values[::1501], template_times[7:9])
    gcp = _open(p, "IW1/VH/gcp")
    assert gcp.line.values.tolist() == [0, 1501, 3001]  # ESA's last row is the last line
    assert gcp.azimuth_time.values[-1] >= ds.azimuth_time.values[-1] - GRID_TIME_OFFSET
    cal = _open(p, "IW1/VH/calibration")
    assert cal.line.values[0] <= 0 and cal.line.values[-1] >= 3001
    root = _open(p)
    assert root.attrs["transmitter_receiver_polarisations"] == ["VH"]
    assert "_1SVH_" in p.name


# --------------------------------------------------------------------------------------
# Pixels


def test_measurement_tiff_layout(product):
    path = product.path / product.files["VV"]["measurement"]
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert tif.byteorder == "<" and not tif.is_bigtiff
        assert page.compression == 1 and page.rowsperstrip == 1
        assert page.tags["SampleFormat"].value == 5 and page.tags["BitsPerSample"].value == 32
        assert page.tags["SamplesPerPixel"].value == 1
        offsets = np.asarray(page.dataoffsets)
        counts = np.asarray(page.databytecounts)
        assert (counts == 2048 * 4).all()
        assert (offsets[1:] == offsets[:-1] + counts[:-1]).all()  # contiguous, in row order
        tie = np.asarray(page.tags["ModelTiepointTag"].value).reshape(-1, 6)
        assert page.tags["GeoKeyDirectoryTag"].value[:4] == (1, 1, 0, len(page.tags["GeoKeyDirectoryTag"].value) // 4 - 1)
    assert len(tie) == len(list(_annotation(product, "VV").iter("geolocationGridPoint")))
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "complex_int16"
        gcps, crs = src.gcps
        assert crs.to_epsg() == 4326 and len(gcps) == len(tie)
    assert not list((product.path / "measurement").glob("*.aux.xml"))


@pytest.mark.parametrize("pol", ["VV", "VH"])
def test_byte_offsets_are_exact(product, pol):
    """A burst is ONE byte range at the annotation's byteOffset: raw CInt16 bytes equal
    what rasterio (through xarray-sentinel) decodes."""
    ds = _open(product, f"IW1/{pol}")
    bursts = _annotation(product, pol).findall("swathTiming/burstList/burst")
    offsets = [int(b.findtext("byteOffset")) for b in bursts]
    assert offsets == product.byte_offsets[pol]
    path = product.path / product.files[pol]["measurement"]
    nbytes = 1501 * 2048 * 4
    with open(path, "rb") as f:
        for k, off in enumerate(offsets):
            f.seek(off)
            raw = np.frombuffer(f.read(nbytes), dtype="<i2").astype(np.float32)
            dn = (raw[0::2] + 1j * raw[1::2]).reshape(1501, 2048)
            ref = xarray_sentinel.crop_burst_dataset(ds, burst_index=k).measurement.values
            np.testing.assert_array_equal(dn, ref)
    assert offsets[1] - offsets[0] == nbytes


@pytest.mark.parametrize("pol", ["VV", "VH"])
def test_calibrated_intensity_matches_truth(product, pol):
    """E|DN|^2 / A_sigma^2 = sigma0: per default-map patch, the mean of the calibrated
    intensity (xarray-sentinel's own LUT interpolation) equals the mean true sigma0
    within 4 standard errors. Single-look speckle: I = sigma0 * X, X ~ Exp(1), so the
    standard error of a mean over N pixels is sqrt(sum sigma0^2) / N."""
    ds = _open(product, f"IW1/{pol}")
    cal = _open(product, f"IW1/{pol}/calibration")
    truth = product.sigma0_truth[pol]
    valid = product.valid_mask
    lines, samples = np.meshgrid(np.arange(truth.shape[0]) + product.first_line,
                                 np.arange(truth.shape[1]), indexing="ij")
    np.testing.assert_allclose(truth[valid], default_sigma0(pol, lines, samples)[valid], rtol=1e-6)
    assert (truth[~valid] == 0).all()

    intensity = np.empty(truth.shape, np.float64)
    for k in range(product.n_bursts):
        burst = xarray_sentinel.crop_burst_dataset(ds, burst_index=k)
        a = xarray_sentinel.calibrate_intensity(burst.measurement, cal.sigmaNought)
        intensity[k * 1501:(k + 1) * 1501] = a.values
        lut_xr = cal.sigmaNought.interp(line=burst.line, pixel=burst.pixel).values
        lut_ours = product.sigma_lut[pol].interpolate(burst.line.values, burst.pixel.values)
        np.testing.assert_allclose(lut_ours, lut_xr, rtol=1e-5)
    assert not np.isnan(intensity).any()
    assert (intensity[~valid] == 0).all()

    # regions = the map's patches (patch row i, column j), valid pixels only
    region = (lines // PATCH_LINES) * 1000 + samples // PATCH_SAMPLES
    ids, inv = np.unique(region[valid], return_inverse=True)
    n = np.bincount(inv)
    t = truth[valid].astype(np.float64)
    mean_i = np.bincount(inv, intensity[valid]) / n
    mean_t = np.bincount(inv, t) / n
    se = np.sqrt(np.bincount(inv, t**2)) / n
    big = n >= 50_000
    assert big.sum() >= 8
    assert (np.abs(mean_i - mean_t)[big] < 4 * se[big]).all(), (mean_i[big], mean_t[big], se[big])
    classes = default_patch_class(ids // 1000 * PATCH_LINES, ids % 1000 * PATCH_SAMPLES)
    assert len(set(classes[big].tolist())) >= 5  # several distinct patch classes tested
    lo, hi = (0.05, 0.3) if pol == "VV" else (0.005, 0.05)
    assert lo <= truth[valid].min() and truth[valid].max() <= hi

    # fully developed single-look speckle: normalised intensity ~ Exp(1) (mean 1, CV 1)
    x = intensity[valid] / truth[valid]
    assert abs(x.mean() - 1) < 4 / np.sqrt(x.size)
    assert abs(x.std() - 1) < 0.01


def test_custom_sigma0_mapping_and_reproducibility(tmp_path):
    flat = {"VV": lambda line, sample: np.full(line.shape, 0.2)}
    a = simulate_product(tmp_path / "a", n_bursts=1, n_samples=1024, polarisations=("VV",),
                         sigma0=flat, seed=3)
    b = simulate_product(tmp_path / "b", n_bursts=1, n_samples=1024, polarisations=("VV",),
                         sigma0=lambda pol, line, sample: 0.2 + 0 * line, seed=3)
    c = simulate_product(tmp_path / "c", n_bursts=1, n_samples=1024, polarisations=("VV",),
                         sigma0=flat, seed=4)
    np.testing.assert_array_equal(a.sigma0_truth["VV"][a.valid_mask], np.float32(0.2))
    assert a.name == b.name  # the name's CRC is of the manifest, which holds every file's MD5
    for rel in (a.files["VV"]["measurement"], a.files["VV"]["annotation"], "manifest.safe"):
        assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes()
    assert a.name != c.name  # another seed, other pixels


def test_invalid_arguments(tmp_path):
    with pytest.raises(NotImplementedError):
        simulate_product(tmp_path, add_noise=True)
    with pytest.raises(ValueError, match="not in the template"):
        simulate_product(tmp_path, n_bursts=3, first_burst=8)
    with pytest.raises(ValueError, match="IW1/HH"):
        simulate_product(tmp_path, polarisations=("HH",))
    with pytest.raises(ValueError, match="12-day"):
        simulate_product(tmp_path, date_shift_days=6)
    with pytest.raises(ValueError, match="n_samples"):
        simulate_product(tmp_path, n_samples=30000)
    assert not list(tmp_path.iterdir())  # nothing left behind


# --------------------------------------------------------------------------------------
# Zip and dates


def test_zip_product_through_fsspec(tmp_path):
    p = simulate_product(tmp_path, n_bursts=2, n_samples=1024, as_zip=True)
    assert p.path == tmp_path / f"{p.name}.zip" and p.is_zip
    assert sorted(x.name for x in tmp_path.iterdir()) == [f"{p.name}.zip"]
    with zipfile.ZipFile(p.path) as zf:
        names = zf.namelist()
        assert {n.split("/")[0] for n in names} == {p.safe_name}
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        manifest = zf.read(f"{p.safe_name}/manifest.safe")
    # manifest checksums are the MD5 of the zipped files
    fs = fsspec.filesystem("zip", fo=str(p.path))
    for obj in etree.fromstring(manifest).iter("dataObject"):
        href = obj.find(".//fileLocation").get("href")
        data = fs.cat_file(f"{p.safe_name}/{href[2:]}")
        assert hashlib.md5(data).hexdigest() == obj.findtext(".//checksum")
        assert len(data) == int(obj.find("byteStream").get("size"))

    # metadata groups through a zip filesystem, and through a chained URL
    root = xr.open_dataset(p.safe_name, engine="sentinel-1", fs=fs)
    assert {"IW1/VV", "IW1/VH"} <= set(root.attrs["subgroups"])
    for sub in ("calibration", "noise_range", "noise_azimuth", "gcp", "orbit"):
        assert xr.open_dataset(f"{p.safe_name}/manifest.safe", engine="sentinel-1",
                               group=f"IW1/VH/{sub}", fs=fs).sizes
    url = f"zip://{p.safe_name}/manifest.safe::file://{p.path}"
    cal = xr.open_dataset(url, engine="sentinel-1", group="IW1/VV/calibration")
    assert cal.sigmaNought.shape[1] == 27  # pixels 0..1040: 0..1000 by 40 plus 1040

    # measurement bytes through the zip member: burst k at byteOffset, as tifffile decodes
    member = f"{p.safe_name}/{p.files['VV']['measurement']}"
    with fs.open(member, "rb") as f, tifffile.TiffFile(f) as tif:
        full = tif.asarray()
    for k, off in enumerate(p.byte_offsets["VV"]):
        raw = np.frombuffer(fs.cat_file(member, start=off, end=off + 1501 * 1024 * 4), "<i2")
        np.testing.assert_array_equal(raw[0::2].reshape(1501, 1024), full.real[k * 1501:(k + 1) * 1501])
        np.testing.assert_array_equal(raw[1::2].reshape(1501, 1024), full.imag[k * 1501:(k + 1) * 1501])


def test_project_reader_reads_simulated_zip(tmp_path):
    """The pipeline's own reader (ranged burst reads) on a simulated zip product."""
    from alignsar_core.products.sentinel1 import list_bursts, open_product, read_burst_lines

    p = simulate_product(tmp_path, n_bursts=2, n_samples=1024, as_zip=True)
    opened = open_product(str(p.path))
    bursts = list_bursts(opened)
    assert [b.burst_index for b in bursts] == [0, 1]
    assert bursts[0].polarisations == ("VV", "VH")
    assert bursts[1].first_line_time == p.burst_times[1]
    for b in bursts:
        dn = read_burst_lines(opened, b, "VH")
        truth = p.sigma0_truth["VH"][b.line_offset:b.line_offset + 1501]
        lut = p.sigma_lut["VH"].interpolate(np.arange(1501) + b.line_offset, np.arange(1024))
        inten = np.abs(dn) ** 2 / lut**2
        valid = truth > 0
        assert abs(inten[valid].mean() / truth[valid].mean() - 1) < 0.01


def test_two_dates(tmp_path):
    kw = dict(n_bursts=1, n_samples=1024, polarisations=("VV",))
    d0 = simulate_product(tmp_path, date_shift_days=0, **kw)
    d1 = simulate_product(tmp_path, date_shift_days=12, **kw)
    assert d0.name != d1.name and "_20210413T" in d1.name
    assert d1.absolute_orbit - d0.absolute_orbit == 175
    assert d1.relative_orbit == d0.relative_orbit == 168
    r0, r1 = _open(d0), _open(d1)
    assert r1.attrs["orbit_number"] - r0.attrs["orbit_number"] == 175
    assert r1.attrs["relative_orbit_number"] == r0.attrs["relative_orbit_number"]
    assert (np.datetime64(r1.attrs["ascending_node_time"]) - np.datetime64(r0.attrs["ascending_node_time"])
            == np.timedelta64(12, "D"))
    a0, a1 = _annotation(d0, "VV"), _annotation(d1, "VV")
    anx = [[b.findtext("azimuthAnxTime") for b in a.iter("burst")] for a in (a0, a1)]
    assert anx[0] == anx[1]
    t0, t1 = (_open(d, "IW1/VV").azimuth_time.values for d in (d0, d1))
    assert ((t1 - t0) == np.timedelta64(12, "D")).all()
    o0, o1 = (_open(d, "IW1/VV/orbit") for d in (d0, d1))
    np.testing.assert_array_equal(o0.position.values, o1.position.values)
    assert ((o1.azimuth_time.values - o0.azimuth_time.values) == np.timedelta64(12, "D")).all()
    # every date in every XML file moved
    for rel in ("manifest.safe", d1.files["VV"]["annotation"], d1.files["VV"]["calibration"],
                d1.files["VV"]["noise"]):
        assert b"2021-04-01" not in (d1.path / rel).read_bytes()
    # same seed: the same speckle (a fully coherent pair)
    m0, m1 = (_open(d, "IW1/VV").measurement.values for d in (d0, d1))
    np.testing.assert_array_equal(m0, m1)


@pytest.mark.slow
def test_full_width_burst(tmp_path):
    """Full swath width (21632 samples): LUTs and grid are the template's, complete."""
    p = simulate_product(tmp_path, n_bursts=1, first_burst=4, n_samples=21632, polarisations=("VV",))
    ds = _open(p, "IW1/VV")
    assert ds.measurement.shape == (1501, 21632)
    cal = _open(p, "IW1/VV/calibration")
    assert cal.pixel.size == 542 and cal.pixel.values[-1] == 21631
    gcp = _open(p, "IW1/VV/gcp")
    assert gcp.pixel.size == 21 and gcp.pixel.values[-1] == 21631
    assert gcp.line.values.tolist() == [0, 1501, 3002]
    ann = _annotation(p, "VV")
    noise = etree.parse(str(p.path / p.files["VV"]["noise"])).getroot()
    assert noise.findtext(".//noiseAzimuthVector/lastRangeSample") == "21631"
    assert noise.findtext(".//noiseAzimuthVector/lastAzimuthLine") == "1500"
    assert int(ann.findtext("imageAnnotation/imageInformation/numberOfSamples")) == 21632
    (off,) = p.byte_offsets["VV"]
    with open(p.path / p.files["VV"]["measurement"], "rb") as f:
        f.seek(off + 700 * 21632 * 4)
        raw = np.frombuffer(f.read(21632 * 4), "<i2")
    row = ds.measurement[700].values
    np.testing.assert_array_equal(raw[0::2], row.real)
    np.testing.assert_array_equal(raw[1::2], row.imag)
    assert (row != 0).mean() > 0.9
