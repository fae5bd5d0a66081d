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


def temporal_coherence(dt_days, gamma0, gamma_inf, tau_days):
    """gamma(dt) = (gamma0 - gamma_inf) exp(-|dt| / tau) + gamma_inf for dt != 0; 1 at dt = 0.

    Exponential decorrelation model (Rocca 2007, "Modeling interferogram stacks", IEEE
    TGRS 45(10); Parizzi et al. 2009): an instantaneous loss 1 - gamma0, a part that
    decays with time constant tau, and a persistent part gamma_inf.
    """
    dt = np.abs(np.asarray(dt_days, dtype=np.float64))
    g = (np.asarray(gamma0) - gamma_inf) * np.exp(-dt / np.asarray(tau_days)) + gamma_inf
    return np.where(dt == 0, 1.0, g)


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
    the class map).
    """
    days = np.asarray(days, dtype=np.float64)
    g0 = np.broadcast_to(np.asarray(gamma0, dtype=np.float32), shape)
    gi = np.broadcast_to(np.asarray(gamma_inf, dtype=np.float32), shape)
    tau = np.broadcast_to(np.asarray(tau_days, dtype=np.float32), shape)
    if (gi > g0).any() or (g0 > 1).any() or (gi < 0).any():
        raise ValueError("coherence parameters must satisfy 0 <= gamma_inf <= gamma0 <= 1")
    w_c, w_u, w_n = np.sqrt(gi), np.sqrt(g0 - gi), np.sqrt(1.0 - g0)

    def cgauss():
        z = rng.standard_normal(shape + (2,), dtype=np.float32)
        return (z[..., 0] + 1j * z[..., 1]).astype(np.complex64) * np.float32(np.sqrt(0.5))

    def series():
        out = np.empty((days.size,) + shape, dtype=np.complex64)
        c = cgauss()
        u = cgauss()
        for d in range(days.size):  # loop over dates, vectorised over pixels
            if d:
                r = np.exp(-(days[d] - days[d - 1]) / tau).astype(np.float32)
                u = r * u + np.sqrt(1.0 - r * r) * cgauss()
            out[d] = w_c * c + w_u * u + w_n * cgauss()
        return out

    first = series()
    if n_channels == 1:
        return first[:, None]
    if n_channels != 2:
        raise ValueError("1 (single-pol) or 2 (dual-pol) channels")
    rho = np.broadcast_to(np.asarray(rho, dtype=np.complex64), shape)
    second = np.conj(rho) * first + np.sqrt(1.0 - np.abs(rho) ** 2).astype(np.float32) * series()
    return np.stack([first, second], axis=1)


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
               rg_coeff: float) -> np.ndarray:
    """Apply the system's 2-D spectral weighting to a complex field (last two axes)."""
    n, m = field.shape[-2:]
    h = hamming_lowpass(n, az_fraction, az_coeff)[:, None] * hamming_lowpass(m, rg_fraction, rg_coeff)[None, :]
    return np.fft.ifft2(np.fft.fft2(field, axes=(-2, -1)) * h, axes=(-2, -1)).astype(np.complex64)
