"""Band-limited resampling of complex SAR images at fractional positions.

Kernel: truncated sinc with a Kaiser window (Harris 1978; the standard choice of SAR
coregistration, e.g. Hanssen 2001 sec. 4.2, ISCE/GAMMA resamplers), ``taps`` samples
wide (8 by default), tabulated at ``1/subsamples`` fractional steps and normalised
to unit sum so the DC gain is exactly one. Separable weights, two-dimensional
support: output (i, j) = sum_p sum_q w_az(p) w_rg(q) src[y0 + p, x0 + q] at the
source position (i + row0 + daz[i, j], j + col0 + drg[i, j]).

The signal must be at baseband (for TOPS bursts: deramped, see ``tops``) and
oversampled; Sentinel-1 IW SLCs are (range bandwidth 56.5 MHz sampled at 64.3 MHz,
azimuth processed bandwidth about 2/3 of the PRF).

Offsets rather than absolute positions are passed so float32 is enough: positions
up to 25,000 would lose the 0.001-pixel precision coregistration needs in float32.

Written with numba because the per-pixel gather with two fractional tap sets is a
loop that numpy cannot express without materialising taps^2 temporaries per pixel
and scipy's ``map_coordinates`` has no windowed-sinc kernel.
"""

from __future__ import annotations

import functools

import numba
import numpy as np


@functools.lru_cache(maxsize=16)
def kernel_table(taps: int = 8, subsamples: int = 2048, beta: float = 3.0, band: float | None = None,
                 coefficient: float = 1.0) -> np.ndarray:
    """Weights (subsamples + 1, taps) for fractional shifts k / subsamples, k = 0..subsamples.

    Tap q sits at offset q - taps/2 + 1 from floor(position); weight
    w = sinc(d) * kaiser(d; beta, taps) with d the distance.

    Normalisation: without ``band``, every row sums to 1 (unit DC gain). A truncated
    kernel's response ripples inside the band, so the POWER it passes at a fractional
    shift is not 1: on Sentinel-1 speckle (67 % of the band in azimuth) an 8-tap row at
    0.5 sample gains ~3 % of intensity, a sigma0 bias of +0.13 dB on resampled dates.
    With ``band`` (processed bandwidth / sampling rate) each row is scaled so that a
    signal filling that band with the SAR processor's spectral weighting (generalised
    Hamming, ``coefficient``; 1 = flat) keeps its mean power:
    w <- w / sqrt(int S(f) |H(f)|^2 df / int S(f) df), S = weighting^2, H the row's
    frequency response. Phases and coherence are unchanged (a real scale per shift).
    beta = 3 measured best for 8 taps on noise with Sentinel-1's oversampling (0.68 of
    the band in azimuth, 0.88 in range): coherence 0.9984 after a shift there and back,
    against 0.9972 with beta = 5; 16 taps reach 0.9999.
    """
    if taps < 2 or taps % 2:
        raise ValueError(f"taps must be an even number >= 2, got {taps}")
    frac = np.arange(subsamples + 1) / subsamples
    offsets = np.arange(taps) - taps // 2 + 1
    d = offsets[None, :] - frac[:, None]
    half = taps / 2.0
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (d / half) ** 2, 0.0, None))) / np.i0(beta)
    w = np.sinc(d) * window
    w /= w.sum(axis=1, keepdims=True)
    if band is not None:
        f = np.linspace(-0.5 * band, 0.5 * band, 129)
        spec = (coefficient + (1.0 - coefficient) * np.cos(2 * np.pi * f / band)) ** 2
        # response of each row at f: sum_q w_q exp(+2 pi j f (offset_q - frac)) (|H| is what matters)
        resp = np.einsum("kq,kqf->kf", w, np.exp(2j * np.pi * d[:, :, None] * f[None, None, :]))
        gain = (np.abs(resp) ** 2 * spec).sum(axis=1) / spec.sum()
        w /= np.sqrt(gain)[:, None]
    return w.astype(np.float32)


@numba.njit(parallel=True, cache=True)
def _resample_kernel(src, daz, drg, row0, col0, table_az, table_rg, out):
    n_src, m_src = src.shape
    n_out, m_out = out.shape
    taps = table_az.shape[1]
    sub = table_az.shape[0] - 1
    half = taps // 2
    for i in numba.prange(n_out):
        for j in range(m_out):
            a = i + row0 + np.float64(daz[i, j])
            r = j + col0 + np.float64(drg[i, j])
            ia = int(np.floor(a))
            ir = int(np.floor(r))
            ka = int((a - ia) * sub + 0.5)
            kr = int((r - ir) * sub + 0.5)
            acc_re = 0.0
            acc_im = 0.0
            for p in range(taps):
                y = ia - half + 1 + p
                if y < 0 or y >= n_src:
                    continue
                row_re = 0.0
                row_im = 0.0
                for q in range(taps):
                    x = ir - half + 1 + q
                    if x < 0 or x >= m_src:
                        continue
                    wq = table_rg[kr, q]
                    v = src[y, x]
                    row_re += wq * v.real
                    row_im += wq * v.imag
                wp = table_az[ka, p]
                acc_re += wp * row_re
                acc_im += wp * row_im
            out[i, j] = complex(acc_re, acc_im)


@numba.njit(parallel=True, cache=True)
def _resample_separable_kernel(src, daz, drg, row0, col0, table_az, table_rg, out):
    n_src, m_src = src.shape
    n_out, m_out = out.shape
    taps = table_az.shape[1]
    sub = table_az.shape[0] - 1
    half = taps // 2
    for i in numba.prange(n_out):
        # source columns this output row needs
        x_lo = m_src
        x_hi = -1
        for j in range(m_out):
            ir = int(np.floor(j + col0 + np.float64(drg[i, j])))
            x_lo = min(x_lo, ir - half + 1)
            x_hi = max(x_hi, ir + half)
        x_lo = max(x_lo, 0)
        x_hi = min(x_hi, m_src - 1)
        if x_hi < x_lo:
            for j in range(m_out):
                out[i, j] = 0
            continue
        tmp_re = np.empty(x_hi - x_lo + 1, dtype=np.float32)
        tmp_im = np.empty(x_hi - x_lo + 1, dtype=np.float32)
        # pass 1, azimuth: each source column at this row's azimuth position (the offset of
        # the output column that column feeds)
        for x in range(x_lo, x_hi + 1):
            j = min(max(x - col0, 0), m_out - 1)
            a = i + row0 + np.float64(daz[i, j])
            ia = int(np.floor(a))
            ka = int((a - ia) * sub + 0.5)
            acc_re = 0.0
            acc_im = 0.0
            for p in range(taps):
                y = ia - half + 1 + p
                if y < 0 or y >= n_src:
                    continue
                w = table_az[ka, p]
                v = src[y, x]
                acc_re += w * v.real
                acc_im += w * v.imag
            tmp_re[x - x_lo] = acc_re
            tmp_im[x - x_lo] = acc_im
        # pass 2, range
        for j in range(m_out):
            r = j + col0 + np.float64(drg[i, j])
            ir = int(np.floor(r))
            kr = int((r - ir) * sub + 0.5)
            acc_re = 0.0
            acc_im = 0.0
            for q in range(taps):
                x = ir - half + 1 + q
                if x < x_lo or x > x_hi:
                    continue
                w = table_rg[kr, q]
                acc_re += w * tmp_re[x - x_lo]
                acc_im += w * tmp_im[x - x_lo]
            out[i, j] = complex(acc_re, acc_im)


def resample(
    src: np.ndarray,
    az_offset: np.ndarray,
    rg_offset: np.ndarray,
    *,
    row0: int = 0,
    col0: int = 0,
    taps: int = 8,
    beta: float = 3.0,
    separable: bool = True,
    bands: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> np.ndarray:
    """Sample ``src`` (complex, baseband) at (i + row0 + az_offset, j + col0 + rg_offset).

    ``az_offset``/``rg_offset`` have the output's shape (broadcastable scalars are
    expanded). Taps falling outside ``src`` count as zero.

    ``separable`` (default): two passes, azimuth then range (2 x taps multiply-adds per
    pixel instead of taps^2; 8x fewer with 16 taps). Exact for offsets constant along
    range over the kernel; otherwise the azimuth position of source column x is taken
    from output column x - col0 instead of x - col0 - rg_offset, an error of
    (d az_offset / d range) x rg_offset: ~1e-6 line for Sentinel-1 stacks, whose
    azimuth offsets change by < 1e-4 line per range pixel. ``separable=False``: the
    full 2-D kernel (exact for any offset field).

    ``bands``: ((azimuth band fraction, window coefficient), (range ...)) of the signal,
    e.g. Sentinel-1 IW ((327 / 486.5, 0.70), (56.5 / 64.345, 0.75)) from the annotation
    (``Annotation.processing_bands``): the kernel then keeps the signal's mean power at every
    fractional shift (``kernel_table``); default unit DC gain.
    """
    az_offset = np.asarray(az_offset, dtype=np.float32)
    rg_offset = np.asarray(rg_offset, dtype=np.float32)
    shape = np.broadcast_shapes(az_offset.shape, rg_offset.shape)
    if len(shape) != 2:
        raise ValueError(f"offsets must be 2-D (or broadcast to it), got shape {shape}")
    az = np.ascontiguousarray(np.broadcast_to(az_offset, shape))
    rg = np.ascontiguousarray(np.broadcast_to(rg_offset, shape))
    out = np.empty(shape, dtype=np.complex64)
    (_resample_separable_kernel if separable else _resample_kernel)(np.ascontiguousarray(src, dtype=np.complex64), az, rg, int(row0), int(col0),
                     *_tables(taps, beta, bands), out)
    return out


def _tables(taps: int, beta: float, bands) -> tuple[np.ndarray, np.ndarray]:
    if bands is None:
        t = kernel_table(taps, 2048, beta)
        return t, t
    (fa, ca), (fr, cr) = bands
    return (kernel_table(taps, 2048, beta, round(float(fa), 6), round(float(ca), 6)),
            kernel_table(taps, 2048, beta, round(float(fr), 6), round(float(cr), 6)))

