import warnings

import numpy as np
import pytest

from alignsar_core.signatures import ATTRS, polarimetric as pol, soil_moisture as smi
from alignsar_core.signatures.window import apply_in_tiles, halo_for


def _cgauss(rng, shape):
    return ((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)).astype(np.complex64)


def _dipole_cloud(rng, shape, n_dipoles=24):
    """HH, HV, VV of a random volume of thin dipoles (orientation uniform in the plane
    of polarisation, random phase): E|HH|^2 = E|VV|^2 = 3/8, E|HV|^2 = 1/8 per dipole."""
    th = rng.uniform(0, np.pi, (n_dipoles,) + shape)
    amp = _cgauss(rng, (n_dipoles,) + shape) / np.sqrt(n_dipoles)
    c, s = np.cos(th), np.sin(th)
    return ((amp * c * c).sum(0).astype(np.complex64), (amp * s * c).sum(0).astype(np.complex64),
            (amp * s * s).sum(0).astype(np.complex64))


# ---------------------------------------------------------------------------- dual-pol


def test_fully_polarised_wave_has_zero_entropy():
    rng = np.random.default_rng(0)
    vv = _cgauss(rng, (40, 50))
    k = 0.5 * np.exp(0.7j)
    vh = (k * vv).astype(np.complex64)  # the cross-pol channel is a fixed multiple: rank-1 C2
    c11, c22, c12 = pol.c2(vv, vh, (5, 5))
    h, alpha = pol.dual_pol_h_alpha(c11, c22, c12)
    assert h.max() < 1e-4
    np.testing.assert_allclose(alpha, np.degrees(np.arctan(abs(k))), atol=2e-3)  # e1 = (1, k*) / norm
    np.testing.assert_allclose(pol.degree_of_polarisation(c11, c22, c12), 1.0, atol=1e-5)
    np.testing.assert_allclose(pol.dprvi(c11, c22, c12), 0.0, atol=1e-5)


def test_two_independent_equal_power_channels_entropy_one_alpha_45():
    one = np.ones((3,), np.float32)
    h, a = pol.dual_pol_h_alpha(one, one, np.zeros(3, np.complex64))  # C2 = identity
    np.testing.assert_allclose(h, 1.0, atol=1e-6)
    np.testing.assert_allclose(a, 45.0, atol=1e-5)
    assert np.allclose(pol.dprvi(one, one, np.zeros(3, np.complex64)), 1.0)
    # simulated: two independent unit-power speckle channels, 15 x 15 looks
    rng = np.random.default_rng(1)
    vv, vh = _cgauss(rng, (300, 300)), _cgauss(rng, (300, 300))
    d = pol.dual_pol_decomposition(*pol.c2(vv, vh, (15, 15)))
    assert d["entropy_dual"][7:-7, 7:-7].mean() > 0.99
    assert abs(d["alpha_dual"][7:-7, 7:-7].mean() - 45.0) < 0.5
    assert d["dprvi"][7:-7, 7:-7].mean() > 0.9


def test_closed_form_eigen_decomposition_equals_eigh():
    rng = np.random.default_rng(2)
    c11, c22 = rng.exponential(size=(2, 500)).astype(np.float32)
    c12 = (np.sqrt(c11 * c22) * rng.uniform(0, 1, 500) * np.exp(1j * rng.uniform(-3, 3, 500))).astype(np.complex64)
    m = np.zeros((500, 2, 2), complex)
    m[:, 0, 0], m[:, 1, 1], m[:, 0, 1], m[:, 1, 0] = c11, c22, c12, np.conj(c12)
    w, v = np.linalg.eigh(m)
    w, v = w[:, ::-1], v[:, :, ::-1]
    l1, l2 = pol.dual_pol_eigenvalues(c11, c22, c12)
    np.testing.assert_allclose(l1, w[:, 0], rtol=1e-5)
    np.testing.assert_allclose(l2, w[:, 1], rtol=2e-4, atol=1e-6)
    p = w / w.sum(1, keepdims=True)
    h_ref = -(p * np.log2(p)).sum(1)
    a_ref = (p * np.degrees(np.arccos(np.abs(v[:, 0, :])))).sum(1)
    h, a = pol.dual_pol_h_alpha(c11, c22, c12)
    np.testing.assert_allclose(h, h_ref, atol=2e-5)
    np.testing.assert_allclose(a, a_ref, atol=5e-3)
    # DpRVI closed form: C2 = diag(2, 1): m = 1/3, beta = 2/3 -> 1 - 2/9
    assert pol.dprvi(np.float32([2]), np.float32([1]), np.complex64([0]))[0] == pytest.approx(7 / 9, rel=1e-6)


def test_rvi_of_a_random_volume_is_one():
    assert pol.rvi_dual(np.float32(3.0), np.float32(1.0)) == pytest.approx(1.0)
    assert pol.rvi_quad(np.float32(3 / 8), np.float32(1 / 8), np.float32(3 / 8)) == pytest.approx(1.0)
    hh, hv, vv = _dipole_cloud(np.random.default_rng(3), (200, 200))
    i_hh, i_hv, i_vv = (np.abs(x) ** 2 for x in (hh, hv, vv))
    assert pol.rvi_dual(i_vv.mean(), i_hv.mean()) == pytest.approx(1.0, abs=0.02)
    assert pol.rvi_quad(i_hh.mean(), i_hv.mean(), i_vv.mean()) == pytest.approx(1.0, abs=0.02)
    assert pol.rvi_dual(np.float32(1.0), np.float32(0.0)) == 0.0  # bare surface: no cross-pol


def test_sums_differences_ratios_and_cross_product():
    a, b = np.float32([4.0, 2.0, 0.0]), np.float32([1.0, 2.0, 1.0])
    np.testing.assert_array_equal(pol.intensity_sum(a, b), [5, 4, 1])
    np.testing.assert_array_equal(pol.intensity_difference(a, b), [3, 0, -1])
    r = pol.intensity_ratio(b, a)
    np.testing.assert_allclose(r[:2], [0.25, 1.0])
    assert np.isnan(r[2])
    np.testing.assert_allclose(pol.intensity_ratio(b, a, db=True)[:2], [10 * np.log10(0.25), 0.0], atol=1e-6)
    np.testing.assert_allclose(pol.cross_product(np.complex64([1 + 2j]), np.complex64([3 - 1j])), [(1 + 2j) * (3 + 1j)])


def test_c2_windowed_products_tile_exactly_with_the_halo():
    rng = np.random.default_rng(4)
    vv, vh = _cgauss(rng, (130, 170)), _cgauss(rng, (130, 170))
    window = (5, 7)

    def f(a, b):
        c11, c22, c12 = pol.c2(a, b, window)
        d = pol.dual_pol_decomposition(c11, c22, c12)
        return (c11, c22, c12, d["entropy_dual"], d["alpha_dual"], d["dprvi"])

    whole = f(vv, vh)
    for w_, t_ in zip(whole, apply_in_tiles(f, [vv, vh], halo_for(window), (50, 60))):
        np.testing.assert_array_equal(w_, t_)
    # C12 at an interior pixel is the mean of s_co s_cross* over the 5 x 7 window
    np.testing.assert_allclose(whole[2][60, 80], np.mean(vv[58:63, 77:84] * np.conj(vh[58:63, 77:84])), rtol=1e-5)


# ---------------------------------------------------------------------------- quad-pol


def test_cloude_pottier_closed_forms():
    def t3_of(hh, hv, vv):
        k = pol.pauli_vector(np.complex64([hh]), np.complex64([hv]), np.complex64([hv]), np.complex64([vv]))[:, 0]
        return np.outer(k, np.conj(k))[None]

    h, a, al = pol.cloude_pottier(t3_of(1, 0, 1))  # trihedral (odd bounce)
    assert h[0] < 1e-6 and al[0] == pytest.approx(0.0, abs=1e-3)
    h, a, al = pol.cloude_pottier(t3_of(1, 0, -1))  # dihedral (even bounce)
    assert h[0] < 1e-6 and al[0] == pytest.approx(90.0, abs=1e-3)
    h, a, al = pol.cloude_pottier(t3_of(1, 0, 0))  # horizontal dipole
    assert h[0] < 1e-6 and al[0] == pytest.approx(45.0, abs=1e-3)
    # random volume of dipoles: T3 = diag(1/2, 1/4, 1/4)
    h, a, al = pol.cloude_pottier(np.diag([0.5, 0.25, 0.25]).astype(np.complex64)[None])
    assert h[0] == pytest.approx(1.5 * np.log(2) / np.log(3), abs=1e-6)
    assert a[0] == pytest.approx(0.0, abs=1e-6) and al[0] == pytest.approx(45.0, abs=1e-4)
    h, a, al = pol.cloude_pottier(np.eye(3, dtype=np.complex64)[None] * 2)  # fully random
    assert h[0] == pytest.approx(1.0) and al[0] == pytest.approx(60.0, abs=1e-4)
    h, a, al = pol.cloude_pottier(np.full((1, 3, 3), np.nan, np.complex64))
    assert np.isnan(h).all() and np.isnan(al).all()


def test_quad_pol_random_volume_t3_and_pauli():
    hh, hv, vv = _dipole_cloud(np.random.default_rng(5), (120, 160))
    t = pol.t3(hh, hv, hv, vv, (7, 7))
    assert t.shape == (120, 160, 3, 3)
    np.testing.assert_allclose(t, np.conj(np.swapaxes(t, -1, -2)), atol=1e-7)  # Hermitian
    mean_t = t[3:-3, 3:-3].mean(axis=(0, 1))
    np.testing.assert_allclose(mean_t, np.diag([0.5, 0.25, 0.25]), atol=0.02)
    h, a, al = pol.cloude_pottier(mean_t[None])
    assert h[0] == pytest.approx(0.946, abs=0.02) and al[0] == pytest.approx(45.0, abs=1.5)
    h_px, _, al_px = pol.cloude_pottier(t)  # 49 looks per pixel: entropy biased low, alpha kept
    assert 0.8 < np.nanmean(h_px) < 0.946 and abs(np.nanmean(al_px) - 45) < 3
    p = pol.pauli_components(hh, hv, hv, vv)
    np.testing.assert_allclose(p[0], np.abs(hh + vv) ** 2 / 2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p[2], 2 * np.abs(hv) ** 2, rtol=1e-5, atol=1e-7)
    pw = pol.pauli_components(hh, hv, hv, vv, window=(7, 7))
    np.testing.assert_allclose(pw, np.moveaxis(np.real(np.diagonal(t, axis1=-2, axis2=-1)), -1, 0), rtol=1e-5, atol=1e-7)
    f = lambda *x: tuple(pol.cloude_pottier(pol.t3(*x, (3, 5))))  # noqa: E731
    for w_, t_ in zip(f(hh, hv, hv, vv), apply_in_tiles(f, [hh, hv, hv, vv], halo_for((3, 5)), (50, 64))):
        np.testing.assert_array_equal(w_, t_)


# ---------------------------------------------------------------------------- soil moisture


def test_change_detection_soil_moisture():
    rng = np.random.default_rng(6)
    t, shape = 40, (20, 30)
    m_true = rng.uniform(0, 1, (t,) + shape)
    m_true[0], m_true[1] = 0.0, 1.0  # each pixel reaches both extremes
    dry, wet = rng.uniform(-20, -15, shape), rng.uniform(-10, -6, shape)
    s0 = (dry + (wet - dry) * m_true).astype(np.float32)
    ms, d, w = smi.relative_soil_moisture(s0, 0, 100, return_references=True)
    np.testing.assert_allclose(ms, m_true, atol=1e-5)
    np.testing.assert_allclose(d, dry, atol=1e-5)
    # default 5 / 95 percentiles: numpy's percentile, clipped to [0, 1]
    ms = smi.relative_soil_moisture(s0)
    lo, hi = np.percentile(s0, [5, 95], axis=0)
    np.testing.assert_allclose(ms, np.clip((s0 - lo) / (hi - lo), 0, 1), atol=1e-5)
    assert ms.min() == 0.0 and ms.max() == 1.0
    # NaN dates are left out of the references; too few dates or no range -> NaN
    s0[rng.uniform(size=s0.shape) < 0.3] = np.nan
    s0[:, 0, 0] = np.nan
    s0[:-2, 0, 1] = np.nan
    s0[:, 0, 2] = -12.0
    ref = smi.reference_levels(s0, (5, 95))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixel
        expected = np.nanpercentile(s0, [5, 95], axis=0)
    expected[:, 0, :2] = np.nan
    np.testing.assert_allclose(ref, expected, atol=1e-5)
    ms = smi.relative_soil_moisture(s0)
    assert np.isnan(ms[:, 0, :3]).all()
    assert np.isnan(ms[np.isnan(s0)]).all()
    assert np.nanmin(ms) >= 0 and np.nanmax(ms) <= 1


def test_every_multi_pol_output_has_attributes():
    for name in ("c11", "c22", "c12", "entropy_dual", "alpha_dual", "dprvi", "rvi_dual", "t3", "entropy",
                 "anisotropy", "alpha", "pauli", "rvi_quad", "soil_moisture_index", "intensity_ratio"):
        assert {"units", "long_name", "formula", "reference"} <= set(ATTRS[name])
