"""Interferometric coherence of a coregistered SLC pair, its bias and looks.

Sample complex coherence over a boxcar window W (Touzi et al. 1999; Hanssen 2001 ch. 4):

    gamma = sum_W s1 s2* exp(-i phi_removed) / sqrt(sum_W |s1|^2 sum_W |s2|^2)

``coherence`` / ``complex_coherence`` use a moving window (one value per pixel, halo
``halo_for(window)``); ``multilook_coherence`` averages non-overlapping blocks (one value
per block, as sarxarray's ``complex_coherence`` / xarray ``coarsen(boundary="trim")``).
Removing the reference and topographic phase inside the window matters: fringes in the
window lower the sample coherence.

``adaptive_coherence`` sums over the statistically homogeneous pixels (SHP) of a
larger window instead of all of it: the neighbours whose time-mean amplitude lies in
the confidence interval of the centre pixel's (Jiang, Ding, Hanssen, Malhotra & Chang
2015, "Fast statistically homogeneous pixel selection for covariance matrix
estimation for multitemporal InSAR", IEEE TGRS 53(3): FaSHPS). Field edges and point
targets then no longer mix unlike scatterers into one estimate.

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

from .window import _cross_row, _offsets, as_window, halo_for, hermitian_box, pair_inputs, run_split

__all__ = ["ATTRS", "coherence", "complex_coherence", "multilook_coherence", "adaptive_coherence",
           "shp_tolerance", "shp_count",
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
    "coherence_adaptive": {
        "units": "1", "long_name": "interferometric coherence magnitude (adaptive: homogeneous pixels only)",
        "formula": "|sum_S s1 s2* exp(-i phi_removed)| / sqrt(sum_S |s1|^2 sum_S |s2|^2), S the statistically "
                   "homogeneous pixels of the window: |A_q - A_p| <= z_(1-alpha/2) CV A_p / sqrt(N), A the "
                   "time-mean amplitude over the N valid dates, CV = sqrt(4/pi - 1) (Rayleigh amplitude)",
        "reference": "Jiang, Ding, Hanssen, Malhotra & Chang 2015, Fast statistically homogeneous pixel selection "
                     "for covariance matrix estimation for multitemporal InSAR, IEEE TGRS 53(3); " + _REF,
    },
    "shp_count": {
        "units": "1", "long_name": "number of statistically homogeneous pixels in the adaptive window",
        "formula": "#{q in W : |A_q - A_p| <= z_(1-alpha/2) CV A_p / sqrt(N)} (the centre pixel included): the "
                   "looks of coherence_adaptive",
        "reference": "Jiang, Ding, Hanssen, Malhotra & Chang 2015, IEEE TGRS 53(3)",
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
# Adaptive (SHP) coherence: Jiang et al. 2015 (FaSHPS)

#: Coefficient of variation of a single-look amplitude (Rayleigh): sqrt(4 / pi - 1).
RAYLEIGH_CV = math.sqrt(4.0 / math.pi - 1.0)


def shp_tolerance(n_dates, alpha: float = 0.05) -> np.ndarray:
    """Relative half-width of the (1 - alpha) confidence interval of a pixel's time-mean
    amplitude over ``n_dates`` single-look dates: z_(1-alpha/2) CV / sqrt(N), CV the
    Rayleigh amplitude's coefficient of variation (Jiang et al. 2015, FaSHPS: the sample
    mean of N amplitudes is near-Gaussian, with standard deviation mu CV / sqrt(N)).
    float32, NaN where N < 1."""
    from scipy.stats import norm

    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha {alpha}: a significance level in (0, 1) is needed")
    n = np.asarray(n_dates, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tol = norm.ppf(1.0 - alpha / 2.0) * RAYLEIGH_CV / np.sqrt(n)
    return np.where(n >= 1, tol, np.nan).astype(np.float32)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _shp_kernel(amp, tol, q_re, q_im, pa, pb, a0, a1, r0, r1, with_sums, start, stop, coh, cnt):
    """Rows [start, stop): over every offset (da, dr) of the window, in one fixed order
    (so a tile with the halo gives the whole array's sums bit for bit), add the
    neighbour's products where it is homogeneous with the centre pixel: |A_q - A_p| <=
    tol_p A_p (False for NaN amplitudes). Window truncated at the array edges.
    Accumulated in float32 over at most a few hundred terms per pixel, columns in spans
    that keep the five accumulator rows in L1."""
    n, m = amp.shape
    span = 1024
    acc = np.empty((5, span), dtype=np.float32)
    lim = np.empty(span, dtype=np.float32)
    for i in range(start, stop):
        for c0 in range(0, m, span):
            c1 = min(m, c0 + span)
            w = c1 - c0
            acc[:, :w] = 0.0
            ap = amp[i, c0:c1]
            for t in range(w):
                lim[t] = tol[i, c0 + t] * ap[t]
            for da in range(-a0, a1 + 1):
                ii = i + da
                if ii < 0 or ii >= n:
                    continue
                for dr in range(-r0, r1 + 1):
                    t_lo = max(0, -dr - c0)  # columns whose neighbour lies inside [0, m)
                    t_hi = min(w, m - dr - c0)
                    if t_hi <= t_lo:
                        continue
                    aq = amp[ii, c0 + dr + t_lo:c0 + dr + t_hi]
                    apl = ap[t_lo:t_hi]
                    lm = lim[t_lo:t_hi]
                    k = acc[4, t_lo:t_hi]
                    if with_sums:
                        xr = q_re[ii, c0 + dr + t_lo:c0 + dr + t_hi]
                        xi = q_im[ii, c0 + dr + t_lo:c0 + dr + t_hi]
                        ya = pa[ii, c0 + dr + t_lo:c0 + dr + t_hi]
                        yb = pb[ii, c0 + dr + t_lo:c0 + dr + t_hi]
                        s0 = acc[0, t_lo:t_hi]
                        s1 = acc[1, t_lo:t_hi]
                        s2 = acc[2, t_lo:t_hi]
                        s3 = acc[3, t_lo:t_hi]
                        for t in range(t_hi - t_lo):  # (LLVM vectorises this with masked adds)
                            if abs(aq[t] - apl[t]) <= lm[t]:
                                s0[t] += xr[t]
                                s1[t] += xi[t]
                                s2[t] += ya[t]
                                s3[t] += yb[t]
                                k[t] += np.float32(1.0)
                    else:
                        for t in range(t_hi - t_lo):
                            if abs(aq[t] - apl[t]) <= lm[t]:
                                k[t] += np.float32(1.0)
            for t in range(w):
                cnt[i, c0 + t] = acc[4, t]
                if with_sums:
                    d = np.float64(acc[2, t]) * np.float64(acc[3, t])
                    if d > 0.0 and acc[4, t] > 0.0:
                        coh[i, c0 + t] = min(1.0, np.sqrt(np.float64(acc[0, t]) ** 2 + np.float64(acc[1, t]) ** 2)
                                             / np.sqrt(d))
                    else:
                        coh[i, c0 + t] = np.nan


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _products_kernel(s1, s2, cph, sph, use_phase, start, stop, q_re, q_im, pa, pb):
    """Rows [start, stop): s1 s2* exp(-i phi) (``window._cross_row``), |s1|^2, |s2|^2
    in float32."""
    for i in range(start, stop):
        ii = i if use_phase else 0  # (the phase placeholder is 1 x 1)
        _cross_row(s1[i], s2[i], cph[ii], sph[ii], use_phase, q_re[i], q_im[i], True, pa[i], pb[i])


def _shp_inputs(mean_amplitude, n_dates, alpha):
    amp = np.ascontiguousarray(mean_amplitude, dtype=np.float32)
    if amp.ndim != 2:
        raise ValueError(f"mean_amplitude must be 2-D (azimuth, range), got shape {amp.shape}")
    tol = np.ascontiguousarray(np.broadcast_to(shp_tolerance(n_dates, alpha), amp.shape), dtype=np.float32)
    return amp, tol


def shp_count(mean_amplitude: np.ndarray, window, n_dates, alpha: float = 0.05) -> np.ndarray:
    """Number of statistically homogeneous pixels of each pixel's ``window`` (float32,
    the centre included; 0 where the pixel's amplitude is NaN): the looks of
    ``adaptive_coherence``. Test as there. Halo ``halo_for(window)``."""
    a, r = as_window(window)
    amp, tol = _shp_inputs(mean_amplitude, n_dates, alpha)
    cnt = np.empty(amp.shape, dtype=np.float32)
    z = np.zeros((1, 1), dtype=np.float32)
    (a0, a1), (r0, r1) = _offsets(a), _offsets(r)
    run_split(_shp_kernel, amp.shape[0], (amp, tol, z, z, z, z, a0, a1, r0, r1, False), (z, cnt))
    return cnt


def adaptive_coherence(s1: np.ndarray, s2: np.ndarray, mean_amplitude: np.ndarray, window=(7, 21),
                       n_dates=1, alpha: float = 0.05, removed_phase: np.ndarray | None = None,
                       return_count: bool = False):
    """Adaptive coherence magnitude: the boxcar estimator summed over the statistically
    homogeneous pixels (SHP) S of a moving (az, rg) ``window`` only (Jiang et al. 2015,
    FaSHPS):

        gamma = |sum_S s1 s2* exp(-i phi_removed)| / sqrt(sum_S |s1|^2 sum_S |s2|^2)
        S = {q in W : |A_q - A_p| <= z_(1-alpha/2) CV A_p / sqrt(N)}

    ``removed_phase``: phi (rad) or its (cos, sin) (``fused.phase_factors``).
    ``mean_amplitude`` A: the time-mean amplitude of each pixel over the N = ``n_dates``
    valid dates of the stack (scalar or per pixel; NaN where a pixel has none: output
    NaN); CV = sqrt(4/pi - 1), the Rayleigh amplitude's coefficient of variation, so the
    interval is the (1 - alpha) confidence interval of the centre pixel's mean. The
    centre pixel is always in S. Unlike the boxcar (``coherence``), a window across a
    field edge or next to a bright point only sums the pixels like the centre, so the
    estimate keeps the centre's coherence up to the edge; the number of looks varies per
    pixel (``return_count``: also ``shp_count``, the looks for ``unbias_coherence``).

    float32 in [0, 1]; windows truncated at the array edges; halo ``halo_for(window)``.
    Cost grows with the window's pixel count (every neighbour is tested): about
    0.12 us per pixel for 7 x 21 (147 pixels) on one core.
    """
    a, r = as_window(window)
    if isinstance(removed_phase, tuple):  # (cos, sin) of the phase, computed once per pair
        s1, s2, _, _ = pair_inputs(s1, s2, None)
        cph, sph = (np.ascontiguousarray(x, dtype=np.float32) for x in removed_phase)
        if cph.shape != s1.shape or sph.shape != s1.shape:
            raise ValueError(f"removed phase shape {cph.shape} != SLC shape {s1.shape}")
    else:
        s1, s2, cph, sph = pair_inputs(s1, s2, removed_phase)
    amp, tol = _shp_inputs(mean_amplitude, n_dates, alpha)
    if amp.shape != s1.shape:
        raise ValueError(f"mean_amplitude shape {amp.shape} != SLC shape {s1.shape}")
    q_re, q_im, pa, pb = (np.empty(s1.shape, dtype=np.float32) for _ in range(4))
    run_split(_products_kernel, s1.shape[0], (s1, s2, cph, sph, removed_phase is not None), (q_re, q_im, pa, pb))
    coh = np.empty(s1.shape, dtype=np.float32)
    cnt = np.empty(s1.shape, dtype=np.float32)
    (a0, a1), (r0, r1) = _offsets(a), _offsets(r)
    run_split(_shp_kernel, s1.shape[0], (amp, tol, q_re, q_im, pa, pb, a0, a1, r0, r1, True), (coh, cnt))
    return (coh, cnt) if return_count else coh


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
