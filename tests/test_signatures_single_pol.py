import numpy as np
import pytest
import xarray as xr
import xarray_sentinel

from alignsar_core.calibration import CalibrationLut, NoiseLut
from alignsar_core.products.sentinel1 import open_product
from alignsar_core.signatures import ATTRS, single_pol as sp

from ._shared import S1_PRODUCT, needs_shared


@pytest.fixture(scope="module")
def real_groups():
    product = open_product(str(S1_PRODUCT), metadata_only=True, allow_partial=True)
    return {g: product.open_group(f"IW1/VV/{g}") for g in ("calibration", "noise_range", "noise_azimuth")}


def _dn(rng, n, m, scale=150.0):
    return ((rng.normal(size=(n, m)) + 1j * rng.normal(size=(n, m))) * scale).astype(np.complex64)


@needs_shared
def test_sigma_beta_gamma_match_xarray_sentinel_on_the_real_lut(real_groups):
    cal = real_groups["calibration"]
    rng = np.random.default_rng(5)
    line0, n, m = 1501, 200, 3000  # the second burst, samples from 9000: real LUT variation
    dn = _dn(rng, n, m)
    lines, pixels = np.arange(n) + line0, np.arange(m) + 9000
    luts = [CalibrationLut.from_xarray_sentinel(cal, k) for k in ("sigma0", "beta0", "gamma0")]
    ours = sp.calibrated_intensity(dn, luts, lines, pixels)
    ours_db = sp.backscatter_db(ours)
    da = xr.DataArray(dn, dims=("line", "pixel"), coords={"line": lines, "pixel": pixels})
    for name, var in (("sigma0", "sigmaNought"), ("beta0", "betaNought"), ("gamma0", "gamma")):
        ref = xarray_sentinel.calibrate_intensity(da, cal[var]).values
        np.testing.assert_allclose(ours[name], ref, rtol=1e-5)
        np.testing.assert_allclose(ours_db[f"{name}_db"], 10 * np.log10(ref), atol=1e-4)
    # one LUT -> one array, the same numbers
    np.testing.assert_array_equal(sp.calibrated_intensity(dn, luts[0], lines, pixels), ours["sigma0"])
    # complex calibration: |DN / A|^2 is sigma0, the phase is the SLC phase
    z = sp.calibrated_complex(dn, luts[0], lines, pixels)
    np.testing.assert_allclose(np.abs(z) ** 2, ours["sigma0"], rtol=1e-5)
    np.testing.assert_allclose(np.angle(z), np.angle(dn), atol=1e-6)


@needs_shared
def test_thermal_noise_removal_on_the_real_noise_luts(real_groups):
    cal, nr, na = real_groups["calibration"], real_groups["noise_range"], real_groups["noise_azimuth"]
    noise = NoiseLut.from_xarray_sentinel(nr, na)
    assert noise.azimuth_values is not None  # IPF >= 2.9: range x azimuth vectors
    lut = CalibrationLut.from_xarray_sentinel(cal, "sigma0")
    rng = np.random.default_rng(2)
    n, m = 120, 2500
    lines, pixels = np.arange(n) + 3002 + 700, np.arange(m) * 8  # sparse pixels across the swath
    # independent truth: xarray's own linear interpolation of both vectors
    n_ref = (nr.noiseRangeLut.interp(line=lines, pixel=pixels)
             * na.noiseAzimuthLut.interp(line=lines)).values
    np.testing.assert_allclose(noise.interpolate(lines, pixels), n_ref, rtol=1e-5)
    a_ref = cal.sigmaNought.interp(line=lines, pixel=pixels).values
    dn = _dn(rng, n, m, scale=20.0)  # |DN|^2 ~ 800, comparable to the noise (~500): some negatives
    p = np.abs(dn.astype(np.complex128)) ** 2
    clipped = sp.calibrated_intensity(dn, lut, lines, pixels, noise=noise)
    with_nan = sp.calibrated_intensity(dn, lut, lines, pixels, noise=noise, negative="nan")
    expected = (p - n_ref) / a_ref ** 2
    neg = expected < 0
    assert 0.1 < neg.mean() < 0.9
    np.testing.assert_allclose(clipped[~neg], expected[~neg], rtol=1e-4, atol=1e-9)
    assert (clipped[neg] == 0).all() and np.isnan(with_nan[neg]).all()
    np.testing.assert_array_equal(with_nan[~neg], clipped[~neg])
    assert np.isnan(sp.to_db(clipped)[neg]).all()
    # no azimuth vector (IPF < 2.9): range LUT only
    assert np.allclose(NoiseLut.from_xarray_sentinel(nr).interpolate(lines, pixels),
                       nr.noiseRangeLut.interp(line=lines, pixel=pixels).values, rtol=1e-5)


def test_noise_removal_closed_form_and_valid_area():
    lut = CalibrationLut("sigma0", lines=np.array([0, 10]), pixels=np.array([0, 10]), values=np.full((2, 2), 10.0))
    noise = NoiseLut(CalibrationLut("noise", lines=np.array([0, 10]), pixels=np.array([0, 10]),
                                    values=np.array([[0.0, 20.0], [20.0, 40.0]])),
                     azimuth_lines=np.array([0, 10]), azimuth_values=np.array([1.0, 3.0]))
    dn = np.full((11, 11), 6 + 8j, dtype=np.complex64)  # |DN|^2 = 100
    lines = pixels = np.arange(11)
    n_true = (2.0 * lines[:, None] + 2.0 * pixels[None, :]) * (1.0 + 0.2 * lines[:, None])
    out = sp.calibrated_intensity(dn, lut, lines, pixels, noise=noise,
                                  valid_rows=np.arange(11) != 3, valid_samples=(1, 9))
    expected = np.maximum(100.0 - n_true, 0.0) / 100.0
    inside = np.ones((11, 11), bool)
    inside[3] = False
    inside[:, [0, 10]] = False
    np.testing.assert_allclose(out[inside], expected[inside], rtol=1e-5, atol=1e-7)
    assert np.isnan(out[~inside]).all()
    assert (out[inside] == 0).any()  # the noise exceeds the signal at the far corner


def test_amplitude_intensity_phase_and_db():
    s = np.array([[3 + 4j, -1 + 0j, -1 - 0j, 0j], [1j, -1j, 1e-30 - 1j * 1e-38, -1 - 1e-38j]], dtype=np.complex64)
    np.testing.assert_allclose(sp.amplitude(s), np.abs(s))
    np.testing.assert_allclose(sp.intensity(s), np.abs(s) ** 2, rtol=1e-6)
    ph = sp.slc_phase(s)
    np.testing.assert_allclose(ph[0, :2], [np.arctan2(4, 3), np.pi], rtol=1e-6)
    assert ph[0, 2] == np.float32(np.pi)  # -1 - 0j: -pi mapped to +pi
    assert (ph > -np.pi).all() and (ph <= np.float32(np.pi)).all()
    db = sp.to_db(np.array([1.0, 100.0, 0.0, -1.0, np.nan], np.float32))
    np.testing.assert_allclose(db[:2], [0.0, 20.0])
    assert np.isnan(db[2:]).all()


def test_interferometric_phase_removes_the_given_phase_and_wraps():
    rng = np.random.default_rng(0)
    shape = (60, 70)
    th1, th2 = rng.uniform(-np.pi, np.pi, shape), rng.uniform(-np.pi, np.pi, shape)
    removed = rng.uniform(-40, 40, shape)  # many cycles of reference + topographic phase
    amp1, amp2 = rng.uniform(0.5, 2, shape), rng.uniform(0.5, 2, shape)
    s1 = (amp1 * np.exp(1j * th1)).astype(np.complex64)
    s2 = (amp2 * np.exp(1j * th2)).astype(np.complex64)
    phi = sp.interferometric_phase(s1, s2, removed.astype(np.float32))
    assert phi.dtype == np.float32 and phi.shape == shape
    assert (phi > -np.pi).all() and (phi <= np.float32(np.pi)).all()
    d = np.angle(np.exp(1j * (phi - (th1 - th2 - removed))))
    assert np.abs(d).max() < 5e-5  # float32 removed phase of up to 40 rad: ~4e-6 rad rounding
    raw = sp.interferometric_phase(s1, s2)
    np.testing.assert_allclose(np.angle(np.exp(1j * (raw - (th1 - th2)))), 0, atol=2e-6)
    z = sp.interferogram(s1, s2, removed.astype(np.float32))
    np.testing.assert_allclose(np.angle(z), phi, atol=2e-6)
    # exactly opposite phases give +pi, not -pi
    assert sp.interferometric_phase(np.array([-1 + 0j]), np.array([1 + 0j]))[0] == np.float32(np.pi)
    wrapped = sp.wrap_phase(np.array([np.pi, -np.pi, 3 * np.pi, 0.5, -7.0]))
    np.testing.assert_allclose(wrapped, np.float32([np.pi, np.pi, np.pi, 0.5, -7.0 + 2 * np.pi]), rtol=1e-6)


def test_every_single_pol_output_has_attributes():
    for name in ("amplitude", "intensity", "slc_phase", "sigma0", "sigma0_db", "beta0", "beta0_db",
                 "gamma0", "gamma0_db", "interferometric_phase"):
        assert {"units", "long_name", "formula", "reference"} <= set(ATTRS[name])
