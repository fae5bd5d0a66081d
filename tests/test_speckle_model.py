import numpy as np
import pytest

from alignsar_core.simulate.speckle import band_limit, correlated_speckle, temporal_coherence


def coh(a, b):
    return np.abs(np.vdot(a, b)) / np.sqrt(np.vdot(a, a).real * np.vdot(b, b).real)


def test_sample_coherence_follows_the_temporal_model_and_pol_correlation():
    rng = np.random.default_rng(3)
    days = np.array([0.0, 12.0, 24.0, 60.0])
    g0, ginf, tau, rho = 0.9, 0.3, 20.0, 0.4 + 0.2j
    a = correlated_speckle((200_000,), days, g0, ginf, tau, rng, n_channels=2, rho=rho)
    assert a.shape == (4, 2, 200_000) and a.dtype == np.complex64
    np.testing.assert_allclose(np.mean(np.abs(a) ** 2, axis=-1), 1.0, atol=0.01)
    for i in range(4):
        for j in range(i + 1, 4):
            expected = temporal_coherence(days[j] - days[i], g0, ginf, tau)
            assert coh(a[i, 0], a[j, 0]) == pytest.approx(expected, abs=0.01)
            assert coh(a[i, 1], a[j, 1]) == pytest.approx(expected, abs=0.01)
    c12 = np.vdot(a[2, 1], a[2, 0]) / a.shape[-1]  # E[VV VH*]
    assert abs(c12 - rho) < 0.01
    # single-look intensity is exponential: coefficient of variation 1
    inten = np.abs(a[0, 0]) ** 2
    assert inten.std() / inten.mean() == pytest.approx(1.0, abs=0.02)


def test_per_pixel_parameters_and_bad_parameters():
    rng = np.random.default_rng(0)
    g0 = np.where(np.arange(100_000) < 50_000, 0.95, 0.1)  # e.g. urban beside water
    a = correlated_speckle((100_000,), np.array([0.0, 6.0]), g0, np.minimum(g0, 0.5), 30.0, rng)
    assert coh(a[0, 0, :50_000], a[1, 0, :50_000]) > 0.85
    assert coh(a[0, 0, 50_000:], a[1, 0, 50_000:]) < 0.15
    with pytest.raises(ValueError):
        correlated_speckle((10,), np.array([0.0]), 0.5, 0.8, 10.0, rng)


def test_band_limit_keeps_power_and_empties_the_outer_band():
    rng = np.random.default_rng(1)
    z = (rng.normal(size=(512, 512)) + 1j * rng.normal(size=(512, 512))).astype(np.complex64) / np.sqrt(2)
    out = band_limit(z, 0.67, 0.70, 0.88, 0.75)
    assert np.mean(np.abs(out) ** 2) == pytest.approx(1.0, rel=0.02)
    spec = np.abs(np.fft.fft2(out)) ** 2
    f0 = np.abs(np.fft.fftfreq(512))
    assert spec[f0 > 0.34].sum() < 1e-6 * spec.sum()
    assert spec[:, f0 > 0.44].sum() < 1e-6 * spec.sum()
