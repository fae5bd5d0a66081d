import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import integrate, special

from alignsar_core.signatures import coherence as co
from alignsar_core.speckle import boxcar
from alignsar_core.signatures.window import apply_in_tiles, halo_for
from alignsar_core.simulate.speckle import band_limit, correlated_speckle


def _pair(shape, gamma, seed):
    """Circular Gaussian pair with true coherence ``gamma`` (independent pixels)."""
    a = correlated_speckle(shape, np.array([0.0, 12.0]), gamma, gamma, 10.0, np.random.default_rng(seed))
    return a[0, 0], a[1, 0]


def _brute_force(s1, s2, window, phi):
    """Direct numpy sums over every (truncated) window: the estimator's definition."""
    a, r = window
    pad = ((a // 2, a - 1 - a // 2), (r // 2, r - 1 - r // 2))

    def wsum(x):
        return sliding_window_view(np.pad(x, pad), window).sum(axis=(-1, -2))

    z = s1.astype(np.complex128) * np.conj(s2) * np.exp(-1j * phi)
    return wsum(z) / np.sqrt(wsum(np.abs(s1.astype(np.complex128)) ** 2) * wsum(np.abs(s2.astype(np.complex128)) ** 2))


def test_boxcar_coherence_is_the_estimator_and_tiles_with_the_halo_equal_the_whole():
    rng = np.random.default_rng(1)
    s1, s2 = _pair((150, 260), 0.7, seed=1)
    phi = rng.uniform(-30, 30, s1.shape).astype(np.float32)
    s2 = (s2 * np.exp(-1j * phi)).astype(np.complex64)  # fringes: s1 s2* carries exp(+i phi)
    for window in ((5, 20), (4, 3), (1, 7)):
        g = co.complex_coherence(s1, s2, window, removed_phase=phi)
        np.testing.assert_allclose(g, _brute_force(s1, s2, window, phi.astype(np.float64)), atol=2e-6)
        f = lambda a, b, p: co.coherence(a, b, window, p, return_phase=True)  # noqa: E731
        whole = f(s1, s2, phi)
        tiled = apply_in_tiles(f, [s1, s2, phi], halo_for(window), (64, 100))
        for w_, t_ in zip(whole, tiled):
            np.testing.assert_array_equal(w_, t_)  # bit for bit
        np.testing.assert_allclose(whole[0], np.abs(g), atol=1e-6)
    assert halo_for((5, 20)) == (2, 10)
    # the removed phase matters: with the fringes left in, coherence collapses
    assert np.nanmean(co.coherence(s1, s2, (5, 20))) < 0.3 < 0.6 < np.nanmean(co.coherence(s1, s2, (5, 20), phi))


def test_identical_and_phase_shifted_signals_have_unit_coherence():
    s1, _ = _pair((40, 60), 0.5, seed=2)
    phi = np.linspace(0, 50, s1.size).reshape(s1.shape).astype(np.float32)
    s2 = (s1 * np.exp(-1j * phi) * 3.0).astype(np.complex64)  # s1 s2* = 3 |s1|^2 exp(i phi)
    c, ph = co.coherence(s1, s2, (3, 5), removed_phase=phi, return_phase=True)
    np.testing.assert_allclose(c, 1.0, atol=1e-5)
    np.testing.assert_allclose(ph, 0.0, atol=1e-4)
    assert np.isnan(co.coherence(np.zeros((5, 5), np.complex64), s1[:5, :5], 3)).all()


def test_multilook_coherence_matches_block_sums_and_tiles_aligned_to_looks():
    s1, s2 = _pair((103, 207), 0.4, seed=3)
    looks = (5, 20)
    c, ph = co.multilook_coherence(s1, s2, looks, return_phase=True)
    assert c.shape == (20, 10)
    b = lambda x: x[:100, :200].reshape(20, 5, 10, 20).sum(axis=(1, 3))  # noqa: E731
    z = b(s1.astype(np.complex128) * np.conj(s2))
    ref = z / np.sqrt(b(np.abs(s1.astype(np.complex128)) ** 2) * b(np.abs(s2.astype(np.complex128)) ** 2))
    np.testing.assert_allclose(c, np.abs(ref), atol=1e-6)
    np.testing.assert_allclose(ph, np.angle(ref), atol=1e-5)
    left = co.multilook_coherence(s1[:, :100], s2[:, :100], looks)
    np.testing.assert_array_equal(left, c[:, :5])


def test_touzi_expectation_closed_forms_and_numerical_integral():
    assert co.expected_coherence_magnitude(0.37, 1) == pytest.approx(1.0)  # one look: |gamma_hat| = 1
    for n in (2, 5, 30):
        assert co.expected_coherence_magnitude(0.0, n) == pytest.approx(
            special.gamma(n) * special.gamma(1.5) / special.gamma(n + 0.5), rel=1e-12)
    # independent check: integrate the pdf of |gamma_hat| (Touzi 1999 eq. 9)
    for d, n in ((0.7, 8), (0.3, 20), (0.95, 12)):
        def pdf(x):
            return (2 * (n - 1) * (1 - d * d) ** n * x * (1 - x * x) ** (n - 2)
                    * special.hyp2f1(n, n, 1, d * d * x * x))
        mean = integrate.quad(lambda x: x * pdf(x), 0, 1, epsabs=1e-12, limit=200)[0]
        assert co.expected_coherence_magnitude(d, n) == pytest.approx(mean, rel=1e-8)
    e = co.expected_coherence_magnitude(np.linspace(0, 0.999, 50), 100.0)
    assert np.all(np.diff(e) > 0) and e[-1] == pytest.approx(0.999, abs=1e-4)
    g = np.array([0.1, 0.4, 0.8, 0.97])
    np.testing.assert_allclose(co.unbias_coherence(co.expected_coherence_magnitude(g, 15), 15), g, atol=2e-3)
    assert co.unbias_coherence(np.array([0.05]), 15)[0] == 0.0  # below the bias floor


@pytest.mark.parametrize("gamma", [0.2, 0.6])
def test_sample_coherence_of_simulated_pairs_follows_touzi(gamma):
    s1, s2 = _pair((500, 800), gamma, seed=int(gamma * 10))
    looks = (4, 5)
    n = looks[0] * looks[1]  # independent pixels: N = 20 independent looks
    blocks = co.multilook_coherence(s1, s2, looks)
    expected = co.expected_coherence_magnitude(gamma, n)
    se = blocks.std() / np.sqrt(blocks.size)
    assert abs(blocks.mean() - expected) < 4 * se
    assert expected - gamma > 8 * se  # the bias is real and resolved by this sample
    slope = (co.expected_coherence_magnitude(gamma + 0.01, n) - co.expected_coherence_magnitude(gamma - 0.01, n)) / 0.02
    assert co.unbias_coherence(np.array([blocks.mean()]), n)[0] == pytest.approx(gamma, abs=4 * se / slope + 2e-3)
    # the moving window has the same expectation (its mean is no noisier than one block grid)
    slide = co.coherence(s1, s2, looks)[2:-2, 2:-3]
    assert abs(slide.mean() - expected) < 4 * se


def test_effective_looks_for_independent_and_correlated_pixels():
    assert co.effective_looks((5, 4)) == pytest.approx(20.0)
    assert co.effective_looks((3, 3), [1.0, 1.0], [1.0, 1.0]) == pytest.approx(1.0)
    rng = np.random.default_rng(4)
    shape = (512, 1024)
    z = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    window = (3, 7)
    inten = np.abs(z) ** 2
    assert co.estimate_looks(boxcar(inten, window)) == pytest.approx(21, rel=0.04)
    # band-limited SLC (Sentinel-1 IW weighting): neighbours correlated, fewer looks
    s = band_limit(z, 0.67, 0.70, 0.88, 0.75)

    def acf(axis, lags):
        return [abs(np.vdot(np.take(s, range(0, s.shape[axis] - k), axis), np.take(s, range(k, s.shape[axis]), axis)))
                / np.vdot(s, s).real for k in lags]

    neff = co.effective_looks(window, acf(0, [1, 2]), acf(1, range(1, 7)))
    assert 10 < neff < 18
    box = boxcar(np.abs(s) ** 2, window)[4:-4, 8:-8]
    assert co.estimate_looks(box) == pytest.approx(neff, rel=0.06)
    assert co.estimate_looks(inten) == pytest.approx(1.0, rel=0.03)


def test_same_numbers_as_sarxarray():
    sarxarray = pytest.importorskip("sarxarray")
    import xarray as xr

    s1, s2 = _pair((100, 400), 0.5, seed=7)
    dims = ("azimuth", "range")
    coords = {"azimuth": np.arange(100), "range": np.arange(400)}
    ref = sarxarray.complex_coherence(xr.DataArray(s1, dims=dims, coords=coords),
                                      xr.DataArray(s2, dims=dims, coords=coords), (5, 20)).values
    np.testing.assert_allclose(co.multilook_coherence(s1, s2, (5, 20)), ref, atol=2e-6)
