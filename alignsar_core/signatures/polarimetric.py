"""Multi-polarisation SAR signatures (AlignSAR category 2), per tile.

Dual-pol (Sentinel-1 VV+VH or HH+HV), co-pol channel s_c and cross-pol s_x:

    C2 = < [s_c, s_x]^T [s_c, s_x]^* >  = [[C11, C12], [C12*, C22]]
    C11 = <|s_c|^2>, C22 = <|s_x|^2>, C12 = <s_c s_x*>     (<.> boxcar window mean)

eigenvalues l1 >= l2 >= 0 in closed form: l1,2 = (tr +- sqrt((C11 - C22)^2 + 4|C12|^2)) / 2,
p_i = l_i / (l1 + l2), entropy H = -sum p_i log2 p_i (0..1), eigenvector angles
alpha_i = arccos|e_i[0]| with cos(2 alpha_1) = (C11 - C22) / (l1 - l2), alpha_2 = 90 - alpha_1,
mean alpha = p1 alpha_1 + p2 alpha_2 (Cloude 2007, "The dual polarisation entropy/alpha
decomposition: a PALSAR case study", ESA PolInSAR workshop; Lee & Pottier 2009 ch. 7);
degree of polarisation m = (l1 - l2) / (l1 + l2) = sqrt(1 - 4 det C2 / tr^2), DpRVI =
1 - m p1 (Mandal et al. 2020, Remote Sensing of Environment 247, 111954);
dual-pol RVI = 4 s_x / (s_c + s_x) (adaptation of Kim & van Zyl 2009's quad-pol RVI).

Quad-pol (HH, HV, VH, VV): Pauli vector k = [HH + VV, HH - VV, HV + VH] / sqrt(2)
(reciprocity: 2 S_hv = HV + VH), coherency T3 = <k k^H>, Cloude-Pottier H (log base 3),
anisotropy A = (l2 - l3) / (l2 + l3) and alpha from the eigen-decomposition of T3
(Cloude & Pottier 1997 IEEE TGRS 35(1); Lee & Pottier 2009 ch. 7); quad-pol
RVI = 8 s_hv / (s_hh + s_vv + 2 s_hv) (Kim & van Zyl 2009, IEEE TGRS 47(8)).

Windowed quantities (C2, T3 and what is derived from them) need the halo
``halo_for(window)``; the single-look cross product, sums, differences and ratios none.
"""

from __future__ import annotations

import numba
import numpy as np

from . import vecmath
from .window import box_mean, halo_for, hermitian_box, run_split

__all__ = ["ATTRS", "c2", "cross_product", "intensity_sum", "intensity_difference",
           "intensity_ratio", "dual_pol_eigenvalues", "dual_pol_h_alpha", "degree_of_polarisation",
           "dprvi", "rvi_dual", "dual_pol_decomposition", "pauli_vector", "pauli_components",
           "t3", "cloude_pottier", "rvi_quad", "halo_for"]

_LP = "Lee & Pottier 2009, Polarimetric Radar Imaging: From Basics to Applications"
_CLOUDE2007 = "Cloude 2007, The dual polarisation entropy/alpha decomposition, ESA PolInSAR workshop; " + _LP
_MANDAL = "Mandal et al. 2020, Dual polarimetric radar vegetation index for crop growth monitoring using Sentinel-1 SAR data, Remote Sensing of Environment 247, 111954"
_CP = "Cloude & Pottier 1997, An entropy based classification scheme for land applications of polarimetric SAR, IEEE TGRS 35(1); " + _LP

ATTRS: dict[str, dict[str, str]] = {
    "c11": {"units": "m2 m-2", "long_name": "dual-pol covariance C11, co-pol power (window mean)",
            "formula": "<|s_co|^2> over a boxcar window", "reference": _LP},
    "c22": {"units": "m2 m-2", "long_name": "dual-pol covariance C22, cross-pol power (window mean)",
            "formula": "<|s_cross|^2> over a boxcar window", "reference": _LP},
    "c12": {"units": "m2 m-2", "long_name": "dual-pol covariance C12, co/cross-pol cross product (window mean)",
            "formula": "<s_co s_cross*> over a boxcar window (complex)", "reference": _LP},
    "cross_product": {"units": "m2 m-2", "long_name": "co/cross-pol cross product (single look)",
                      "formula": "s_co s_cross* (complex)", "reference": _LP},
    "intensity_sum": {"units": "m2 m-2", "long_name": "sum of co- and cross-pol intensities",
                      "formula": "I_co + I_cross", "reference": _LP},
    "intensity_difference": {"units": "m2 m-2", "long_name": "difference of co- and cross-pol intensities",
                             "formula": "I_co - I_cross", "reference": _LP},
    "intensity_ratio": {"units": "1", "long_name": "cross-pol to co-pol intensity ratio",
                        "formula": "I_cross / I_co", "reference": _LP},
    "intensity_ratio_db": {"units": "dB", "long_name": "cross-pol to co-pol intensity ratio in decibels",
                           "formula": "10 log10(I_cross / I_co)", "reference": _LP},
    "entropy_dual": {"units": "1", "long_name": "dual-pol entropy (0..1)",
                     "formula": "-sum_i p_i log2 p_i, p_i = l_i / (l1 + l2), l_i eigenvalues of C2",
                     "reference": _CLOUDE2007},
    "alpha_dual": {"units": "degree", "long_name": "dual-pol mean alpha angle (0..90)",
                   "formula": "p1 alpha1 + p2 (90 - alpha1), cos(2 alpha1) = (C11 - C22) / (l1 - l2)",
                   "reference": _CLOUDE2007},
    "degree_of_polarisation": {"units": "1", "long_name": "degree of polarisation of the dual-pol wave",
                               "formula": "(l1 - l2) / (l1 + l2) = sqrt(1 - 4 det C2 / tr C2^2)",
                               "reference": _MANDAL},
    "dprvi": {"units": "1", "long_name": "dual-pol radar vegetation index DpRVI (0..1)",
              "formula": "1 - m beta, m degree of polarisation, beta = l1 / (l1 + l2)", "reference": _MANDAL},
    "rvi_dual": {"units": "1", "long_name": "dual-pol radar vegetation index",
                 "formula": "4 s_cross / (s_co + s_cross)",
                 "reference": "Kim & van Zyl 2009, IEEE TGRS 47(8) (quad-pol RVI), dual-pol adaptation"},
    "pauli": {"units": "m2 m-2", "long_name": "Pauli components |k_i|^2 (surface, double bounce, volume)",
              "formula": "|HH + VV|^2 / 2, |HH - VV|^2 / 2, |HV + VH|^2 / 2", "reference": _LP},
    "t3": {"units": "m2 m-2", "long_name": "coherency matrix T3 (window mean)",
           "formula": "<k k^H>, k = [HH + VV, HH - VV, HV + VH] / sqrt(2)", "reference": _LP},
    "entropy": {"units": "1", "long_name": "Cloude-Pottier entropy (0..1)",
                "formula": "-sum_i p_i log3 p_i, p_i = l_i / sum l, l_i eigenvalues of T3", "reference": _CP},
    "anisotropy": {"units": "1", "long_name": "Cloude-Pottier anisotropy (0..1)",
                   "formula": "(l2 - l3) / (l2 + l3)", "reference": _CP},
    "alpha": {"units": "degree", "long_name": "Cloude-Pottier mean alpha angle (0..90)",
              "formula": "sum_i p_i arccos|e_i[0]|, e_i eigenvectors of T3", "reference": _CP},
    "rvi_quad": {"units": "1", "long_name": "quad-pol radar vegetation index",
                 "formula": "8 s_hv / (s_hh + s_vv + 2 s_hv)", "reference": "Kim & van Zyl 2009, IEEE TGRS 47(8)"},
}


# --------------------------------------------------------------------------------------
# Dual-pol


def c2(co: np.ndarray, cross: np.ndarray, window=(5, 5)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dual-pol covariance C2 elements as boxcar window means (one fused pass).

    C11 = <|s_co|^2>, C22 = <|s_cross|^2> (float32), C12 = <s_co s_cross*> (complex64);
    units of |s|^2 (m2 m-2 for calibrated complex values, DN^2 for raw DNs).
    Halo ``halo_for(window)``. Lee & Pottier 2009 ch. 3.
    """
    m = hermitian_box(co, cross, window, mode=0)
    c12 = np.empty(m.shape[1:], dtype=np.complex64)
    c12.real = m[2]
    c12.imag = m[3]
    return m[0], m[1], c12


def cross_product(co: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """Single-look co/cross-pol cross product s_co s_cross* (complex64, units of |s|^2).
    Lee & Pottier 2009 ch. 3 (the C12 element before averaging)."""
    return (np.asarray(co, dtype=np.complex64) * np.conj(np.asarray(cross, dtype=np.complex64))).astype(np.complex64)


def intensity_sum(i_co: np.ndarray, i_cross: np.ndarray) -> np.ndarray:
    """I_co + I_cross (span of the dual-pol channels), float32, units of the inputs.
    Lee & Pottier 2009 ch. 3."""
    return np.add(i_co, i_cross, dtype=np.float32)


def intensity_difference(i_co: np.ndarray, i_cross: np.ndarray) -> np.ndarray:
    """I_co - I_cross, float32, units of the inputs. Lee & Pottier 2009 ch. 3."""
    return np.subtract(i_co, i_cross, dtype=np.float32)


def intensity_ratio(i_cross: np.ndarray, i_co: np.ndarray, db: bool = False) -> np.ndarray:
    """Cross-pol ratio I_cross / I_co (dimensionless; NaN where I_co <= 0), or
    10 log10 of it (dB) with ``db``. Lee & Pottier 2009 ch. 3."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.divide(i_cross, i_co, dtype=np.float32)
        r[~(np.asarray(i_co) > 0)] = np.nan
        if db:
            r = np.log10(r)
            r *= np.float32(10.0)
            r[~np.isfinite(r)] = np.nan
    return r


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _dual_eig(a, b, re, im):
    """l1, l2 (closed form), delta = C11 - C22 and disc = l1 - l2 of C2 with C11 = a,
    C22 = b, C12 = re + i im (float32). The determinant C11 C22 - |C12|^2 is formed in
    float64, where the products of float32 values are exact (no cancellation error as
    the channels near full polarisation); the rest in float32 (relative error ~1e-7,
    4x faster than float64 divisions and square roots)."""
    f = np.float32
    det = f(np.float64(a) * np.float64(b) - (np.float64(re) * np.float64(re) + np.float64(im) * np.float64(im)))
    dlt = a - b
    disc = np.sqrt(dlt * dlt + f(4.0) * (re * re + im * im))
    l1 = f(0.5) * (a + b + disc)
    # l2 = det / l1 keeps precision when l2 << l1 (no cancellation as in tr - disc)
    l2 = det / l1 if l1 > f(0.0) else f(0.0)
    return l1, max(l2, f(0.0)), dlt, disc


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _dual_parts_px(a, b, re, im):
    """p1 = l1 / tr, p2 = max(l2 / tr, 1e-30) (for p log p), cos 2 alpha1 = delta / disc
    clipped to [-1, 1] (0, i.e. alpha1 = 45, where l1 = l2) and the degree of
    polarisation m = disc / tr of C2 (C11 = a, C22 = b, C12 = re + i im, float32; any
    common scale); all NaN where tr <= 0 (or at a NaN input)."""
    f = np.float32
    l1, l2, dlt, disc = _dual_eig(a, b, re, im)
    tr = l1 + l2
    if tr > f(0.0):
        inv = f(1.0) / tr
        c = dlt / disc if disc > f(0.0) else f(0.0)
        return l1 * inv, max(l2 * inv, f(1e-30)), min(f(1.0), max(f(-1.0), c)), disc * inv
    return f(np.nan), f(np.nan), f(np.nan), f(np.nan)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def dual_row(c11, c22, c12r, c12i, h, alpha, dop, dprvi):
    """Dual-pol parameters of C2 on 1-D arrays (C11, C22, Re and Im C12, float32):
    entropy H = -(p1 log2 p1 + p2 log2 p2) clipped to [0, 1], mean alpha = p1 alpha1 +
    p2 (90 - alpha1) = 90 (1 - p1) + alpha1 (2 p1 - 1) degrees with alpha1 =
    arccos(cos 2 alpha1) / 2, degree of polarisation m and DpRVI = 1 - m p1
    (``_dual_parts_px``); NaN where tr C2 <= 0. Two passes, the second over values in
    cache (p1, p2 and cos 2 alpha1 parked in h, alpha and dprvi): one pass over every
    output and input did not vectorise (too many arrays for LLVM's overlap checks), and
    ``vecmath``'s log2 / arccos vectorise well only on loaded values. Shared by
    ``_dual_kernel`` and the signature stage's fused kernel (``signatures.fused``)."""
    f = np.float32
    for t in range(c11.size):
        h[t], alpha[t], dprvi[t], dop[t] = _dual_parts_px(c11[t], c22[t], c12r[t], c12i[t])
    k = f(90.0 / np.pi)
    for t in range(c11.size):
        p1 = h[t]
        p2 = alpha[t]
        c = dprvi[t]
        e = -(p1 * vecmath.log2(p1) + p2 * vecmath.log2(p2))
        h[t] = min(f(1.0), max(f(0.0), e)) if e == e else e
        alpha[t] = f(90.0) * (f(1.0) - p1) + vecmath.arccos(c) * k * (f(2.0) * p1 - f(1.0))
        dprvi[t] = f(1.0) - dop[t] * p1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _eig_kernel(c11, c22, c12r, c12i, start, stop, l1o, l2o):
    # slices and 0-based loops (here and below): numba then drops its negative-index
    # checks and LLVM vectorises; ``for i in range(start, stop)`` ran 2-3x slower
    c11, c22, c12r, c12i = c11[start:stop], c22[start:stop], c12r[start:stop], c12i[start:stop]
    l1o, l2o = l1o[start:stop], l2o[start:stop]
    for i in range(stop - start):
        l1, l2, _, _ = _dual_eig(c11[i], c22[i], c12r[i], c12i[i])
        l1o[i] = l1
        l2o[i] = l2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _dual_kernel(c11, c22, c12r, c12i, start, stop, ho, alo, dpol, dprvi):
    """``dual_row`` of every pixel, 512 at a time (the second pass in cache)."""
    for s in range(start, stop, 512):
        e = min(stop, s + 512)
        dual_row(c11[s:e], c22[s:e], c12r[s:e], c12i[s:e], ho[s:e], alo[s:e], dpol[s:e], dprvi[s:e])


def _flat(c11, c22, c12):
    c11 = np.ascontiguousarray(c11, dtype=np.float32)
    c22 = np.ascontiguousarray(c22, dtype=np.float32)
    c12 = np.asarray(c12, dtype=np.complex64)
    return c11.shape, (c11.ravel(), c22.ravel(), np.ascontiguousarray(c12.real).ravel(),
                       np.ascontiguousarray(c12.imag).ravel())


def _dual_parts(c11, c22, c12):
    shape, ins = _flat(c11, c22, c12)
    outs = [np.empty(ins[0].size, dtype=np.float32) for _ in range(4)]
    run_split(_dual_kernel, ins[0].size, ins, tuple(outs))
    return shape, outs  # entropy, alpha, degree of polarisation, DpRVI


def dual_pol_eigenvalues(c11, c22, c12) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues l1 >= l2 >= 0 of the 2x2 Hermitian C2 (closed form), float32:
    l1,2 = (tr +- sqrt((C11 - C22)^2 + 4 |C12|^2)) / 2 (l2 as det / l1)."""
    shape, ins = _flat(c11, c22, c12)
    l1 = np.empty(ins[0].size, dtype=np.float32)
    l2 = np.empty_like(l1)
    run_split(_eig_kernel, l1.size, ins, (l1, l2))
    return l1.reshape(shape), l2.reshape(shape)


def dual_pol_h_alpha(c11, c22, c12) -> tuple[np.ndarray, np.ndarray]:
    """Dual-pol entropy H (base-2 log, 0..1) and mean alpha (degrees, 0..90) of C2.

    H = -sum p_i log2 p_i; alpha = p1 alpha1 + p2 (90 - alpha1) with
    cos(2 alpha1) = (C11 - C22) / (l1 - l2) (alpha_i = arccos|e_i[0]|, e_i the unit
    eigenvectors); where l1 = l2 (H = 1) alpha is 45. Cloude 2007.
    """
    shape, (h, alpha, _, _) = _dual_parts(c11, c22, c12)
    return h.reshape(shape), alpha.reshape(shape)


def degree_of_polarisation(c11, c22, c12) -> np.ndarray:
    """m = (l1 - l2) / (l1 + l2) = sqrt(1 - 4 det C2 / (tr C2)^2), 0..1 (Mandal et al. 2020)."""
    shape, outs = _dual_parts(c11, c22, c12)
    return outs[2].reshape(shape)


def dprvi(c11, c22, c12) -> np.ndarray:
    """DpRVI = 1 - m beta, m degree of polarisation, beta = l1 / (l1 + l2); 0..1.
    Mandal et al. 2020, Remote Sensing of Environment 247, 111954, eq. 8."""
    shape, outs = _dual_parts(c11, c22, c12)
    return outs[3].reshape(shape)


def dual_pol_decomposition(c11, c22, c12) -> dict[str, np.ndarray]:
    """All C2-derived signatures in one pass: entropy_dual, alpha_dual,
    degree_of_polarisation, dprvi (see the individual functions)."""
    shape, (h, alpha, m, dp) = _dual_parts(c11, c22, c12)
    return {"entropy_dual": h.reshape(shape), "alpha_dual": alpha.reshape(shape),
            "degree_of_polarisation": m.reshape(shape), "dprvi": dp.reshape(shape)}


def rvi_dual(i_co: np.ndarray, i_cross: np.ndarray) -> np.ndarray:
    """Dual-pol RVI = 4 I_cross / (I_co + I_cross) (0..4 in principle; 1 for a random
    volume of thin dipoles, where I_co = 3 I_cross). Kim & van Zyl 2009 adaptation."""
    i_co = np.asarray(i_co, dtype=np.float32)
    i_cross = np.asarray(i_cross, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float32(4.0) * i_cross / (i_co + i_cross)


# --------------------------------------------------------------------------------------
# Quad-pol


def pauli_vector(hh, hv, vh, vv) -> np.ndarray:
    """k = [HH + VV, HH - VV, HV + VH] / sqrt(2) stacked on a new first axis (complex64).
    With HV = VH (reciprocity) k3 = sqrt(2) HV. Lee & Pottier 2009 ch. 3."""
    hh, hv, vh, vv = (np.asarray(x, dtype=np.complex64) for x in (hh, hv, vh, vv))
    s = np.float32(1.0 / np.sqrt(2.0))
    return np.stack([(hh + vv) * s, (hh - vv) * s, (hv + vh) * s])


def pauli_components(hh, hv, vh, vv, window=None) -> np.ndarray:
    """Pauli powers |k1|^2 (odd bounce), |k2|^2 (even bounce), |k3|^2 (volume), stacked
    (3, ...) float32; boxcar window means if ``window`` is given (T11, T22, T33)."""
    k = pauli_vector(hh, hv, vh, vv)
    p = (k.real ** 2 + k.imag ** 2).astype(np.float32)
    return p if window is None else box_mean(p, window)


def t3(hh, hv, vh, vv, window=(5, 5)) -> np.ndarray:
    """Coherency matrix T3 = <k k^H> (boxcar window means), shape (..., 3, 3) complex64.
    Halo ``halo_for(window)``. Lee & Pottier 2009 ch. 3."""
    k = pauli_vector(hh, hv, vh, vv)
    chans = [np.abs(k[i]) ** 2 for i in range(3)]
    pairs = [(0, 1), (0, 2), (1, 2)]
    for i, j in pairs:
        z = k[i] * np.conj(k[j])
        chans += [z.real, z.imag]
    m = box_mean(np.stack(chans).astype(np.float32), window)
    out = np.zeros(k.shape[1:] + (3, 3), dtype=np.complex64)
    for i in range(3):
        out[..., i, i] = m[i]
    for n, (i, j) in enumerate(pairs):
        z = m[3 + 2 * n] + 1j * m[4 + 2 * n]
        out[..., i, j] = z
        out[..., j, i] = np.conj(z)
    return out


def cloude_pottier(t: np.ndarray, chunk: int = 1 << 18) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cloude-Pottier entropy H (log base 3), anisotropy A and mean alpha (degrees) of T3.

    Eigen-decomposition of each Hermitian 3x3 matrix with ``numpy.linalg.eigh`` on
    stacked matrices (LAPACK, vectorised, in chunks of ``chunk`` pixels to bound
    memory); l1 >= l2 >= l3 clipped at 0, p_i = l_i / sum l, H = -sum p_i log3 p_i,
    A = (l2 - l3) / (l2 + l3), alpha = sum p_i arccos|e_i[0]|. Cloude & Pottier 1997.
    """
    t = np.asarray(t)
    shape = t.shape[:-2]
    flat = t.reshape(-1, 3, 3)
    h = np.empty(flat.shape[0], dtype=np.float32)
    a = np.empty_like(h)
    al = np.empty_like(h)
    for s in range(0, flat.shape[0], chunk):
        blk = flat[s:s + chunk]
        ok = np.isfinite(blk).all(axis=(1, 2))
        w, v = np.linalg.eigh(np.where(ok[:, None, None], blk, 0).astype(np.complex128))
        w = np.clip(w[:, ::-1], 0.0, None)  # descending
        v = v[:, :, ::-1]
        tot = w.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = w / tot
            plog = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
            hh = -plog.sum(axis=1) / np.log(3.0)
            aa = (w[:, 1] - w[:, 2]) / (w[:, 1] + w[:, 2])
        alpha_i = np.degrees(np.arccos(np.clip(np.abs(v[:, 0, :]), 0.0, 1.0)))
        ala = (p * alpha_i).sum(axis=1)
        bad = ~ok | ~(tot[:, 0] > 0)
        hh[bad] = np.nan
        ala[bad] = np.nan
        aa[bad | ~(w[:, 1] + w[:, 2] > 0)] = np.nan
        h[s:s + chunk] = np.clip(hh, 0.0, 1.0)
        a[s:s + chunk] = aa
        al[s:s + chunk] = ala
    return h.reshape(shape), a.reshape(shape), al.reshape(shape)


def rvi_quad(i_hh: np.ndarray, i_hv: np.ndarray, i_vv: np.ndarray) -> np.ndarray:
    """Quad-pol RVI = 8 I_hv / (I_hh + I_vv + 2 I_hv): 1 for a random volume of thin
    dipoles, 0 for a bare smooth surface (Kim & van Zyl 2009, IEEE TGRS 47(8))."""
    i_hh, i_hv, i_vv = (np.asarray(x, dtype=np.float32) for x in (i_hh, i_hv, i_vv))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float32(8.0) * i_hv / (i_hh + i_vv + np.float32(2.0) * i_hv)
