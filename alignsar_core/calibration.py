"""Radiometric calibration of Sentinel-1 SLC pixels.

ESA, "Radiometric Calibration of Sentinel-1 Products" (ESA-EOPG-CSCOP-TN-0002),
and the S1 Product Specification (S1-RS-MDA-52-7441), calibration annotation:

    sigma0 = |DN|^2 / A_sigma^2        beta0 = |DN|^2 / A_beta^2
    gamma0 = |DN|^2 / A_gamma^2        (linear, m^2/m^2);  x_dB = 10 log10(x)

where A is the calibration look-up table given on a sparse grid of (line, pixel)
vectors in the calibration XML, bilinearly interpolated to every pixel (the same
interpolation as xarray-sentinel's ``calibrate_intensity``, which uses xarray's
linear ``interp`` in line and pixel).

Bilinear interpolation on a rectilinear grid is separable: interpolating every LUT
vector to the burst's pixels once (L x samples values), then blending the two LUT
vectors around each line with one weight per line, gives exactly the bilinear value
while touching each output pixel with 2 multiply-adds instead of a 2-D ``interp``.
The per-pixel work is fused in one numba kernel with |DN|^2, the division and the
dB conversion, so each pixel is read once and written once.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import xarray as xr

LUT_VARIABLES = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma"}


@dataclasses.dataclass(frozen=True)
class CalibrationLut:
    """One calibration LUT on its sparse grid (swath line and pixel indices)."""

    name: str  # "sigma0" | "beta0" | "gamma0"
    lines: np.ndarray  # (L,) int, swath line of each vector (may be < 0 or > last line)
    pixels: np.ndarray  # (P,) int
    values: np.ndarray  # (L, P) float64

    @classmethod
    def from_xarray_sentinel(cls, calibration: xr.Dataset, name: str = "sigma0") -> "CalibrationLut":
        """From the ``{swath}/{pol}/calibration`` group opened with xarray-sentinel."""
        var = calibration[LUT_VARIABLES[name]]
        return cls(name=name, lines=np.asarray(var["line"].values),
                   pixels=np.asarray(var["pixel"].values),
                   values=np.asarray(var.values, dtype=np.float64))

    def rows_at_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Interpolate every LUT vector linearly in pixel: (L, len(pixels)) float32."""
        idx, w = _linear_weights(self.pixels, pixels)
        v = self.values
        return ((1.0 - w) * v[:, idx] + w * v[:, idx + 1]).astype(np.float32)

    def line_weights(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the LUT vector at or before each line, and the blend weight."""
        idx, w = _linear_weights(self.lines, lines)
        return idx.astype(np.int64), w.astype(np.float32)

    def blend_rows(self, rows: np.ndarray, lines: np.ndarray) -> np.ndarray:
        """Interpolate in line between vectors already interpolated in pixel (``rows``)."""
        i, w = self.line_weights(lines)
        return (1.0 - w)[:, None] * rows[i] + w[:, None] * rows[i + 1]

    def interpolate(self, lines: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Full bilinear LUT A(line, pixel) as float32 (for tests and small areas)."""
        return self.blend_rows(self.rows_at_pixels(pixels), lines)


def _linear_weights(xp: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left index into ascending ``xp`` and weight for linear interpolation at ``x``.

    Outside ``xp`` the end segment is extrapolated linearly, as ESA LUT grids are
    meant to cover the image (their first/last vectors lie at or beyond the edges).
    """
    xp = np.asarray(xp, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if xp.size < 2:
        raise ValueError("a calibration LUT needs at least two vectors in each direction")
    idx = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, xp.size - 2)
    w = (x - xp[idx]) / (xp[idx + 1] - xp[idx])
    return idx, w


@numba.njit(parallel=True, fastmath=False, cache=True)
def _calibrate_kernel(pairs, rows, idx, w, valid_rows, vs0, vs1, out_lin, out_db):
    n, m = out_lin.shape
    for i in numba.prange(n):
        if not valid_rows[i]:
            for j in range(m):
                out_lin[i, j] = np.nan
                out_db[i, j] = np.nan
            continue
        k = idx[i]
        wi = w[i]
        for j in range(m):
            if j < vs0 or j > vs1:
                out_lin[i, j] = np.nan
                out_db[i, j] = np.nan
                continue
            a = (1.0 - wi) * rows[k, j] + wi * rows[k + 1, j]
            re = np.float32(pairs[i, 2 * j])
            im = np.float32(pairs[i, 2 * j + 1])
            p = (re * re + im * im) / (a * a)
            out_lin[i, j] = p
            out_db[i, j] = 10.0 * np.log10(p) if p > 0.0 else np.nan


def calibrate_block(
    dn: np.ndarray,
    lut_rows: np.ndarray,
    line_idx: np.ndarray,
    line_w: np.ndarray,
    valid_rows: np.ndarray | None = None,
    valid_samples: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated intensity (linear, dB) of a block of DNs.

    ``dn`` is complex (lines, samples) or interleaved (re, im) pairs of shape
    (lines, 2 * samples), int16 as read from the file or float32; pairs avoid
    converting CInt16 to complex64 before the kernel.

    ``lut_rows`` comes from ``CalibrationLut.rows_at_pixels`` for the block's
    samples, ``line_idx/line_w`` from ``CalibrationLut.line_weights`` for its lines.
    Pixels outside ``valid_rows`` / ``valid_samples`` (inclusive sample range) and
    zero intensities (no data) come out as NaN in dB; outside the valid area both
    outputs are NaN.
    """
    if np.iscomplexobj(dn):
        dn = np.ascontiguousarray(dn, dtype=np.complex64).view(np.float32)
    n, m = dn.shape[0], dn.shape[1] // 2
    if valid_rows is None:
        valid_rows = np.ones(n, dtype=np.bool_)
    vs0, vs1 = valid_samples if valid_samples is not None else (0, m - 1)
    out_lin = np.empty((n, m), dtype=np.float32)
    out_db = np.empty((n, m), dtype=np.float32)
    _calibrate_kernel(np.ascontiguousarray(dn),
                      np.ascontiguousarray(lut_rows, dtype=np.float32),
                      np.ascontiguousarray(line_idx, dtype=np.int64),
                      np.ascontiguousarray(line_w, dtype=np.float32),
                      np.ascontiguousarray(valid_rows, dtype=np.bool_),
                      int(vs0), int(vs1), out_lin, out_db)
    return out_lin, out_db


# --------------------------------------------------------------------------------------
# Thermal noise, several LUTs in one pass, calibrated complex values


@dataclasses.dataclass(frozen=True)
class NoiseLut:
    """Thermal noise power N(line, pixel) in DN^2 (S1 noise annotation).

    From IPF 2.9 the noise is annotated as range vectors (``noiseRangeLut`` on a sparse
    line/pixel grid, interpolated bilinearly like the calibration LUT) times an azimuth
    vector (``noiseAzimuthLut``, linear in line): N = N_range(line, pixel) * N_az(line).
    Before IPF 2.9 there is no azimuth vector and N = N_range. Sentinel-1 Product
    Specification S1-RS-MDA-52-7441 section on the noise annotation; ESA "Thermal
    denoising of products generated by the S-1 IPF" (MPC-0392).

    Only one azimuth vector spanning all samples is supported: the IW/EW SLC case
    (xarray-sentinel exposes only that; GRD products may carry several blocks).
    """

    range_lut: CalibrationLut  # name "noise"
    azimuth_lines: np.ndarray | None = None  # (La,) swath lines of the azimuth vector
    azimuth_values: np.ndarray | None = None  # (La,)

    @classmethod
    def from_xarray_sentinel(cls, noise_range: xr.Dataset, noise_azimuth: xr.Dataset | None = None) -> "NoiseLut":
        """From the ``{swath}/{pol}/noise_range`` (and ``noise_azimuth``) groups of xarray-sentinel."""
        var = noise_range["noiseRangeLut"]
        rng = CalibrationLut(name="noise", lines=np.asarray(var["line"].values),
                             pixels=np.asarray(var["pixel"].values),
                             values=np.asarray(var.values, dtype=np.float64))
        if noise_azimuth is None or "noiseAzimuthLut" not in noise_azimuth:
            return cls(rng)
        az = noise_azimuth["noiseAzimuthLut"]
        lines = np.asarray(az["line"].values)
        if az.ndim != 1 or lines.size < 2 or np.any(np.diff(lines) <= 0):
            raise ValueError("noise azimuth LUT must be one vector with ascending lines (IW/EW SLC)")
        return cls(rng, lines, np.asarray(az.values, dtype=np.float64))

    def rows_at_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self.range_lut.rows_at_pixels(pixels)

    def line_weights(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.range_lut.line_weights(lines)

    def azimuth_at_lines(self, lines: np.ndarray) -> np.ndarray:
        """Azimuth noise factor at each line (linear, end segments extrapolated), float32."""
        lines = np.asarray(lines)
        if self.azimuth_values is None:
            return np.ones(lines.shape, dtype=np.float32)
        idx, w = _linear_weights(self.azimuth_lines, lines)
        v = self.azimuth_values
        return ((1.0 - w) * v[idx] + w * v[idx + 1]).astype(np.float32)

    def interpolate(self, lines: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Full N(line, pixel) as float32 (for tests and small areas)."""
        return self.range_lut.interpolate(lines, pixels) * self.azimuth_at_lines(lines)[:, None]


@numba.njit(cache=True, nogil=True)
def noise_line(nrows, nidx, nw, naz, i):
    """The noise LUT on line i: weights w0, w1 and range rows n0, n1 so that the noise of
    pixel j is w0 n0[j] + w1 n1[j] (range vectors blended between their lines, times
    the azimuth vector). Shared by ``_intensities_kernel`` and the signature stage's
    fused kernel (``signatures.fused._calibrate_row``): one arithmetic, the same bits."""
    kn = nidx[i]
    wn = nw[i]
    return (np.float32(1.0) - wn) * naz[i], wn * naz[i], nrows[kn], nrows[kn + 1]


@numba.njit(parallel=True, cache=True, nogil=True)
def _intensities_kernel(pairs, rows, idx, w, has_noise, nrows, nidx, nw, naz, clip,
                        valid_rows, vs0, vs1, out):
    # row by row, one contiguous loop per output so LLVM vectorises it (float32, as
    # xarray-sentinel computes): |DN|^2 - N once per pixel, then p / A_k^2 per LUT
    nk, n, m = out.shape
    for i in numba.prange(n):
        if not valid_rows[i]:
            for c in range(nk):
                for j in range(m):
                    out[c, i, j] = np.nan
            continue
        p = np.empty(m, dtype=np.float32)
        pr = pairs[i]
        for j in range(m):
            re = np.float32(pr[2 * j])
            im = np.float32(pr[2 * j + 1])
            p[j] = re * re + im * im
        if has_noise:
            w0, w1, n0, n1 = noise_line(nrows, nidx, nw, naz, i)
            fill = np.float32(0.0) if clip else np.float32(np.nan)
            for j in range(m):
                q = p[j] - (w0 * n0[j] + w1 * n1[j])
                p[j] = q if q >= np.float32(0.0) else fill
        k = idx[i]
        wi = w[i]
        wi0 = np.float32(1.0) - wi
        for c in range(nk):
            r0 = rows[c, k]
            r1 = rows[c, k + 1]
            o = out[c, i]
            for j in range(m):
                a = wi0 * r0[j] + wi * r1[j]
                o[j] = p[j] / (a * a)
            for j in range(0, min(vs0, m)):
                o[j] = np.nan
            for j in range(max(vs1 + 1, 0), m):
                o[j] = np.nan


def calibrate_intensities(
    dn: np.ndarray,
    lut_rows: np.ndarray,
    line_idx: np.ndarray,
    line_w: np.ndarray,
    noise_rows: np.ndarray | None = None,
    noise_line_idx: np.ndarray | None = None,
    noise_line_w: np.ndarray | None = None,
    noise_azimuth: np.ndarray | None = None,
    negative: str = "clip",
    valid_rows: np.ndarray | None = None,
    valid_samples: tuple[int, int] | None = None,
) -> np.ndarray:
    """Linear calibrated intensities for several LUTs of one calibration grid, one pass.

        x_k = (|DN|^2 - N) / A_k^2            (N = 0 without noise removal)

    ``lut_rows`` is (K, L, samples) (or (L, samples) for one LUT): the
    ``rows_at_pixels`` of K LUTs that share the line grid (sigma0, beta0, gamma0 of one
    calibration annotation), blended in line with ``line_idx/line_w``. The noise (DN^2)
    is ``NoiseLut.rows_at_pixels`` blended with its own line weights, times the
    per-line azimuth factor ``noise_azimuth``. Where |DN|^2 < N (noise-dominated
    pixels) the result is 0 with ``negative="clip"`` (default) or NaN with
    ``negative="nan"``. |DN|^2 is read once for all K outputs. Returns (K, n, m)
    float32 (or (n, m) for 2-D ``lut_rows``); outside the valid area NaN.
    """
    if negative not in ("clip", "nan"):
        raise ValueError("negative must be 'clip' or 'nan'")
    if np.iscomplexobj(dn):
        dn = np.ascontiguousarray(dn, dtype=np.complex64).view(np.float32)
    n, m = dn.shape[0], dn.shape[1] // 2
    rows = np.asarray(lut_rows, dtype=np.float32)
    single = rows.ndim == 2
    rows = np.ascontiguousarray(rows[None] if single else rows)
    if valid_rows is None:
        valid_rows = np.ones(n, dtype=np.bool_)
    vs0, vs1 = valid_samples if valid_samples is not None else (0, m - 1)
    has_noise = noise_rows is not None
    if has_noise:
        nrows = np.ascontiguousarray(noise_rows, dtype=np.float32)
        nidx = np.ascontiguousarray(noise_line_idx, dtype=np.int64)
        nw = np.ascontiguousarray(noise_line_w, dtype=np.float32)
        naz = (np.ones(n, dtype=np.float32) if noise_azimuth is None
               else np.ascontiguousarray(noise_azimuth, dtype=np.float32))
    else:
        nrows = np.zeros((2, 1), dtype=np.float32)
        nidx = np.zeros(1, dtype=np.int64)
        nw = naz = np.zeros(1, dtype=np.float32)
    out = np.empty((rows.shape[0], n, m), dtype=np.float32)
    _intensities_kernel(np.ascontiguousarray(dn), rows,
                        np.ascontiguousarray(line_idx, dtype=np.int64),
                        np.ascontiguousarray(line_w, dtype=np.float32),
                        has_noise, nrows, nidx, nw, naz, negative == "clip",
                        np.ascontiguousarray(valid_rows, dtype=np.bool_), int(vs0), int(vs1), out)
    return out[0] if single else out


@numba.njit(parallel=True, cache=True, nogil=True)
def _complex_kernel(pairs, rows, idx, w, out):
    n = out.shape[0]
    m = out.shape[1] // 2
    for i in numba.prange(n):
        k = idx[i]
        wi = np.float64(w[i])
        for j in range(m):
            a = (1.0 - wi) * rows[k, j] + wi * rows[k + 1, j]
            out[i, 2 * j] = pairs[i, 2 * j] / a
            out[i, 2 * j + 1] = pairs[i, 2 * j + 1] / a


def calibrate_complex(dn: np.ndarray, lut_rows: np.ndarray, line_idx: np.ndarray,
                      line_w: np.ndarray) -> np.ndarray:
    """Calibrated complex amplitude DN / A (complex64): |DN / A|^2 is the calibrated
    intensity (sigma0, beta0 or gamma0 by the LUT), the phase is the SLC phase. For
    polarimetric covariances between channels with different LUTs."""
    if np.iscomplexobj(dn):
        dn = np.ascontiguousarray(dn, dtype=np.complex64).view(np.float32)
    out = np.empty(dn.shape, dtype=np.float32)
    _complex_kernel(np.ascontiguousarray(dn), np.ascontiguousarray(lut_rows, dtype=np.float32),
                    np.ascontiguousarray(line_idx, dtype=np.int64),
                    np.ascontiguousarray(line_w, dtype=np.float32), out)
    return out.view(np.complex64)
