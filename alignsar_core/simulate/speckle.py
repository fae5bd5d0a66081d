"""Random scattering: temporally and polarimetrically correlated speckle, and the SAR
system's band-limited impulse response.

Distributed scatterers give circular complex Gaussian pixel values (fully developed
speckle: Goodman 1976; single-look intensity exponential, CV 1). Between dates the
complex reflectivities are correlated with the class's temporal coherence; between
co- and cross-polarised channels with their complex correlation rho (zero for
reflection-symmetric media, Lee & Pottier 2009 ch. 3).
"""

from __future__ import annotations

import numpy as np
import scipy.fft


def temporal_coherence(dt_days, gamma0, gamma_inf, tau_days):
    """gamma(dt) = (gamma0 - gamma_inf) exp(-|dt| / tau) + gamma_inf for dt != 0; 1 at dt = 0.

    Exponential decorrelation model (Rocca 2007, "Modeling interferogram stacks", IEEE
    TGRS 45(10); Parizzi et al. 2009): an instantaneous loss 1 - gamma0, a part that
    decays with time constant tau, and a persistent part gamma_inf.
    """
    dt = np.abs(np.asarray(dt_days, dtype=np.float64))
    g = (np.asarray(gamma0) - gamma_inf) * np.exp(-dt / np.asarray(tau_days)) + gamma_inf
    return np.where(dt == 0, 1.0, g)


_C, _U, _N = 1, 2, 3  # stream kinds: persistent part, autoregressive part, white part


def _coherence_weights(shape, gamma0, gamma_inf, tau_days):
    g0 = np.broadcast_to(np.asarray(gamma0, dtype=np.float32), shape)
    gi = np.broadcast_to(np.asarray(gamma_inf, dtype=np.float32), shape)
    tau = np.broadcast_to(np.asarray(tau_days, dtype=np.float32), shape)
    if (gi > g0).any() or (g0 > 1).any() or (gi < 0).any():
        raise ValueError("coherence parameters must satisfy 0 <= gamma_inf <= gamma0 <= 1")
    return np.sqrt(gi), np.sqrt(g0 - gi), np.sqrt(1.0 - g0), tau


def _cgauss(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-variance circular complex Gaussian, complex64 (Re, Im drawn interleaved)."""
    z = rng.standard_normal(shape + (2,), dtype=np.float32)
    z *= np.float32(np.sqrt(0.5))
    return z.view(np.complex64).reshape(shape)


def _series(days: np.ndarray, want: list[int], weights, draw) -> dict[int, np.ndarray]:
    """The dates ``want`` of one reflectivity series (see ``correlated_speckle``);
    ``draw(kind, date)`` returns a fresh unit complex Gaussian field. One pass over the
    dates up to max(want), vectorised over pixels."""
    w_c, w_u, w_n, tau = weights
    out = {}
    c = draw(_C, 0)
    u = draw(_U, 0)
    for d in range(max(want) + 1):
        if d:
            r = np.exp(-(days[d] - days[d - 1]) / tau).astype(np.float32)
            u = r * u + np.sqrt(1.0 - r * r) * draw(_U, d)
        if d in want:
            out[d] = (w_c * c + w_u * u + w_n * draw(_N, d)).astype(np.complex64)
    return out


def _mix_channels(first: np.ndarray, second: np.ndarray, rho, shape) -> np.ndarray:
    rho = np.broadcast_to(np.asarray(rho, dtype=np.complex64), shape)
    return np.conj(rho) * first + np.sqrt(1.0 - np.abs(rho) ** 2).astype(np.float32) * second


def correlated_speckle(shape: tuple[int, ...], days: np.ndarray, gamma0, gamma_inf, tau_days,
                       rng: np.random.Generator, n_channels: int = 1, rho=0.0) -> np.ndarray:
    """Unit-variance circular Gaussian reflectivities a[date, channel, *shape], complex64.

    Construction (each term independent, unit variance):
        a_d = sqrt(gamma_inf) c + sqrt(gamma0 - gamma_inf) u_d + sqrt(1 - gamma0) n_d
    with c persistent, u_d a first-order autoregressive series in time with
    correlation exp(-|t_d - t_d'| / tau) (exact for any date spacing), n_d white.
    Then E[a_d a_d'^*] = temporal_coherence(t_d - t_d'). Channel 1 (cross-pol) is
    rho * (channel 0) + sqrt(1 - |rho|^2) * (an independent series of the same
    temporal structure) with weight conj(rho), so that E[a_0 a_1^*] = rho (the C12
    element of the dual-pol covariance matrix) on every date.
    Parameters may be scalars or arrays broadcasting to ``shape`` (per pixel, from
    the class map). ``speckle_on_date`` draws one date of the same process from
    keyed streams, without holding the others.
    """
    days = np.asarray(days, dtype=np.float64)
    if n_channels not in (1, 2):
        raise ValueError("1 (single-pol) or 2 (dual-pol) channels")
    weights = _coherence_weights(shape, gamma0, gamma_inf, tau_days)
    want = list(range(days.size))
    series = [_series(days, want, weights, lambda kind, d: _cgauss(rng, shape)) for _ in range(n_channels)]
    first = np.stack([series[0][d] for d in want])
    if n_channels == 1:
        return first[:, None]
    second = _mix_channels(first, np.stack([series[1][d] for d in want]), rho, shape)
    return np.stack([first, second], axis=1)


def speckle_on_date(shape: tuple[int, ...], days: np.ndarray, date: int, gamma0, gamma_inf, tau_days,
                    key: tuple[int, ...], channels: tuple[int, ...] = (0,), rho=0.0) -> np.ndarray:
    """Date ``date`` of the process of ``correlated_speckle``: (len(channels), *shape).

    Every random field comes from its own stream ``SeedSequence(key + (series, kind,
    date))``, so any date (and any block, with the block in ``key``) is reproducible on
    its own, and two calls with the same key and different dates give the correlated
    pair of the model. Cost: dates 0..date of the autoregressive part are drawn again
    (O(date) fields) instead of holding a state between calls. ``channels``: 0 the
    co-pol series, 1 the cross-pol channel correlated with it by ``rho``.
    """
    days = np.asarray(days, dtype=np.float64)
    weights = _coherence_weights(shape, gamma0, gamma_inf, tau_days)

    def draw_for(series):
        return lambda kind, d: _cgauss(np.random.default_rng(np.random.SeedSequence(
            [int(k) & 0xFFFFFFFF for k in key] + [series, kind, d])), shape)

    first = _series(days, [date], weights, draw_for(0))[date]
    out = []
    for ch in channels:
        if ch == 0:
            out.append(first)
        elif ch == 1:
            out.append(_mix_channels(first, _series(days, [date], weights, draw_for(1))[date], rho, shape))
        else:
            raise ValueError(f"channel {ch}: 0 (co-pol) or 1 (cross-pol)")
    return np.stack(out)


def hamming_lowpass(n: int, fraction: float, coefficient: float) -> np.ndarray:
    """Spectral weighting (FFT order) of a SAR processor: a generalised Hamming window
    alpha + (1 - alpha) cos(2 pi f / B) over the processed band |f| < B/2, zero outside.

    ``fraction`` = B / sampling rate (annotation processingBandwidth over the range
    sampling rate or the azimuth line rate); ``coefficient`` = alpha (annotation
    windowCoefficient: 0.75 in range, 0.70 in azimuth for IW). Normalised so that
    white unit-variance input keeps unit variance after filtering.
    """
    f = np.fft.fftfreq(n)
    inside = np.abs(f) < fraction / 2
    w = np.where(inside, coefficient + (1 - coefficient) * np.cos(2 * np.pi * f / fraction), 0.0)
    return (w / np.sqrt(np.mean(w ** 2))).astype(np.float32)


def band_limit(field: np.ndarray, az_fraction: float, az_coeff: float, rg_fraction: float,
               rg_coeff: float, overwrite: bool = False) -> np.ndarray:
    """Apply the system's 2-D spectral weighting to a complex field (last two axes).

    scipy.fft keeps complex64 in single precision and runs on all cores (numpy's FFT
    would double the memory in complex128); the separable weighting is applied one axis
    at a time. ``overwrite``: the input may be used as work space (saves one copy)."""
    n, m = field.shape[-2:]
    spec = scipy.fft.fft2(np.asarray(field, dtype=np.complex64), axes=(-2, -1), workers=-1, overwrite_x=overwrite)
    spec *= hamming_lowpass(n, az_fraction, az_coeff)[:, None]
    spec *= hamming_lowpass(m, rg_fraction, rg_coeff)[None, :]
    return scipy.fft.ifft2(spec, axes=(-2, -1), workers=-1, overwrite_x=True).astype(np.complex64, copy=False)


def spectral_shift_coherence(shift_fraction, band_fraction: float, coefficient: float) -> np.ndarray:
    """Coherence left between two images whose spectra (band ``band_fraction`` of the
    sampling rate, generalised Hamming weighting ``coefficient``) are shifted against
    each other by ``shift_fraction`` (cycles per sample), e.g. the range spectral shift
    of a perpendicular baseline, Delta f = -f0 B_perp / (R tan(theta - slope))
    (Gatelli et al. 1994, IEEE TGRS 32(4)):

        gamma(df) = int W(f) W(f - df) df / int W(f)^2 df

    (1 - |df| / B for a rectangular window). Evaluated on a fine frequency grid."""
    f = np.linspace(-0.5 * band_fraction, 0.5 * band_fraction, 4097)
    w = coefficient + (1 - coefficient) * np.cos(2 * np.pi * f / band_fraction)
    table_df = np.linspace(0.0, band_fraction, 1025)
    shifted = f[None, :] - table_df[:, None]
    w2 = np.where(np.abs(shifted) < 0.5 * band_fraction,
                  coefficient + (1 - coefficient) * np.cos(2 * np.pi * shifted / band_fraction), 0.0)
    table = (w2 * w[None, :]).sum(axis=1) / (w * w).sum()
    return np.interp(np.abs(np.asarray(shift_fraction, dtype=np.float64)), table_df, table, right=0.0)
