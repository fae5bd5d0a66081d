"""Single-polarisation SAR signatures (AlignSAR category 1), per tile.

Pure functions on numpy arrays of a (azimuth, range) tile, or a leading time/pair axis
where it makes sense; none of them is windowed (halo 0) except where stated.

- amplitude |s|, intensity |s|^2 and SLC phase arg(s) of a complex SLC;
- calibrated backscatter sigma0 / beta0 / gamma0 (linear and dB) from the complex
  digital numbers and the calibration LUT (ESA, "Radiometric Calibration of
  Sentinel-1 Products", ESA-EOPG-CSCOP-TN-0002):

      x = (|DN|^2 - N) / A_x^2,   x_dB = 10 log10(x)

  A_x bilinear in the sparse calibration LUT, N the thermal noise LUT (optional,
  range vectors x azimuth vector from IPF 2.9), both interpolated by the separable
  kernels of ``alignsar_core.calibration`` (the same numbers as xarray-sentinel's
  ``calibrate_intensity`` to 1e-5 relative without noise). Noise removal can leave
  negative powers where the signal is below the noise floor: they are clipped to 0
  (linear; -> NaN in dB) by default, or set to NaN with ``negative="nan"``;
- interferometric phase of a pair with the reference (flat-earth) and topographic
  phase removed: phi = arg(s1 s2* exp(-i phi_removed)) wrapped to (-pi, pi], where
  phi_removed = 4 pi / lambda (R1 - R2) from each pixel's 3-D position (Hanssen 2001,
  "Radar Interferometry", ch. 2; Yague-Martinez et al. 2016, IEEE TGRS 54(4)).

Coherence (windowed) lives in ``coherence.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numba
import numpy as np

from ..calibration import CalibrationLut, NoiseLut, calibrate_complex, calibrate_intensities
from . import vecmath
from .window import run_split

_PI32 = np.float32(np.pi)

_CAL_REF = "ESA, Radiometric Calibration of Sentinel-1 Products (ESA-EOPG-CSCOP-TN-0002); S1 Product Specification S1-RS-MDA-52-7441"

ATTRS: dict[str, dict[str, str]] = {
    "amplitude": {"units": "1", "long_name": "SLC amplitude (digital number)",
                  "formula": "|s|", "reference": "S1 Product Specification S1-RS-MDA-52-7441"},
    "intensity": {"units": "1", "long_name": "SLC intensity (digital number squared)",
                  "formula": "|s|^2", "reference": "S1 Product Specification S1-RS-MDA-52-7441"},
    "slc_phase": {"units": "rad", "long_name": "SLC phase",
                  "formula": "arg(s) in (-pi, pi]", "reference": "S1 Product Specification S1-RS-MDA-52-7441"},
    **{
        f"{name}{suffix}": {
            "units": "dB" if suffix else "m2 m-2",
            "long_name": f"{desc}{' in decibels' if suffix else ''}",
            "formula": (f"(|DN|^2 - N) / A_{name}^2" + (", 10 log10(.)" if suffix else "")
                        + f"; A_{name} bilinear in the calibration LUT ({lut}), N thermal noise LUT"
                        " (range x azimuth vectors; 0 if not removed); negative values clipped to 0"),
            "reference": _CAL_REF,
        }
        for name, desc, lut in (("sigma0", "radar backscatter coefficient sigma nought", "sigmaNought"),
                                ("beta0", "radar brightness beta nought", "betaNought"),
                                ("gamma0", "backscatter coefficient gamma nought (ellipsoid)", "gamma"))
        for suffix in ("", "_db")
    },
    "interferometric_phase": {
        "units": "rad", "long_name": "interferometric phase, reference and topographic phase removed",
        "formula": "arg(s1 s2* exp(-i phi_removed)) wrapped to (-pi, pi], phi_removed = 4 pi / lambda (R1 - R2)",
        "reference": "Hanssen 2001, Radar Interferometry, ch. 2; Yague-Martinez et al. 2016, IEEE TGRS 54(4)",
    },
}


@numba.njit(cache=True, nogil=True, error_model="numpy")
def amplitude_row(x, out):
    """|x| of a complex64 row as float32(sqrt(Re^2 + Im^2)) summed in float64: the
    float32 rounding of the exact modulus but for one double rounding (no overflow or
    underflow of the squares), vectorised. Shared by ``amplitude`` and the signature
    stage's fused kernel (``fused._own_row``), so both give the same bits."""
    for t in range(x.size):
        re = np.float64(x[t].real)
        im = np.float64(x[t].imag)
        out[t] = np.float32(np.sqrt(re * re + im * im))


@numba.njit(cache=True, nogil=True)
def _amplitude_kernel(s, start, stop, out):
    for i in range(start, stop):
        amplitude_row(s[i], out[i])


def amplitude(slc: np.ndarray) -> np.ndarray:
    """Amplitude |s| (float32; DN for an uncalibrated SLC, sqrt(m2 m-2) for DN / A):
    ``amplitude_row`` (within 2 ulp of numpy's ``abs``, which rounds its own way).
    S1 Product Specification S1-RS-MDA-52-7441 (complex SLC samples)."""
    s = np.asarray(slc, dtype=np.complex64)
    s2 = np.ascontiguousarray(s.reshape(-1, s.shape[-1]) if s.ndim >= 1 else s.reshape(1, 1))
    out = np.empty(s2.shape, dtype=np.float32)
    run_split(_amplitude_kernel, s2.shape[0], (s2,), (out,))
    return out.reshape(s.shape)


def intensity(slc: np.ndarray) -> np.ndarray:
    """Intensity |s|^2 = Re^2 + Im^2 (float32; DN^2 for an uncalibrated SLC).
    S1 Product Specification S1-RS-MDA-52-7441."""
    s = np.asarray(slc, dtype=np.complex64)
    f = s.view(np.float32) if s.flags.c_contiguous else np.ascontiguousarray(s).view(np.float32)
    return _sum_sq_pairs(f.reshape(-1, 2)).reshape(s.shape)


@numba.njit(cache=True, nogil=True)
def _sum_sq_pairs_kernel(f, start, stop, out):
    # slices + 0-based loops in these kernels: numba drops its negative-index checks and
    # LLVM vectorises (``range(start, stop)`` indexing ran 2-3x slower)
    f = f[start:stop]
    out = out[start:stop]
    for i in range(stop - start):
        out[i] = f[i, 0] * f[i, 0] + f[i, 1] * f[i, 1]


def _sum_sq_pairs(f: np.ndarray) -> np.ndarray:
    out = np.empty(f.shape[0], dtype=np.float32)
    run_split(_sum_sq_pairs_kernel, f.shape[0], (f,), (out,))
    return out


def fix_minus_pi(phase: np.ndarray) -> np.ndarray:
    """Map -pi (as float32 rounds it) to +pi, in place, so phases lie in (-pi, pi]."""
    phase[phase <= -_PI32] = _PI32
    return phase


@numba.njit(cache=True, nogil=True, error_model="numpy")
def phase_row(x, out):
    """arg(x) in (-pi, pi] of a complex64 row (``vecmath.phase``: vectorised in the
    loop). Shared by ``slc_phase`` and the signature stage's fused kernel
    (``fused._own_row``), so both give the same bits."""
    for t in range(x.size):
        out[t] = vecmath.phase(np.float32(x[t].imag), np.float32(x[t].real))


@numba.njit(cache=True, nogil=True)
def _phase_kernel(s, start, stop, out):
    for i in range(start, stop):
        phase_row(s[i], out[i])


def slc_phase(slc: np.ndarray) -> np.ndarray:
    """SLC phase arg(s) = atan2(Im s, Re s) in (-pi, pi], radians, float32 (``phase_row``,
    within 3 ulp of float64 atan2, split over the kernel threads). S1 Product
    Specification S1-RS-MDA-52-7441."""
    s = np.asarray(slc, dtype=np.complex64)
    s2 = np.ascontiguousarray(s.reshape(-1, s.shape[-1]) if s.ndim >= 1 else s.reshape(1, 1))
    out = np.empty(s2.shape, dtype=np.float32)
    run_split(_phase_kernel, s2.shape[0], (s2,), (out,))
    return out.reshape(s.shape)


def wrap_phase(phase: np.ndarray) -> np.ndarray:
    """Wrap any phase (rad) to (-pi, pi]: phi - 2 pi ceil((phi - pi) / (2 pi)), float32."""
    p = np.asarray(phase, dtype=np.float64)
    out = (p - 2.0 * np.pi * np.ceil((p - np.pi) / (2.0 * np.pi))).astype(np.float32)
    return fix_minus_pi(out)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def db(x):
    """10 log10(x) of a float32 (``vecmath.log10``), NaN where x <= 0 or x is NaN: the
    dB of every signature, in ``to_db`` and inside the signature stage's fused kernels."""
    return np.float32(10.0) * vecmath.log10(x) if x > np.float32(0.0) else np.float32(np.nan)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _db_kernel(x, start, stop, out):
    x = x[start:stop]  # (slices indexed from 0: numba drops its wraparound checks, LLVM vectorises)
    out = out[start:stop]
    for i in range(stop - start):
        out[i] = db(x[i])


def to_db(x: np.ndarray) -> np.ndarray:
    """10 log10(x) as float32; NaN where x <= 0 or x is NaN (no floor is imposed): ``db``
    in one vectorised pass (within 2 ulp of float64 log10)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    run_split(_db_kernel, x.size, (x.ravel(),), (out.ravel(),))
    return out


def calibrated_intensity(
    dn: np.ndarray,
    luts: CalibrationLut | Sequence[CalibrationLut],
    lines: np.ndarray,
    pixels: np.ndarray,
    noise: NoiseLut | None = None,
    negative: str = "clip",
    valid_rows: np.ndarray | None = None,
    valid_samples: tuple[int, int] | None = None,
) -> np.ndarray | dict[str, np.ndarray]:
    """Calibrated backscatter (linear, m2 m-2): x = (|DN|^2 - N) / A_x^2.

    ``dn``: complex (n, m) DNs or interleaved int16/float32 pairs (n, 2m) as read;
    ``lines``/``pixels``: swath line and pixel index of each row/column (the LUT grid's
    coordinates; a burst's lines are ``line_offset + arange(lines)``). ``luts``: one
    CalibrationLut (returns an array) or several sharing the line grid (returns
    {name: array}, |DN|^2 read once). ``noise``: optional thermal noise removal;
    ``negative``: "clip" (0) or "nan" for noise-dominated pixels. Outside
    ``valid_rows``/``valid_samples`` NaN. Reference: ESA-EOPG-CSCOP-TN-0002.
    """
    single = isinstance(luts, CalibrationLut)
    luts = [luts] if single else list(luts)
    if any(not np.array_equal(lut.lines, luts[0].lines) for lut in luts):
        raise ValueError("LUTs computed in one pass must share their line grid")
    lines = np.asarray(lines)
    pixels = np.asarray(pixels)
    idx, w = luts[0].line_weights(lines)
    rows = np.stack([lut.rows_at_pixels(pixels) for lut in luts])
    kw = {}
    if noise is not None:
        nidx, nw = noise.line_weights(lines)
        kw = dict(noise_rows=noise.rows_at_pixels(pixels), noise_line_idx=nidx, noise_line_w=nw,
                  noise_azimuth=noise.azimuth_at_lines(lines))
    out = calibrate_intensities(dn, rows, idx, w, negative=negative, valid_rows=valid_rows,
                                valid_samples=valid_samples, **kw)
    if single:
        return out[0]
    return {lut.name: out[k] for k, lut in enumerate(luts)}


def calibrated_complex(dn: np.ndarray, lut: CalibrationLut, lines: np.ndarray,
                       pixels: np.ndarray) -> np.ndarray:
    """DN / A (complex64): calibrated complex amplitude, |.|^2 = sigma0/beta0/gamma0
    (by the LUT) without noise removal; input to the polarimetric covariances."""
    idx, w = lut.line_weights(np.asarray(lines))
    return calibrate_complex(dn, lut.rows_at_pixels(np.asarray(pixels)), idx, w)


def backscatter_db(linear: np.ndarray | Mapping[str, np.ndarray]):
    """x_dB = 10 log10(x) (dB) of a calibrated intensity array, or of each entry of a
    {name: array} mapping (keys get the ``_db`` suffix). ESA-EOPG-CSCOP-TN-0002."""
    if isinstance(linear, Mapping):
        return {f"{k}_db": to_db(v) for k, v in linear.items()}
    return to_db(linear)


@numba.njit(cache=True, nogil=True)
def _ifg_kernel(s1, s2, cph, sph, use_phase, start, stop, out_re, out_im):
    s1, s2, out_re, out_im = s1[start:stop], s2[start:stop], out_re[start:stop], out_im[start:stop]
    if use_phase:
        cph, sph = cph[start:stop], sph[start:stop]
    for i in range(stop - start):
        x = s1[i]
        y = s2[i]
        xr = np.float64(x.real)
        xi = np.float64(x.imag)
        yr = np.float64(y.real)
        yi = np.float64(y.imag)
        re = xr * yr + xi * yi
        im = xi * yr - xr * yi
        if use_phase:
            c = np.float64(cph[i])
            s = np.float64(sph[i])
            re, im = re * c + im * s, im * c - re * s
        out_re[i] = re
        out_im[i] = im + 0.0  # -0.0 -> +0.0 so arctan2 gives +pi, not -pi


def interferogram(s1: np.ndarray, s2: np.ndarray, removed_phase: np.ndarray | None = None) -> np.ndarray:
    """Complex interferogram s1 s2* exp(-i phi_removed), complex64 (single look; units
    of |s|^2). Hanssen 2001, Radar Interferometry, ch. 2."""
    re, im = _ifg_parts(s1, s2, removed_phase)
    out = np.empty(re.shape, dtype=np.complex64)
    out.real = re
    out.imag = im
    return out


def _ifg_parts(s1, s2, removed_phase):
    s1 = np.ascontiguousarray(s1, dtype=np.complex64)
    s2 = np.ascontiguousarray(s2, dtype=np.complex64)
    if s1.shape != s2.shape:
        raise ValueError(f"pair shapes differ: {s1.shape} {s2.shape}")
    if removed_phase is None:
        cph = sph = np.zeros(1, dtype=np.float32)
    else:
        phi = np.asarray(removed_phase, dtype=np.float32)
        if phi.shape != s1.shape:
            raise ValueError(f"removed phase shape {phi.shape} != {s1.shape}")
        cph, sph = np.cos(phi).ravel(), np.sin(phi).ravel()
    re = np.empty(s1.shape, dtype=np.float32)
    im = np.empty(s1.shape, dtype=np.float32)
    run_split(_ifg_kernel, s1.size, (s1.ravel(), s2.ravel(), cph, sph, removed_phase is not None),
              (re.ravel(), im.ravel()))
    return re, im


def interferometric_phase(s1: np.ndarray, s2: np.ndarray, removed_phase: np.ndarray | None = None) -> np.ndarray:
    """phi = arg(s1 s2* exp(-i phi_removed)) in (-pi, pi], radians, float32.

    ``s1`` reference (primary) date, ``s2`` secondary, coregistered on one grid;
    ``removed_phase`` (rad, float) the reference + topographic phase
    4 pi / lambda (R1 - R2) to subtract (None: raw interferometric phase). Equivalent to
    wrap(arg(s1 s2*) - phi_removed), computed without an explicit wrap. Single look.
    Hanssen 2001, Radar Interferometry, ch. 2.
    """
    re, im = _ifg_parts(s1, s2, removed_phase)
    return fix_minus_pi(np.arctan2(im, re, out=re))
