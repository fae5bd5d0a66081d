import numpy as np
import pytest
import xarray as xr
import xarray_sentinel
from scipy.interpolate import RegularGridInterpolator

from alignsar_core.calibration import CalibrationLut, calibrate_block
from alignsar_core.products.sentinel1 import open_product

from ._shared import S1_PRODUCT, needs_shared


@pytest.fixture(scope="module")
def real_lut():
    product = open_product(str(S1_PRODUCT), metadata_only=True, allow_partial=True)
    return product.open_group("IW1/VV/calibration")


@needs_shared
def test_separable_lut_equals_bilinear_on_real_lut(real_lut):
    lut = CalibrationLut.from_xarray_sentinel(real_lut, "sigma0")
    lines = np.arange(1501, 3002, 7)
    pixels = np.arange(0, 21632, 13)
    ours = lut.interpolate(lines, pixels)
    ref = RegularGridInterpolator((lut.lines, lut.pixels), lut.values, method="linear")(
        np.stack(np.meshgrid(lines, pixels, indexing="ij"), axis=-1))
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    # the real LUT varies along range, so this is not a trivial constant check
    assert ref.max() / ref.min() > 1.01


@needs_shared
def test_calibrate_block_matches_xarray_sentinel(real_lut):
    rng = np.random.default_rng(1)
    line_offset, n, m = 3002, 300, 5000
    dn = (rng.normal(size=(n, m)) + 1j * rng.normal(size=(n, m))).astype(np.complex64) * 150
    lut = CalibrationLut.from_xarray_sentinel(real_lut, "sigma0")
    lines = np.arange(n) + line_offset
    idx, w = lut.line_weights(lines)
    lin, db = calibrate_block(dn, lut.rows_at_pixels(np.arange(m)), idx, w)
    da = xr.DataArray(dn, dims=("line", "pixel"), coords={"line": lines, "pixel": np.arange(m)})
    ref = xarray_sentinel.calibrate_intensity(da, real_lut.sigmaNought).values
    np.testing.assert_allclose(lin, ref, rtol=1e-5)
    np.testing.assert_allclose(db, 10 * np.log10(ref), atol=1e-4)


def test_calibration_closed_form_and_invalid_area():
    lut = CalibrationLut("sigma0", lines=np.array([-10, 100]), pixels=np.array([0, 50, 100]),
                         values=np.array([[100.0, 200.0, 300.0], [300.0, 400.0, 500.0]]))
    dn = np.full((20, 101), 3 + 4j, dtype=np.complex64)  # |DN|^2 = 25
    lines = np.full(20, 45)  # line 45 is halfway between the LUT vectors at -10 and 100
    idx, w = lut.line_weights(lines)
    valid = np.ones(20, bool)
    valid[:2] = False
    lin, db = calibrate_block(dn, lut.rows_at_pixels(np.arange(101)), idx, w, valid, (5, 90))
    a = 200.0 + 2.0 * np.arange(101)  # bilinear LUT on line 45: mean of the two rows
    np.testing.assert_allclose(lin[2, 5:91], 25.0 / a[5:91] ** 2, rtol=1e-5)
    np.testing.assert_allclose(db[2, 5:91], 10 * np.log10(25.0 / a[5:91] ** 2), atol=1e-4)
    assert np.isnan(lin[:2]).all() and np.isnan(lin[:, :5]).all() and np.isnan(lin[:, 91:]).all()
    zero, zero_db = calibrate_block(np.zeros((1, 101), np.complex64), lut.rows_at_pixels(np.arange(101)),
                                    idx[:1], w[:1])
    assert (zero == 0).all() and np.isnan(zero_db).all()
