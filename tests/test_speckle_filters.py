import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import uniform_filter

from alignsar_core import speckle
from alignsar_core.signatures.window import apply_in_tiles


def _batched_cv(x: np.ndarray, batches: int = 25) -> tuple[float, float]:
    """Coefficient of variation of independent samples and its standard error (from the
    spread of the CV over equal batches)."""
    x = x.ravel()
    cvs = [b.std() / b.mean() for b in np.array_split(x, batches)]
    return float(x.std() / x.mean()), float(np.std(cvs, ddof=1) / np.sqrt(batches))


def test_boxcar_is_the_truncated_window_mean_and_tiles_exactly():
    rng = np.random.default_rng(0)
    x = rng.exponential(size=(90, 130)).astype(np.float32)
    window = (5, 8)
    out = speckle.boxcar(x, window)
    pad = ((2, 2), (4, 3))
    num = sliding_window_view(np.pad(x.astype(np.float64), pad), window).sum(axis=(-1, -2))
    cnt = sliding_window_view(np.pad(np.ones(x.shape), pad), window).sum(axis=(-1, -2))
    np.testing.assert_allclose(out, num / cnt, rtol=1e-6)
    np.testing.assert_allclose(out[2:-2, 4:-4], uniform_filter(x.astype(np.float64), window)[2:-2, 4:-4], rtol=1e-6)
    assert speckle.halo_for("boxcar", window) == (2, 4)
    tiled = apply_in_tiles(lambda a: speckle.boxcar(a, window), [x], speckle.halo_for("boxcar", window), (32, 50))
    np.testing.assert_array_equal(out, tiled)
    # a NaN spoils only the windows that hold it
    x[40, 60] = np.nan
    nan = np.isnan(speckle.boxcar(x, window))
    assert nan.sum() == 5 * 8 and nan[38:43, 57:65].all()  # offsets -4..3 along range


def test_refined_lee_keeps_the_mean_reduces_speckle_and_tiles_exactly():
    rng = np.random.default_rng(1)
    x = rng.exponential(size=(300, 300)).astype(np.float32)  # single-look speckle, mean 1
    y = speckle.refined_lee(x, looks=1)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert y.mean() == pytest.approx(x.mean(), rel=0.03)
    assert y.std() / y.mean() < 0.35  # CV 1 before
    tiled = apply_in_tiles(speckle.refined_lee, [x], speckle.halo_for("refined_lee"), (64, 90))
    np.testing.assert_array_equal(y, tiled)
    np.testing.assert_allclose(speckle.refined_lee(np.full((20, 20), 5.0)), 5.0)  # flat: unchanged
    with pytest.raises(ValueError):
        speckle.refined_lee(x, looks=0)


def test_refined_lee_preserves_a_step_edge_better_than_boxcar():
    rng = np.random.default_rng(2)
    truth = np.where(np.arange(160) < 80, 1.0, 10.0)[None, :] * np.ones((400, 1))
    img = (truth * rng.exponential(size=truth.shape)).astype(np.float32)
    lee = speckle.refined_lee(img)
    box = speckle.boxcar(img, 7)
    near = slice(76, 84)  # within 4 pixels of the edge, rows averaged
    err_lee = np.abs(lee[:, near].mean(0) / truth[0, near] - 1)
    err_box = np.abs(box[:, near].mean(0) / truth[0, near] - 1)
    assert err_lee.mean() < 0.5 * err_box.mean()
    assert err_lee[2] < 0.1 and err_box[2] > 1.0  # two pixels off the edge, dark side
    # and away from the edge both filters smooth comparably (7x7 boxcar: CV 1/7)
    assert lee[:, 20:60].std() / lee[:, 20:60].mean() < 0.4


def test_quegan_yu_keeps_each_mean_and_lowers_the_cv_by_the_exact_factor():
    rng = np.random.default_rng(3)
    n_dates, window = 8, 7
    levels = np.arange(1, n_dates + 1, dtype=np.float32)  # each date its own mean
    stack = (levels[:, None, None] * rng.exponential(size=(n_dates, 1024, 1024))).astype(np.float32)
    out = speckle.quegan_yu(stack, window)
    inner = out[:, 3:-3, 3:-3]
    # exact for independent pixels: J_k / mu_k = T_k * mean_i(B_i) with T_k ~ Gamma(M) / M and
    # B_i ~ Beta(1, M - 1) independent (Beta-Gamma algebra), M = window pixels, hence
    # E[J_k] = mu_k and CV^2 = (M - 1 + N) / (N M)  (-> 1 / N for large windows)
    m = window * window
    cv_exact = np.sqrt((m - 1 + n_dates) / (n_dates * m))
    means = inner.mean(axis=(1, 2))
    se_mean = levels * cv_exact / np.sqrt(inner[0].size / m)  # windows overlap: M pixels per independent one
    assert np.all(np.abs(means - levels) < 4 * se_mean)
    for k in (0, 5):
        cv, se = _batched_cv(out[k, 3:-3:window, 3:-3:window])  # non-overlapping windows: independent
        assert abs(cv - cv_exact) < 4 * se
        assert abs(cv_exact - 1 / np.sqrt(n_dates)) > 4 * se  # the window-size term is resolved
    assert _batched_cv(stack[0])[0] == pytest.approx(1.0, abs=0.01)


def test_quegan_yu_nan_dates_single_date_and_tiles():
    rng = np.random.default_rng(4)
    stack = rng.exponential(size=(4, 60, 80)).astype(np.float32)
    np.testing.assert_allclose(speckle.quegan_yu(stack[:1], 5), stack[:1], rtol=1e-5)  # N = 1: identity
    f = lambda s: speckle.quegan_yu(s, (3, 5))  # noqa: E731
    np.testing.assert_array_equal(f(stack), apply_in_tiles(f, [stack], speckle.halo_for("quegan_yu", (3, 5)), (25, 30)))
    gap = stack.copy()
    gap[2, 30, 40] = np.nan  # a missing date at one pixel: filtered from the other three
    out = speckle.quegan_yu(gap, (3, 5))
    assert np.isnan(out[2, 29:32, 38:43]).all() and np.isfinite(out[[0, 1, 3], 30, 40]).all()
    with pytest.raises(ValueError):
        speckle.quegan_yu(stack[0], 5)
def test_quegan_yu_streamed_over_dates_equals_the_stack_filter():
    """``quegan_yu_add`` date by date + ``quegan_yu_finish`` (the signature stage's
    streamed filter, one tile in memory) equal ``quegan_yu`` on the whole stack bit for
    bit, NaN dates left out and pixels without any valid date NaN."""
    from alignsar_core.signatures.window import box_mean

    rng = np.random.default_rng(5)
    stack = rng.exponential(1.0, (5, 60, 80)).astype(np.float32)
    stack[1, 10:20, :] = np.nan
    stack[:, 30, 40] = np.nan
    mean = box_mean(stack, 7)
    total, count = np.zeros((60, 80)), np.zeros((60, 80), np.int64)
    for k in range(5):
        speckle.quegan_yu_add(stack[k], mean[k], total, count)
    ref = speckle.quegan_yu(stack, 7)
    for k in range(5):
        got = speckle.quegan_yu_finish(mean[k], total, count)
        assert got.dtype == np.float32
        assert np.array_equal(got, ref[k], equal_nan=True), k
    assert np.isnan(speckle.quegan_yu_finish(mean[0], total, count)[30, 40])
