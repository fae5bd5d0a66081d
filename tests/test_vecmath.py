"""The kernels' vectorised float32 elementary functions (``signatures.vecmath``) against
float64 numpy: accuracy in ulp over every float32 exponent, and C99's special values."""

import numba
import numpy as np
import pytest

from alignsar_core.signatures import vecmath as vm


@numba.njit(error_model="numpy")
def _unary(which, x, out):
    for i in range(x.size):
        if which == 0:
            out[i] = vm.log10(x[i])
        elif which == 1:
            out[i] = vm.log2(x[i])
        else:
            out[i] = vm.arccos(x[i])


@numba.njit(error_model="numpy")
def _binary(which, y, x, out):
    for i in range(x.size):
        out[i] = vm.atan2(y[i], x[i]) if which == 0 else vm.phase(y[i], x[i])


def _run(which, *args):
    out = np.empty_like(args[0])
    (_unary if len(args) == 1 else _binary)(which, *args, out)
    return out


def _ulp(got, exact):
    """|got - exact| in units of the float32 spacing at the exact value."""
    return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)


@pytest.fixture(scope="module")
def positives():
    """Every float32 binade from the smallest subnormal to the largest finite, and a
    dense set around 1 (where log's result is small and relative error shows)."""
    rng = np.random.default_rng(11)
    x = np.exp(rng.uniform(np.log(1.5e-45), np.log(3.3e38), 400_000)).astype(np.float32)
    return np.concatenate([x, np.float32(1.0) + np.linspace(-0.3, 0.5, 40_001, dtype=np.float32)])


@pytest.mark.parametrize("which, ref", [(0, np.log10), (1, np.log2)])
def test_logs_within_2_ulp(positives, which, ref):
    got = _run(which, positives)
    exact = ref(positives.astype(np.float64))
    assert _ulp(got, exact).max() <= 2.0


def test_log_special_values():
    x = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0, 1e-45, 10.0], np.float32)
    for which, ref in ((0, np.log10), (1, np.log2)):
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = ref(x)
        got = _run(which, x)
        assert np.array_equal(got, expected, equal_nan=True), (which, got, expected)


def test_arccos_within_2_ulp_and_outside_its_domain():
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.uniform(-1, 1, 400_000), [-1.0, -0.5, 0.0, 0.5, 1.0],
                        1 - np.logspace(-7, -1, 1000), -1 + np.logspace(-7, -1, 1000)]).astype(np.float32)
    assert _ulp(_run(2, x), np.arccos(x.astype(np.float64))).max() <= 2.0
    out = _run(2, np.array([1.0000001, -1.0000001, np.nan, np.inf], np.float32))
    assert np.isnan(out).all()


def test_atan2_within_3_ulp_over_every_quadrant_and_scale():
    rng = np.random.default_rng(13)
    n = 400_000
    y = (rng.standard_normal(n) * np.exp(rng.uniform(-40, 40, n))).astype(np.float32)
    x = (rng.standard_normal(n) * np.exp(rng.uniform(-40, 40, n))).astype(np.float32)
    got = _run(0, y, x)
    exact = np.arctan2(y.astype(np.float64), x.astype(np.float64))
    assert _ulp(got, exact).max() <= 3.0
    assert np.abs(got - exact).max() < 5e-7


def test_atan2_special_values_as_c99():
    v = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan], np.float32)
    y, x = (a.ravel() for a in np.meshgrid(v, v, indexing="ij"))
    got = _run(0, y, x)
    ref = np.arctan2(y, x)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    assert np.array_equal(np.signbit(got[ok]), np.signbit(ref[ok]))  # signed zeros and quadrants
    np.testing.assert_allclose(got[ok], ref[ok], rtol=2e-7, atol=0)


def test_phase_is_in_minus_pi_pi_open_at_minus_pi():
    """The phase convention: -pi (atan2(-0, -1), or a tiny negative Im) becomes +pi."""
    y = np.array([-0.0, -1e-30, 0.0, 1e-30, -1.0], np.float32)
    x = np.array([-1.0, -1.0, -1.0, -1.0, 0.0], np.float32)
    got = _run(1, y, x)
    assert got[:4].tolist() == [np.float32(np.pi)] * 4
    assert got[4] == -np.float32(np.pi / 2)
    rng = np.random.default_rng(14)
    z = rng.standard_normal((2, 100_000)).astype(np.float32)
    p = _run(1, z[0], z[1])
    assert p.max() <= np.float32(np.pi) and p.min() > -np.float32(np.pi)
