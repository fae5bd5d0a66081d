import numpy as np
import pytest

from alignsar_core.resample import kernel_table, resample


def band_limited_noise(shape, fractions, seed=0):
    """Complex Gaussian noise whose spectrum fills ``fractions`` of each axis (oversampled)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    f0 = np.abs(np.fft.fftfreq(shape[0]))[:, None] < fractions[0] / 2
    f1 = np.abs(np.fft.fftfreq(shape[1]))[None, :] < fractions[1] / 2
    return np.fft.ifft2(np.fft.fft2(z) * (f0 & f1)).astype(np.complex64)


def coherence(a, b):
    return np.abs(np.vdot(a, b)) / np.sqrt(np.vdot(a, a).real * np.vdot(b, b).real)


def test_kernel_table_is_normalised_and_exact_at_integer_positions():
    t = kernel_table(8)
    np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)
    assert t[0, 3] == pytest.approx(1.0) and np.abs(np.delete(t[0], 3)).max() < 1e-6
    with pytest.raises(ValueError):
        kernel_table(7)


def test_complex_exponential_is_interpolated_to_closed_form():
    n, m = 64, 80
    fy, fx = 0.17, -0.23  # cycles per sample, well inside the band
    y, x = np.mgrid[0:n, 0:m]
    src = np.exp(2j * np.pi * (fy * y + fx * x)).astype(np.complex64)
    daz, drg = 0.3137, -0.6421
    truth = np.exp(2j * np.pi * (fy * (y + daz) + fx * (x + drg)))
    inner = (slice(12, -12), slice(12, -12))
    # 8 taps, Kaiser beta 3 (the default, best on S1-like noise): ~1-2% passband
    # ripple; 16 taps with a stronger window (beta 7): < 0.1% within +-0.3 cycles
    for taps, beta, tol in ((8, 3.0, 0.03), (16, 7.0, 1e-3)):
        out = resample(src, np.full((n, m), daz), np.full((n, m), drg), taps=taps, beta=beta)
        err = np.abs(out[inner] - truth[inner]).max()
        assert err < tol, (taps, err)


def test_integer_shift_is_a_copy_and_round_trip_keeps_coherence():
    # Sentinel-1 IW oversampling: azimuth 0.68 (deramped), range 0.88 of the band
    src = band_limited_noise((256, 256), (0.68, 0.88))
    moved = resample(src, np.full((256, 256), 3.0), np.full((256, 256), -2.0))
    np.testing.assert_allclose(moved[10:-10, 10:-10], src[13:-7, 8:-12], atol=1e-5)
    # fractional shift there and back, as coregistration after simulation does
    inner = (slice(16, -16), slice(16, -16))
    for taps, minimum in ((8, 0.998), (16, 0.9998)):
        there = resample(src, 0.37 * np.ones((256, 256)), -0.21 * np.ones((256, 256)), taps=taps)
        back = resample(there, -0.37 * np.ones((256, 256)), 0.21 * np.ones((256, 256)), taps=taps)
        assert coherence(back[inner], src[inner]) > minimum
    # a spatially varying offset field works pixel by pixel
    y, x = np.mgrid[0:256, 0:256]
    dz = (0.2 + 1e-3 * x).astype(np.float32)
    out = resample(src, dz, 0.0 * dz)
    ref = resample(src, np.full((256, 256), dz[0, 100]), 0.0 * dz)
    np.testing.assert_allclose(out[:, 100], ref[:, 100], atol=1e-6)


def test_separable_passes_equal_the_2d_kernel_for_slowly_varying_offsets():
    src = band_limited_noise((200, 300), (0.68, 0.88), seed=2)
    y, x = np.mgrid[0:180, 0:260]
    daz = (0.31 + 2e-5 * x + 1e-4 * y).astype(np.float32)  # Sentinel-1-like slow variation
    drg = (-1.37 + 3e-4 * x).astype(np.float32)
    full = resample(src, daz, drg, row0=8, col0=12, taps=16, separable=False)
    fast = resample(src, daz, drg, row0=8, col0=12, taps=16)
    inner = (slice(10, -10), slice(10, -10))
    # both quantise positions to 1/2048 of a sample; beyond that they agree
    assert np.abs(fast[inner] - full[inner]).max() < 5e-3 * np.abs(src).mean()
    assert coherence(fast[inner], full[inner]) > 0.999999


def test_band_normalised_kernel_keeps_the_intensity_of_sar_speckle():
    """A unit-DC-gain kernel passes ~4 % more power at half a sample on Sentinel-1-like
    speckle (its in-band ripple); normalised for the processed band it keeps it."""
    from alignsar_core.simulate.speckle import band_limit

    rng = np.random.default_rng(0)
    z = ((rng.normal(size=(512, 512)) + 1j * rng.normal(size=(512, 512))) / np.sqrt(2)).astype(np.complex64)
    bands = ((0.672, 0.70), (0.878, 0.75))  # S1 IW azimuth / range: band fraction, Hamming coefficient
    f = band_limit(z, bands[0][0], bands[0][1], bands[1][0], bands[1][1])
    inner = (slice(32, -32), slice(32, -32))
    shift = np.full(f.shape, 0.5, np.float32)

    def gain(**kw):
        out = resample(f, shift, shift, **kw)
        return np.mean(np.abs(out[inner]) ** 2) / np.mean(np.abs(f[inner]) ** 2)

    assert gain(taps=8) > 1.02
    assert gain(taps=8, bands=bands) == pytest.approx(1.0, abs=0.005)
    assert gain(taps=16, bands=bands) == pytest.approx(1.0, abs=0.002)
