"""Adaptive (homogeneous-pixel) coherence, Jiang et al. 2015 (FaSHPS): closed forms,
a field edge against the boxcar, tiles against the whole array."""

import math

import numpy as np
import pytest

from alignsar_core.signatures import coherence as co
from alignsar_core.signatures.window import apply_in_tiles, halo_for

WINDOW = (7, 21)


def _pair(gamma, shape, rng, scale=1.0):
    """Two circular Gaussian SLCs with coherence ``gamma`` (array or scalar) and
    amplitude scale ``scale``."""
    x = (rng.normal(size=shape) + 1j * rng.normal(size=shape)) / math.sqrt(2)
    y = (rng.normal(size=shape) + 1j * rng.normal(size=shape)) / math.sqrt(2)
    g = np.asarray(gamma)
    return (scale * x).astype(np.complex64), (scale * (g * x + np.sqrt(1 - g ** 2) * y)).astype(np.complex64)


def _mean_amplitude(scale, n_dates, rng):
    """Time-mean of n_dates single-look (Rayleigh) amplitudes of mean power scale^2."""
    z = (rng.normal(size=(n_dates,) + scale.shape) + 1j * rng.normal(size=(n_dates,) + scale.shape)) / math.sqrt(2)
    return (np.abs(z) * scale).mean(axis=0).astype(np.float32)


def test_tolerance_is_the_rayleigh_confidence_interval():
    # z_0.975 = 1.959964, CV of a Rayleigh amplitude sqrt(4/pi - 1) = 0.522723
    assert co.shp_tolerance(1) == pytest.approx(1.959964 * 0.522723, rel=1e-5)
    assert co.shp_tolerance(16) == pytest.approx(1.959964 * 0.522723 / 4, rel=1e-5)
    assert co.shp_tolerance(16, alpha=0.01) == pytest.approx(2.575829 * 0.522723 / 4, rel=1e-5)
    assert np.isnan(co.shp_tolerance(0))
    with pytest.raises(ValueError, match="significance"):
        co.shp_tolerance(10, alpha=0.0)
    # the interval holds 1 - alpha of the time-mean amplitudes of one homogeneous pixel
    rng = np.random.default_rng(3)
    n = 25
    means = _mean_amplitude(np.ones(200_000), n, rng)
    mu = math.sqrt(math.pi) / 2  # mean amplitude of unit-power speckle
    inside = np.abs(means - mu) <= co.shp_tolerance(n) * mu
    assert inside.mean() == pytest.approx(0.95, abs=0.01)


def test_homogeneous_scene_equals_the_boxcar_estimate():
    """Every pixel homogeneous (equal amplitudes): the boxcar coherence of the same
    window, with and without a removed phase; the count is the (edge-truncated)
    window's pixel count."""
    rng = np.random.default_rng(1)
    n, m = 120, 300
    s1, s2 = _pair(0.6, (n, m), rng)
    phi = rng.uniform(-np.pi, np.pi, (n, m)).astype(np.float32)
    amp = np.ones((n, m), np.float32)
    for removed in (None, phi):
        got, cnt = co.adaptive_coherence(s1, s2, amp, WINDOW, 10, removed_phase=removed, return_count=True)
        np.testing.assert_allclose(got, co.coherence(s1, s2, WINDOW, removed), atol=2e-6)
    rows = np.minimum(np.arange(n) + 3, n - 1) - np.maximum(np.arange(n) - 3, 0) + 1
    cols = np.minimum(np.arange(m) + 10, m - 1) - np.maximum(np.arange(m) - 10, 0) + 1
    np.testing.assert_array_equal(cnt, rows[:, None] * cols[None, :])
    np.testing.assert_array_equal(co.shp_count(amp, WINDOW, 10), cnt)
    # (cos, sin) of the phase as the stage passes it: the same numbers
    same = co.adaptive_coherence(s1, s2, amp, WINDOW, 10, removed_phase=(np.cos(phi), np.sin(phi)))
    np.testing.assert_allclose(same, co.adaptive_coherence(s1, s2, amp, WINDOW, 10, removed_phase=phi), atol=1e-6)


def test_field_edge_keeps_each_side_coherence():
    """Two fields side by side: dark and coherent (|gamma| 0.9, amplitude 1) against
    bright and decorrelated (|gamma| 0.2, amplitude 4). Next to the edge the boxcar
    window mixes them (the bright field's power dominates its sums); the adaptive
    window keeps the pixels of the centre's field: its mean equals the interior's, and
    the homogeneous pixels are those of that side."""
    rng = np.random.default_rng(7)
    n, m, edge, n_dates = 400, 240, 120, 20
    left = np.arange(m)[None, :] < edge
    scale = np.where(left, 1.0, 4.0) * np.ones((n, 1))
    gamma = np.where(left, 0.9, 0.2) * np.ones((n, 1))
    s1, s2 = _pair(gamma, (n, m), rng, scale)
    amp = _mean_amplitude(scale, n_dates, rng)
    ada, cnt = co.adaptive_coherence(s1, s2, amp, WINDOW, n_dates, return_count=True)
    box = co.coherence(s1, s2, WINDOW)
    near_left = slice(edge - 4, edge)  # window reaches 6-10 columns into the other field
    interior_left = slice(30, 90)
    rows = slice(10, n - 10)
    a_near, a_int = ada[rows, near_left].mean(), ada[rows, interior_left].mean()
    b_near, b_int = box[rows, near_left].mean(), box[rows, interior_left].mean()
    assert a_int == pytest.approx(b_int, abs=0.01)  # interior: the same estimate
    assert abs(a_near - a_int) < 0.02  # adaptive: the edge keeps the coherent field's value
    assert b_int - b_near > 0.25  # boxcar: dragged towards the bright field's 0.2
    # homogeneous pixels: the centre's own mean is an estimate, so a homogeneous neighbour
    # passes with P(|Z + d| <= z) = Phi(z - d) - Phi(-z - d), d the centre's offset in
    # standard deviations of the mean: |d| = 0.6745 for the median pixel (Gaussian
    # approximation of a 20-date mean)
    from scipy.stats import norm

    z = norm.ppf(0.975)
    p_med = norm.cdf(z - 0.6745) - norm.cdf(-z - 0.6745)
    assert np.median(cnt[rows, interior_left]) == pytest.approx(1 + 146 * p_med, rel=0.03)
    # at the edge: the left side's part of the window only (none of the bright side's 49)
    own = 7 * (10 + 1 + 3) - 1  # column edge - 4: 10 to the left, 3 more left of the edge, the centre's row
    assert np.median(cnt[rows, edge - 4]) == pytest.approx(1 + own * p_med, rel=0.05)


def test_invalid_pixels_and_tiles():
    """NaN amplitudes (no valid date) give NaN and a zero count at the pixel, and their
    neighbours leave them out; tiles with the halo equal the whole array bit for bit."""
    rng = np.random.default_rng(5)
    n, m = 150, 500
    scale = rng.uniform(0.5, 3.0, (n, m))
    s1, s2 = _pair(0.7, (n, m), rng, scale)
    amp = _mean_amplitude(scale, 8, rng)
    amp[40:60, 100:130] = np.nan
    phi = rng.uniform(-3, 3, (n, m)).astype(np.float32)
    whole, cnt = co.adaptive_coherence(s1, s2, amp, WINDOW, 8, removed_phase=phi, return_count=True)
    assert np.isnan(whole[40:60, 100:130]).all() and (cnt[40:60, 100:130] == 0).all()
    assert np.isfinite(whole[:40]).all() and (whole[np.isfinite(whole)] <= 1).all()
    fine = co.adaptive_coherence(s1, s2, np.where(np.isnan(amp), np.float32(1e9), amp), WINDOW, 8, removed_phase=phi)
    # a huge amplitude is never homogeneous with its neighbours: the same sums as NaN
    np.testing.assert_array_equal(whole[:35], fine[:35])
    tiled = apply_in_tiles(lambda a, b, c, d: co.adaptive_coherence(a, b, c, WINDOW, 8, removed_phase=d),
                           (s1, s2, amp, phi), halo_for(WINDOW), (64, 128))
    assert np.array_equal(whole, tiled, equal_nan=True)
    with pytest.raises(ValueError, match="mean_amplitude shape"):
        co.adaptive_coherence(s1, s2, amp[:10], WINDOW, 8)
