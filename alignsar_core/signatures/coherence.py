"""Interferometric coherence of a coregistered SLC pair, its bias and looks.

Sample complex coherence over a boxcar window W (Touzi et al. 1999; Hanssen 2001 ch. 4):

    gamma = sum_W s1 s2* exp(-i phi_removed) / sqrt(sum_W |s1|^2 sum_W |s2|^2)

``coherence`` / ``complex_coherence`` use a moving window (one value per pixel, halo
``halo_for(window)``); ``multilook_coherence`` averages non-overlapping blocks (one value
per block, as sarxarray's ``complex_coherence`` / xarray ``coarsen(boundary="trim")``).
Removing the reference and topographic phase inside the window matters: fringes in the
window lower the sample coherence.

The magnitude of the sample coherence is biased upwards for small numbers of looks and
low coherence; for N independent looks its expectation is (Touzi, Lopes, Bruniquel &
Vachon 1999, "Coherence estimation for SAR imagery", IEEE TGRS 37(1), eq. 11):

    E|gamma_hat| = Gamma(N) Gamma(3/2) / Gamma(N + 1/2)
                   * 3F2(3/2, N, N; N + 1/2, 1; |gamma|^2) (1 - |gamma|^2)^N
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .window import as_window, halo_for, hermitian_box, pair_inputs, run_split

__all__ = ["ATTRS", "coherence", "complex_coherence", "multilook_coherence",
           "expected_coherence_magnitude", "unbias_coherence", "effective_looks",
           "estimate_looks", "halo_for"]

_REF = "Touzi, Lopes, Bruniquel & Vachon 1999, Coherence estimation for SAR imagery, IEEE TGRS 37(1); Hanssen 2001, Radar Interferometry, ch. 4"

ATTRS: dict[str, dict[str, str]] = {
    "coherence": {
        "units": "1", "long_name": "interferometric coherence magnitude (boxcar estimate)",
        "formula": "|sum_W s1 s2* exp(-i phi_removed)| / sqrt(sum_W |s1|^2 sum_W |s2|^2), moving boxcar window W",
        "reference": _REF,
    },
    "coherence_phase": {
        "units": "rad", "long_name": "phase of the complex coherence (multilooked interferometric phase)",
        "formula": "arg(sum_W s1 s2* exp(-i phi_removed)) in (-pi, pi]",
        "reference": _REF,
    },
    "coherence_unbiased": {
        "units": "1", "long_name": "coherence magnitude corrected for estimation bias",
        "formula": "|gamma| such that E|gamma_hat|(|gamma|, N_eff) equals the estimate (Touzi 1999 eq. 11 inverted)",
        "reference": _REF,
    },
}


def complex_coherence(s1: np.ndarray, s2: np.ndarray, window=(5, 20),
                      removed_phase: np.ndarray | None = None) -> np.ndarray:
    """Complex sample coherence gamma per pixel over a moving (az, rg) boxcar window.

    gamma = sum_W s1 s2* exp(-i phi_removed) / sqrt(sum_W |s1|^2 sum_W |s2|^2)
    (complex64, dimensionless; NaN where a window has no power). ``removed_phase`` (rad):
    reference + topographic phase to remove before summing. Windows are truncated at the
    array edges. Halo ``halo_for(window)``. Touzi et al. 1999, IEEE TGRS 37(1).
    """
    g = hermitian_box(s1, s2, window, removed_phase, mode=1)
    out = np.empty(g.shape[1:], dtype=np.complex64)
    out.real = g[1]
    out.imag = g[2]
    return out


def coherence(s1: np.ndarray, s2: np.ndarray, window=(5, 20), removed_phase: np.ndarray | None = None,
              return_phase: bool = False):
    """Coherence magnitude |gamma| (float32, 0..1) over a moving boxcar window.

    Formula and source as ``complex_coherence``; with ``return_phase`` also the phase of
    gamma in (-pi, pi] (rad), the multilooked interferometric phase.
    Halo ``halo_for(window)`` (az // 2 rows, rg // 2 columns).
    """
    g = hermitian_box(s1, s2, window, removed_phase, mode=1)
    if not return_phase:
        return g[0]
    ph = np.arctan2(g[2] + np.float32(0.0), g[1])
    ph[ph <= -np.float32(np.pi)] = np.float32(np.pi)
    return g[0], ph


@numba.njit(cache=True, nogil=True)
def _multilook_kernel(s1, s2, cph, sph, use_phase, la, lr, start, stop, out):
    mo = out.shape[2]
    for bi in range(start, stop):
        acc = np.zeros((4, mo), dtype=np.float64)
        for r in range(bi * la, bi * la + la):
            for bj in range(mo):
                a0 = 0.0
                a1 = 0.0
                a2 = 0.0
                a3 = 0.0
                for j in range(bj * lr, bj * lr + lr):
                    x = s1[r, j]
                    y = s2[r, j]
                    xr = np.float64(x.real)
                    xi = np.float64(x.imag)
                    yr = np.float64(y.real)
                    yi = np.float64(y.imag)
                    pr = xr * yr + xi * yi
                    pi = xi * yr - xr * yi
                    if use_phase:
                        c = np.float64(cph[r, j])
                        s = np.float64(sph[r, j])
                        pr, pi = pr * c + pi * s, pi * c - pr * s
                    a0 += xr * xr + xi * xi
                    a1 += yr * yr + yi * yi
                    a2 += pr
                    a3 += pi
                acc[0, bj] += a0
                acc[1, bj] += a1
                acc[2, bj] += a2
                acc[3, bj] += a3
        for bj in range(mo):
            d = acc[0, bj] * acc[1, bj]
            if d > 0.0:
                q = 1.0 / np.sqrt(d)
                out[0, bi, bj] = np.sqrt(acc[2, bj] ** 2 + acc[3, bj] ** 2) * q
                out[1, bi, bj] = acc[2, bj] * q
                out[2, bi, bj] = acc[3, bj] * q
            else:
                out[0, bi, bj] = np.nan
                out[1, bi, bj] = np.nan
                out[2, bi, bj] = np.nan


def multilook_coherence(s1: np.ndarray, s2: np.ndarray, looks=(5, 20),
                        removed_phase: np.ndarray | None = None, return_phase: bool = False):
    """Coherence |gamma| on non-overlapping (az, rg) blocks: output (n // az, m // rg).

    Same estimator as ``complex_coherence`` summed over each block (incomplete blocks at
    the far edges are dropped, like xarray ``coarsen(boundary="trim", side="left")`` and
    sarxarray's ``complex_coherence``). Tiles must start at multiples of ``looks`` (no
    halo). With ``return_phase`` also arg(gamma) in (-pi, pi]. Touzi et al. 1999.
    """
    la, lr = as_window(looks)
    s1, s2, cph, sph = pair_inputs(s1, s2, removed_phase)
    out = np.empty((3, s1.shape[0] // la, s1.shape[1] // lr), dtype=np.float32)
    run_split(_multilook_kernel, out.shape[1], (s1, s2, cph, sph, removed_phase is not None, la, lr), (out,))
    if not return_phase:
        return out[0]
    ph = np.arctan2(out[2] + np.float32(0.0), out[1])
    ph[ph <= -np.float32(np.pi)] = np.float32(np.pi)
    return out[0], ph


# --------------------------------------------------------------------------------------
# Bias of the sample coherence magnitude (Touzi et al. 1999)


@numba.njit(cache=True)
def _touzi_one(d, n):
    """E|gamma_hat| for true |gamma| = d and n looks, by the 3F2 series in log space."""
    if d <= 0.0:
        return math.exp(math.lgamma(n) + math.lgamma(1.5) - math.lgamma(n + 0.5))
    if d >= 1.0:
        return 1.0
    z = d * d
    # scaled terms t_k (1 - z)^n Gamma(n) Gamma(3/2) / Gamma(n + 1/2): each <= the sum <= 1
    logt = math.lgamma(n) + math.lgamma(1.5) - math.lgamma(n + 0.5) + n * math.log1p(-z)
    logz = math.log(z)
    total = 0.0
    k = 0
    # terms grow until about k* = (n z - 1) / (1 - z), then decay geometrically
    kpeak = max(0.0, (n * z - 1.0) / (1.0 - z))
    while True:
        t = math.exp(logt)
        total += t
        if k > kpeak and t < 1e-17 * total:
            break
        logt += (math.log(k + 1.5) + 2.0 * math.log(k + n) - math.log(k + n + 0.5)
                 - 2.0 * math.log(k + 1.0) + logz)
        k += 1
    return total


@numba.njit(cache=True)
def _touzi_kernel(d, n, out):
    for i in range(d.size):
        out[i] = _touzi_one(d[i], n[i])


def expected_coherence_magnitude(gamma, looks) -> np.ndarray:
    """E|gamma_hat| of the sample coherence magnitude for true |gamma| and N looks.

    Touzi et al. 1999, IEEE TGRS 37(1), eq. 11:
    E|gamma_hat| = Gamma(N) Gamma(3/2) / Gamma(N + 1/2) 3F2(3/2, N, N; N + 1/2, 1; |gamma|^2)
                   (1 - |gamma|^2)^N,
    summed as its hypergeometric series in log space (scipy has no 3F2; the terms,
    scaled by the prefactor, never overflow). N >= 1 independent looks (real N allowed:
    an effective number of looks). Broadcasts ``gamma`` and ``looks``; float64.
    At |gamma| = 0 it is Gamma(N) Gamma(3/2) / Gamma(N + 1/2) (about sqrt(pi / 4N)).
    """
    d, n = np.broadcast_arrays(np.asarray(gamma, dtype=np.float64), np.asarray(looks, dtype=np.float64))
    if np.any(n < 1):
        raise ValueError("looks must be >= 1")
    if np.any((d < 0) | (d > 1)):
        raise ValueError("|gamma| must be within [0, 1]")
    out = np.empty(d.size, dtype=np.float64)
    _touzi_kernel(np.ascontiguousarray(d).ravel(), np.ascontiguousarray(n).ravel(), out)
    return out.reshape(d.shape) if d.ndim else float(out[0])


def unbias_coherence(coh: np.ndarray, looks: float, grid_size: int = 2001) -> np.ndarray:
    """Bias-corrected coherence magnitude: the |gamma| whose expected estimate
    E|gamma_hat|(|gamma|, N) (Touzi et al. 1999 eq. 11) equals ``coh``.

    E|gamma_hat| is increasing in |gamma|, so it is tabulated on ``grid_size`` values
    and inverted by linear interpolation (vectorised). Estimates below the bias at
    |gamma| = 0 map to 0. ``looks``: the (effective) number of independent looks.
    """
    g = np.linspace(0.0, 1.0, grid_size) ** 0.5  # denser near 1, where E rises steeply
    e = expected_coherence_magnitude(g, float(looks))
    c = np.asarray(coh, dtype=np.float64)
    return np.interp(c, e, g, left=0.0, right=1.0).astype(np.float32)


def effective_looks(window, acf_azimuth=None, acf_range=None) -> float:
    """Effective number of independent looks of a boxcar window over correlated pixels.

    For an (a, r) window whose complex samples have correlation coefficients rho_k at
    lag k along each axis (``acf_*``: sequence rho_1, rho_2, ...; None for independent
    pixels), the intensity average has (separable window)

        N_eff = prod_axes  n^2 / (n + 2 sum_{k=1}^{n-1} (n - k) |rho_k|^2)

    (variance of a mean of correlated exponential intensities, whose intensity
    correlation is |rho_k|^2: Goodman 1976; Bamler & Hartl 1998 on multilooking).
    """
    out = 1.0
    for n, acf in zip(as_window(window), (acf_azimuth, acf_range)):
        rho2 = np.zeros(n)
        if acf is not None:
            a = np.abs(np.asarray(acf, dtype=np.float64))[: n - 1] ** 2
            rho2[1: 1 + a.size] = a
        k = np.arange(1, n)
        out *= n * n / (n + 2.0 * np.sum((n - k) * rho2[1:]))
    return float(out)


def estimate_looks(intensity: np.ndarray) -> float:
    """Equivalent number of looks of a multilooked intensity over a homogeneous area:
    ENL = mean^2 / variance (Lee & Pottier 2009, ch. 4; Oliver & Quegan 1998)."""
    x = np.asarray(intensity, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean() ** 2 / x.var())
