"""float32 log10, log2, arccos and atan2 that LLVM vectorises inside numba kernels.

Why our own: numba compiles ``np.log10`` / ``math.atan2`` in a kernel to scalar libm
calls (5-10x slower than numpy's SIMD ufuncs; the PyPI llvmlite has no SVML), so the
signature kernels used to write their operands to tile-sized arrays (sigma0, p1, p2,
cos 2 alpha, Re and Im of gamma and of the interferogram) for numpy to read back: ~40
extra passes over memory per tile. These functions are branch-free (selects only) and
inline into the kernels' pixel loops, which LLVM then vectorises (8 float32 lanes),
so each output is written once, from the values that form it. (Keep such loops short:
a loop over more than ~8 arrays is not vectorised, numba not telling LLVM that the
arrays do not overlap; and these functions vectorise best on loaded values, see
``polarimetric.dual_row``.)

Algorithms: the single-precision Cephes library (S. L. Moshier, Cephes Mathematical
Library, netlib.org/cephes: ``logf``/``log10f`` (argument reduction to the mantissa
in [sqrt(1/2), sqrt(2)), degree-9 polynomial of ln(1 + f)), ``atanf`` (reduction by
tan(pi/8), degree-4 polynomial in z = t^2), ``asinf``/``acosf`` (reduction
asin x = pi/2 - 2 asin(sqrt((1 - x)/2)) for |x| > 1/2, degree-4 polynomial)); the
exponent, mantissa and sign by reinterpreting the float32 bits (``_exponent``,
``_mantissa``, ``_signbit``: LLVM bitcasts).
Accuracy (tests/test_vecmath.py, against float64 numpy over every float32 binade):
<= 2 ulp for log10, log2 and arccos, <= 3 ulp for atan2 (measured 1.9, 1.4, 1.3 and
2.4; numpy's own float32 SIMD functions measured 2.9, 1.9, 2.0 and 3.1 on the same
values). Special values as C99 / numpy: log(0) = -inf, log(x < 0) = NaN,
log(inf) = inf, atan2 with signed zeros and infinities, NaN in -> NaN out.

Speed: 1-1.2 ns per value and function on one core here (LLVM's 256-bit vectors),
against numpy's 0.4-0.7 ns; the gain is in the memory passes saved (writing an
operand array and reading it back costs more than the difference).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["log10", "log2", "arccos", "atan2", "phase"]

_F = np.float32
_PI = _F(np.pi)
_PI_LO = _F(np.pi - np.float64(_PI))  # pi = _PI + _PI_LO to float64 precision
_PI_2 = _F(np.pi / 2)
_PI_2_LO = _F(np.pi / 2 - np.float64(_PI_2))
_PI_4 = _F(np.pi / 4)
_PI_4_LO = _F(np.pi / 4 - np.float64(_PI_4))
_SQRT2 = _F(np.sqrt(2.0))
_TAN_PI_8 = _F(np.tan(np.pi / 8))
_TINY = _F(np.finfo(np.float32).tiny)  # smallest normal float32
_TWO24 = _F(2.0**24)
_LOG2EA = _F(np.log2(np.e) - 1.0)  # log2(e) = 1 + _LOG2EA (Cephes log2f)
# log10 constants split so that the products with small integers are exact (Cephes)
_L102A = _F(3.0078125e-1)
_L102B = _F(2.48745663981195213739e-4)
_L10EA = _F(4.3359375e-1)
_L10EB = _F(7.00731903251827651129e-4)
_INF = _F(np.inf)
_NAN = _F(np.nan)


def _f32_unary(name, restype, body):
    """A numba intrinsic f(float32) -> restype whose LLVM code ``body(builder, bits)``
    works on the float's bits as an i32 (in registers: vectorises, unlike numpy views)."""
    def typer(typingctx, x):
        if x != types.float32:
            return None

        def codegen(context, builder, sig, args):
            return body(builder, builder.bitcast(args[0], ir.IntType(32)))

        return restype(types.float32), codegen

    typer.__name__ = name
    return intrinsic(typer)


_I32 = ir.IntType(32)
# the unbiased exponent of a normal float32, as a float32
_exponent = _f32_unary("_exponent", types.float32, lambda b, x: b.sitofp(
    b.sub(b.and_(b.lshr(x, ir.Constant(_I32, 23)), ir.Constant(_I32, 0xFF)), ir.Constant(_I32, 127)), ir.FloatType()))
# the mantissa of a float32 as a float32 in [1, 2)
_mantissa = _f32_unary("_mantissa", types.float32, lambda b, x: b.bitcast(
    b.or_(b.and_(x, ir.Constant(_I32, 0x007FFFFF)), ir.Constant(_I32, 0x3F800000)), ir.FloatType()))
# the sign bit (True for -0.0 and negative numbers)
_signbit = _f32_unary("_signbit", types.boolean, lambda b, x: b.icmp_signed("<", x, ir.Constant(_I32, 0)))


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _ln_parts(x):
    """x > 0 finite as 2^e (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)): returns (e, f, y)
    with ln(1 + f) = f + y (Cephes logf: y = f^3 P(f) - f^2 / 2, rel. error ~1e-7).
    Subnormal x is scaled by 2^24 first."""
    small = x < _TINY
    xs = x * _TWO24 if small else x
    e = _exponent(xs) - (_F(24.0) if small else _F(0.0))
    m = _mantissa(xs)  # [1, 2)
    hi = m > _SQRT2
    m = m * _F(0.5) if hi else m
    e = e + (_F(1.0) if hi else _F(0.0))
    f = m - _F(1.0)
    z = f * f
    p = _F(7.0376836292e-2)
    p = p * f - _F(1.1514610310e-1)
    p = p * f + _F(1.1676998740e-1)
    p = p * f - _F(1.2420140846e-1)
    p = p * f + _F(1.4249322787e-1)
    p = p * f - _F(1.6668057665e-1)
    p = p * f + _F(2.0000714765e-1)
    p = p * f - _F(2.4999993993e-1)
    p = p * f + _F(3.3333331174e-1)
    y = p * f * z - _F(0.5) * z
    return e, f, y


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _log_special(x, r):
    """r where x is positive and finite; else log's value at x: -inf at 0, inf at inf,
    NaN below 0 or at NaN."""
    ok = (x > _F(0.0)) & (x < _INF)
    return r if ok else (-_INF if x == _F(0.0) else (_INF if x == _INF else _NAN))


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def log10(x):
    """log10 of a float32 (Cephes log10f)."""
    e, f, y = _ln_parts(x)
    r = y * _L10EB + f * _L10EB + e * _L102B + y * _L10EA + f * _L10EA + e * _L102A
    return _log_special(x, r)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def log2(x):
    """log2 of a float32 (Cephes log2f: e + (f + y) log2(e), log2(e) = 1 + 0.4427...)."""
    e, f, y = _ln_parts(x)
    r = y * _LOG2EA + f * _LOG2EA + y + f + e
    return _log_special(x, r)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def arccos(x):
    """arccos of a float32 in [-1, 1], radians in [0, pi] (Cephes acosf/asinf); NaN
    outside [-1, 1] and at NaN."""
    a = abs(x)
    big = a > _F(0.5)
    z = _F(0.5) * (_F(1.0) - a) if big else a * a
    s = np.sqrt(z) if big else a  # asin(s) below; s in [0, 1/2]
    p = _F(4.2163199048e-2)
    p = p * z + _F(2.4181311049e-2)
    p = p * z + _F(4.5470025998e-2)
    p = p * z + _F(7.4953002686e-2)
    p = p * z + _F(1.6666752422e-1)
    q = p * z * s + s  # asin(s)
    neg = x < _F(0.0)
    if big:  # acos|x| = 2 asin(s); acos(-|x|) = pi - acos|x|
        r = (_PI - _F(2.0) * q) + _PI_LO if neg else _F(2.0) * q
    else:  # acos x = pi/2 - asin x
        r = (_PI_2 + q) + _PI_2_LO if neg else (_PI_2 - q) + _PI_2_LO
    return r if a <= _F(1.0) else _NAN


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def atan2(y, x):
    """atan2(y, x) of float32s, radians in [-pi, pi], with C99's signed zeros and
    infinities (Cephes atanf on min(|x|, |y|) / max(|x|, |y|) in [0, 1])."""
    ax = abs(x)
    ay = abs(y)
    mx = max(ax, ay)
    mn = min(ax, ay)
    a = mn / mx
    a = _F(0.0) if mx == _F(0.0) else (_F(1.0) if ax == ay else a)  # 0/0, inf/inf
    big = a > _TAN_PI_8
    t = (a - _F(1.0)) / (a + _F(1.0)) if big else a
    z = t * t
    p = _F(8.05374449538e-2)
    p = p * z - _F(1.38776856032e-1)
    p = p * z + _F(1.99777106478e-1)
    p = p * z - _F(3.33329491539e-1)
    r = p * z * t + t
    r = (r + _PI_4_LO) + _PI_4 if big else r  # atan(mn / mx) in [0, pi/4]
    r = (_PI_2 - r) + _PI_2_LO if ay > ax else r  # [0, pi/2]
    r = (_PI - r) + _PI_LO if _signbit(x) else r  # x < 0 or -0: [pi/2, pi]
    r = -r if _signbit(y) else r
    return r if (x == x) & (y == y) else _NAN  # (min / max need not keep a NaN)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def phase(im, re):
    """arg(re + i im) in (-pi, pi] (atan2 with -pi mapped to pi: the phase convention of
    every phase output of the signatures)."""
    r = atan2(im, re)
    return -r if r <= -_PI else r
