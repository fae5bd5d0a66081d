"""Reader and burst ingestion on simulated products (local files; no server needed)."""

import numpy as np
import pytest
import xarray as xr
import xarray_sentinel

from alignsar_core import store
from alignsar_core.ingest import calibrate_burst_to_zarr
from alignsar_core.products.sentinel1 import (
    ProductError,
    list_bursts,
    open_product,
    read_burst_lines,
    read_burst_pairs,
)
from alignsar_core.simulate import simulate_product

from ._shared import needs_shared

pytestmark = needs_shared


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reader")
    return {
        "safe": simulate_product(tmp / "s", n_bursts=2, n_samples=1536, seed=11),
        "zip": simulate_product(tmp / "z", n_bursts=2, n_samples=1536, seed=11, as_zip=True),
    }


def test_zip_and_safe_give_identical_bursts_with_direct_ranged_reads(products):
    safe = open_product(str(products["safe"].path))
    zipped = open_product(str(products["zip"].path))
    path = zipped.measurement_path("IW1", "VV")
    fs, outer, offset = zipped.byte_source(path)
    assert outer == str(products["zip"].path) and offset > 0  # read the zip object directly
    for bs, bz in zip(list_bursts(safe), list_bursts(zipped)):
        assert bs.burst_id == bz.burst_id and bs.first_line_time == bz.first_line_time
        for pol in ("VV", "VH"):
            a = read_burst_lines(safe, bs, pol)
            np.testing.assert_array_equal(a, read_burst_lines(zipped, bz, pol))
            assert np.abs(a).mean() > 1


def test_burst_pixels_equal_xarray_sentinel(products):
    product = open_product(str(products["safe"].path))
    burst = list_bursts(product)[1]
    ds = xr.open_dataset(str(products["safe"].path), engine="sentinel-1", group="IW1/VH")
    ref = xarray_sentinel.crop_burst_dataset(ds, burst_index=1).measurement.values
    np.testing.assert_array_equal(read_burst_lines(product, burst, "VH"), ref)


def test_calibrated_store_equals_xarray_sentinel_calibrate_intensity(products, tmp_path):
    path = str(products["safe"].path)
    product = open_product(path)
    burst = list_bursts(product)[0]
    out = str(tmp_path / "b.zarr")
    res = calibrate_burst_to_zarr(burst, out, tile_size=(200, 300), product=product)
    assert not res.skipped and res.bytes_read == 2 * burst.lines * burst.samples * 4
    ds = xr.open_zarr(out, consolidated=False)
    assert ds.sigma0.encoding["chunks"] == (1, 200, 300)
    for pol in burst.polarisations:
        meas = xr.open_dataset(path, engine="sentinel-1", group=f"IW1/{pol}")
        dn = xarray_sentinel.crop_burst_dataset(meas, burst_index=0).measurement
        cal = xr.open_dataset(path, engine="sentinel-1", group=f"IW1/{pol}/calibration")
        ref = xarray_sentinel.calibrate_intensity(dn, cal.sigmaNought).values
        ours = ds.sigma0.sel(polarisation=pol).values
        valid = np.isfinite(ours)
        # NaN exactly outside the annotation's valid window
        v = np.zeros_like(valid)
        v[burst.valid_first_line:burst.valid_last_line + 1,
          burst.valid_first_sample:burst.valid_last_sample + 1] = True
        np.testing.assert_array_equal(valid, v)
        np.testing.assert_allclose(ours[valid], ref[valid], rtol=1e-5)
    # a complete store is kept on the next call
    again = calibrate_burst_to_zarr(burst, out, tile_size=(200, 300), product=product)
    assert again.skipped


def test_tile_size_does_not_change_the_numbers(products, tmp_path):
    product = open_product(str(products["zip"].path))
    burst = list_bursts(product)[1]
    a = calibrate_burst_to_zarr(burst, str(tmp_path / "a.zarr"), tile_size=(1501, 1536), product=product)
    b = calibrate_burst_to_zarr(burst, str(tmp_path / "b.zarr"), tile_size=(64, 128), product=product)
    xa = xr.open_zarr(a.store_url, consolidated=False)
    xb = xr.open_zarr(b.store_url, consolidated=False)
    np.testing.assert_array_equal(xa.sigma0.values, xb.sigma0.values)
    assert xb.sigma0.encoding["chunks"] == (1, 64, 128)


def test_failed_write_leaves_nothing(products, tmp_path, monkeypatch):
    product = open_product(str(products["safe"].path))
    burst = list_bursts(product)[0]
    out = str(tmp_path / "fail.zarr")
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk on fire")
        return read_burst_pairs(*args, **kwargs)

    monkeypatch.setattr("alignsar_core.ingest.read_burst_pairs", broken)
    with pytest.raises(OSError, match="disk on fire"):
        calibrate_burst_to_zarr(burst, out, tile_size=(300, 512), product=product)
    assert not (tmp_path / "fail.zarr").exists() and not store.is_complete(out)


def test_truncated_measurement_is_refused_before_writing(products, tmp_path):
    import shutil

    src = products["safe"].path
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    tiff = next((dst / "measurement").glob("*-vv-*.tiff"))
    data = tiff.read_bytes()
    tiff.write_bytes(data[: len(data) // 2])
    product = open_product(str(dst))
    burst = list_bursts(product)[1]  # lies in the lost half
    out = str(tmp_path / "t.zarr")
    with pytest.raises(ProductError, match="truncated"):
        calibrate_burst_to_zarr(burst, out, product=product)
    assert not (tmp_path / "t.zarr").exists()
