"""Fused per-tile kernels of the signature stage: one pass over a date's SLCs gives
every per-date signature, one pass over a pair gives its interferometric phase and
coherence.

Why fused kernels of our own: the signatures of one date share their inputs and
their window sums. Computed one function at a time (``single_pol``, ``polarimetric``,
``coherence``) a dual-pol date reads each SLC 4-5 times, allocates ~20 tile-sized
intermediates and forms 22 window sums per date (C2, two speckle means, and
|s_a|^2, |s_b|^2, Re and Im of s_a s_b* per pair and polarisation). Here:

* ``dual_date`` reads DN_co and DN_cross once per row and forms, in cache, the
  calibrated sigma0 of both channels (the arithmetic of
  ``calibration.calibrate_intensities``: bit-identical), the C2 products of
  z = DN / A_sigma and the speckle-window inputs; the window sums of the six channels
  (C11, C22, Re C12, Im C12, <sigma0_co>, <sigma0_cross>) run in one range + azimuth
  pass, and the C2 eigen-parameters (``polarimetric.dual_row``), RVI, sum,
  difference and cross/co ratio are computed as each output row is finished.
* ``pair`` needs only the two window sums of z_a z_b* exp(-i phi): the powers
  <|z_a|^2>, <|z_b|^2> over the coherence window are each date's C11 / C22 (or its
  own window mean when the windows differ), computed once per date and kept, instead
  of once per pair.

Coherence is therefore formed on calibrated values z = DN / A_sigma; the stack uses
the reference product's LUT for every date, so the factor 1 / A_sigma^2 is the same
for both dates, positive and smooth (the IW1 sigma0 LUT changes it by ~2e-4 across
a 20-sample window): the interferometric phase is unchanged and |gamma| equals the
estimate from the DNs to ~1e-5 (tests/test_signatures_fused.py).

Window sums are float32 doubling trees (``window._window_sums``): tile-invariant bit
for bit like the float64 ones of ``window.box_mean`` (the grouping depends only on
offsets relative to the output pixel), 1.5x faster, with a relative error of a few
1e-7 of the window's summed power (a coherence error < 1e-6). The transcendental
functions (log10 for dB, log2 and arccos for H / alpha, atan2 for phases) are
``vecmath``'s, vectorised inside the kernels' pixel loops, so every output is written
once, straight from the values that form it (no tile-sized operands for numpy to read
back: numba's own libm calls are scalar, 5-10x slower than SIMD).
"""

from __future__ import annotations

import numba
import numpy as np

from ..calibration import CalibrationLut, NoiseLut, noise_line
from .polarimetric import dual_row
from .single_pol import amplitude_row, db, phase_row
from .vecmath import phase as phase_of
from .window import (_BLOCK_ROWS, _SPAN_COLS, _cross_row, _offsets, _unit_setup, _window_sums, as_window, run_split,
                     split_rows)

__all__ = ["TileCalibration", "dual_date", "dual_date_outputs", "single_date", "power", "phase_factors", "pair"]

_NONE_F = np.zeros((1, 1), dtype=np.float32)


class TileCalibration:
    """A calibration LUT (and optionally the noise LUT) of one polarisation on one tile:
    the LUT vectors interpolated to the tile's pixels, and each line's vector index and
    blend weight (the separable bilinear interpolation of ``calibration``)."""

    def __init__(self, lut: CalibrationLut, lines: np.ndarray, pixels: np.ndarray, noise: NoiseLut | None = None):
        lines = np.asarray(lines)
        pixels = np.asarray(pixels)
        self.rows = np.ascontiguousarray(lut.rows_at_pixels(pixels), dtype=np.float32)
        idx, w = lut.line_weights(lines)
        self.idx = np.ascontiguousarray(idx, dtype=np.int64)
        self.w = np.ascontiguousarray(w, dtype=np.float32)
        self.has_noise = noise is not None
        if noise is not None:
            self.nrows = np.ascontiguousarray(noise.rows_at_pixels(pixels), dtype=np.float32)
            nidx, nw = noise.line_weights(lines)
            self.nidx = np.ascontiguousarray(nidx, dtype=np.int64)
            self.nw = np.ascontiguousarray(nw, dtype=np.float32)
            self.naz = np.ascontiguousarray(noise.azimuth_at_lines(lines), dtype=np.float32)
        else:
            self.nrows, self.nidx = _NONE_F, np.zeros(1, dtype=np.int64)
            self.nw = self.naz = np.zeros(1, dtype=np.float32)

    def args(self) -> tuple:
        return self.rows, self.idx, self.w, self.has_noise, self.nrows, self.nidx, self.nw, self.naz


# --------------------------------------------------------------------------------------
# row helpers


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _calibrate_row(s_row, j0, j1, r, rows, idx, w, has_noise, nrows, nidx, nw, naz, valid, vs0, vs1, p, g, sig):
    """For columns j0..j1 of row r: p = |DN|^2, g = 1 / A^2 and sigma0 = (p - N) / A^2
    (negative clipped to 0, NaN outside the valid area): the arithmetic of
    ``calibration._intensities_kernel`` (the noise of the line from the same
    ``calibration.noise_line``), so sigma0 is bit-identical to it."""
    # every array sliced to the segment and indexed from 0: numba then drops its
    # negative-index wraparound checks and LLVM vectorises the loop (indexing with
    # j0 + t made the whole calibration 2.4x slower)
    nj = j1 - j0
    k = idx[r]
    wi = w[r]
    wi0 = np.float32(1.0) - wi
    a0 = rows[k, j0:j1]
    a1 = rows[k + 1, j0:j1]
    x = s_row[j0:j1]
    n0w = np.float32(0.0)
    n1w = np.float32(0.0)
    b0 = nrows[0, :0]
    b1 = nrows[0, :0]
    if has_noise:
        n0w, n1w, f0, f1 = noise_line(nrows, nidx, nw, naz, r)
        b0 = f0[j0:j1]
        b1 = f1[j0:j1]
    # the valid columns vs0..vs1 as segment positions [lo, hi) (none on an invalid row)
    lo = min(nj, max(0, vs0 - j0)) if valid else nj
    hi = min(nj, max(lo, vs1 + 1 - j0)) if valid else nj
    for t in range(nj):
        re = np.float32(x[t].real)
        im = np.float32(x[t].imag)
        pp = re * re + im * im
        a = wi0 * a0[t] + wi * a1[t]
        gg = np.float32(1.0) / (a * a)
        q = pp
        if has_noise:
            q = pp - (n0w * b0[t] + n1w * b1[t])
            if not q >= np.float32(0.0):
                q = np.float32(0.0)
        p[t] = pp
        g[t] = gg
        sig[t] = q / (a * a) if lo <= t < hi else np.float32(np.nan)


# --------------------------------------------------------------------------------------
# one date


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _date_kernel(s_co, s_x, dual, slc, cal_co, cal_x, valid_rows, vs0, vs1, a0, a1, r0, r1, block, span,
                 region, ro, co, u_start, u_stop, sig, means, der):
    """Work units [u_start, u_stop) of one date (see ``dual_date`` / ``single_date``)
    over the output pixels ``region`` = (first row, end row, first column, end column)
    of the tile; pixel (i, j) is written at [i + ro, j + co] of the outputs.

    Outputs are tuples of 2-D float32 arrays. sig (``_sig_outputs``): sigma0 per
    pixel (co, cross), with ``slc`` |DN|^2 and |DN| (co, cross), then sigma0 in dB
    (co, cross), with ``slc`` arg(DN) (co, cross); NaN outside the valid area. means:
    dual C11, C22, Re C12, Im C12, <sigma0_co>, <sigma0_cross>; single <|z|^2>, <sigma0>
    (+ placeholders). der (dual only): entropy, alpha, degree of polarisation, DpRVI,
    RVI, sigma0 sum, difference and cross/co ratio in dB of the local means."""
    rows_c, idx_c, w_c, hn_c, nr_c, ni_c, nw_c, na_c = cal_co
    rows_x, idx_x, w_x, hn_x, nr_x, ni_x, nw_x, na_x = cal_x
    n, m = s_co.shape
    nch = 6 if dual else 2
    wr = r0 + r1 + 1
    wa = a0 + a1 + 1
    ns = (region[3] - region[2] + span - 1) // span
    big = (block + wa - 1) * span
    rbufs = np.empty((nch, 3, span + wr - 1), dtype=np.float32)  # [c, 0]: one row of channel c, zero padded
    abufs = np.empty((nch, 3, big), dtype=np.float32)  # [c, 0]: the block's range sums
    azs = np.empty((nch, block * span), dtype=np.float32)
    cnt_rg = np.empty(span, dtype=np.float32)
    inv = np.empty(span, dtype=np.float32)
    pc = np.empty(span + wr - 1, dtype=np.float32)
    gc = np.empty_like(pc)
    sc = np.empty_like(pc)
    px = np.empty_like(pc)
    gx = np.empty_like(pc)
    sx = np.empty_like(pc)
    for u in range(u_start, u_stop):
        i0, i1, c0, c1, w, j0, j1, e0, r_lo, r_hi = _unit_setup(u, ns, block, span, n, m, a0, a1, r0, r1,
                                                                 rbufs, abufs, cnt_rg, region)
        nj = j1 - j0
        d0 = c0 + co  # the unit's output columns [d0, d1) in the outputs
        d1 = c1 + co
        for r in range(r_lo, r_hi):
            vr = valid_rows[r]
            _calibrate_row(s_co[r], j0, j1, r, rows_c, idx_c, w_c, hn_c, nr_c, ni_c, nw_c, na_c, vr, vs0, vs1,
                           pc, gc, sc)
            k = r - (i0 - a0)
            own = i0 <= r < i1
            if own:
                o = r + ro
                _own_row(sig[0][o, d0:d1], sig[2][o, d0:d1], sig[4][o, d0:d1], sig[6][o, d0:d1], sig[8][o, d0:d1],
                         sc[c0 - j0:], pc[c0 - j0:], s_co[r, c0:c1], slc)
            if dual:
                _calibrate_row(s_x[r], j0, j1, r, rows_x, idx_x, w_x, hn_x, nr_x, ni_x, nw_x, na_x, vr, vs0, vs1,
                               px, gx, sx)
                if own:
                    o = r + ro
                    _own_row(sig[1][o, d0:d1], sig[3][o, d0:d1], sig[5][o, d0:d1], sig[7][o, d0:d1],
                             sig[9][o, d0:d1], sx[c0 - j0:], px[c0 - j0:], s_x[r, c0:c1], slc)
                q11 = rbufs[0, 0, e0:e0 + nj]
                q22 = rbufs[1, 0, e0:e0 + nj]
                q12r = rbufs[2, 0, e0:e0 + nj]
                q12i = rbufs[3, 0, e0:e0 + nj]
                m_c = rbufs[4, 0, e0:e0 + nj]
                m_x = rbufs[5, 0, e0:e0 + nj]
                xc = s_co[r, j0:j1]
                xx = s_x[r, j0:j1]
                for t in range(nj):
                    xr = np.float32(xc[t].real)
                    xi = np.float32(xc[t].imag)
                    yr = np.float32(xx[t].real)
                    yi = np.float32(xx[t].imag)
                    gcx = np.sqrt(gc[t] * gx[t])  # 1 / (A_co A_cross)
                    q11[t] = pc[t] * gc[t]
                    q22[t] = px[t] * gx[t]
                    q12r[t] = (xr * yr + xi * yi) * gcx  # z_co conj(z_cross)
                    q12i[t] = (xi * yr - xr * yi) * gcx
                    m_c[t] = sc[t]
                    m_x[t] = sx[t]
            else:
                q = rbufs[0, 0, e0:e0 + nj]
                mm = rbufs[1, 0, e0:e0 + nj]
                for t in range(nj):
                    q[t] = pc[t] * gc[t]
                    mm[t] = sc[t]
            for c in range(nch):
                _window_sums(rbufs[c], w, wr, 1, abufs[c, 0, k * w:(k + 1) * w])
        for c in range(nch):
            _window_sums(abufs[c], (i1 - i0) * w, wa, w, azs[c, :(i1 - i0) * w])
        for i in range(i0, i1):
            naz = np.float32(min(n - 1, i + a1) - max(0, i - a0) + 1)
            b0 = (i - i0) * w
            for t in range(w):  # 1 / pixels in the (edge-truncated) window, once for all channels
                inv[t] = np.float32(1.0) / (naz * cnt_rg[t])
            o = i + ro
            for c in range(nch):
                mo = means[c][o, d0:d1]
                a = azs[c, b0:b0 + w]
                for t in range(w):
                    mo[t] = a[t] * inv[t]
            if dual:
                _dual_row(means[0][o, d0:d1], means[1][o, d0:d1], means[2][o, d0:d1], means[3][o, d0:d1],
                          means[4][o, d0:d1], means[5][o, d0:d1], der[0][o, d0:d1], der[1][o, d0:d1],
                          der[2][o, d0:d1], der[3][o, d0:d1], der[4][o, d0:d1], der[5][o, d0:d1],
                          der[6][o, d0:d1], der[7][o, d0:d1])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _own_row(o_sig, o_int, o_amp, o_db, o_ph, sg, p, x, slc):
    """One output row's single-look values: sigma0 and its dB (``single_pol.db``), and
    with ``slc`` the intensity |DN|^2 (p, as ``single_pol.intensity``), the amplitude
    and the phase of the DNs x (``single_pol.amplitude_row`` / ``phase_row``), NaN
    where sigma0 is (outside the valid area).

    One short loop per output (loop fission): numba cannot tell LLVM that the arrays do
    not overlap, and a loop over more arrays needs more run-time overlap checks than
    LLVM's vectoriser allows (it then runs the loop scalar, 5-10x slower here)."""
    for t in range(o_sig.size):
        o_sig[t] = sg[t]
    for t in range(o_sig.size):
        o_db[t] = db(sg[t])
    if slc:
        amplitude_row(x, o_amp)
        phase_row(x, o_ph)
        for t in range(o_sig.size):
            o_int[t] = p[t] if sg[t] == sg[t] else np.float32(np.nan)
        for t in range(o_sig.size):
            o_amp[t] = o_amp[t] if sg[t] == sg[t] else np.float32(np.nan)
        for t in range(o_sig.size):
            o_ph[t] = o_ph[t] if sg[t] == sg[t] else np.float32(np.nan)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _dual_row(c11, c22, c12r, c12i, mc, mx, h, alpha, dop, dprvi, rvi, ssum, sdiff, ratio_db):
    """The C2 parameters (``polarimetric.dual_row``: entropy, alpha, degree of
    polarisation, DpRVI), RVI and the local-mean sum, difference and cross/co ratio in
    dB of one output row (1-D slices; short loops, as ``_own_row``: numba vectorises)."""
    dual_row(c11, c22, c12r, c12i, h, alpha, dop, dprvi)
    for t in range(c11.size):
        rvi[t] = np.float32(4.0) * c22[t] / (c11[t] + c22[t])
    for t in range(c11.size):
        ssum[t] = mc[t] + mx[t]
        sdiff[t] = mc[t] - mx[t]
    for t in range(c11.size):
        ratio_db[t] = db(mx[t] / mc[t]) if mc[t] > np.float32(0.0) else np.float32(np.nan)


def _units(region) -> int:
    g0, g1, h0, h1 = region
    return ((g1 - g0 + _BLOCK_ROWS - 1) // _BLOCK_ROWS) * ((h1 - h0 + _SPAN_COLS - 1) // _SPAN_COLS)


def _region(shape, region) -> tuple[int, int, int, int]:
    """The output pixels (first row, end row, first column, end column) of a tile of
    ``shape``: ``region``, or the whole tile when None."""
    n, m = shape
    if region is None:
        return 0, n, 0, m
    g0, g1, h0, h1 = (int(v) for v in region)
    if not (0 <= g0 < g1 <= n and 0 <= h0 < h1 <= m):
        raise ValueError(f"region {tuple(region)} is not a non-empty part of the tile {shape}")
    return g0, g1, h0, h1


def _destinations(names, region, out, origin) -> tuple[dict[str, np.ndarray], int, int]:
    """Where the outputs ``names`` of ``region`` go, and the offsets (ro, co) from tile
    pixels to their rows and columns: ``out`` None: new float32 arrays of the region's
    shape (origin (0, 0)); else ``out[name]`` for every name, C-contiguous float32 2-D
    arrays holding the region at ``origin`` (e.g. the full-size chunk buffers of a store,
    or burst-sized arrays: the kernels then write each output once, where it is kept)."""
    g0, g1, h0, h1 = region
    di, dj = (int(v) for v in origin)
    if out is None:
        if (di, dj) != (0, 0):
            raise ValueError(f"origin {origin} needs destination arrays (out)")
        return {k: np.empty((g1 - g0, h1 - h0), dtype=np.float32) for k in names}, -g0, -h0
    missing = [k for k in names if k not in out]
    if missing:
        raise KeyError(f"no destination array for the outputs {missing}")
    for k in names:
        a = out[k]
        if (not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.ndim != 2 or not a.flags.c_contiguous
                or di < 0 or dj < 0 or di + g1 - g0 > a.shape[0] or dj + h1 - h0 > a.shape[1]):
            raise ValueError(f"destination of {k!r} must be a C-contiguous float32 2-D array holding the "
                             f"{g1 - g0} x {h1 - h0} region at {(di, dj)}; got "
                             f"{getattr(a, 'dtype', type(a))} {getattr(a, 'shape', '')}")
    return {k: out[k] for k in names}, di - g0, dj - h0


def _prepare(s, valid_rows, valid_samples):
    s = np.ascontiguousarray(s, dtype=np.complex64)
    if s.ndim != 2:
        raise ValueError(f"a 2-D (azimuth, range) SLC is needed, got shape {s.shape}")
    n, m = s.shape
    vr = np.ones(n, dtype=np.bool_) if valid_rows is None else np.ascontiguousarray(valid_rows, dtype=np.bool_)
    vs0, vs1 = valid_samples if valid_samples is not None else (0, m - 1)
    return s, vr, int(vs0), int(vs1)


_SLC_GROUPS = (1, 2, 4)  # intensity, amplitude, phase: computed with ``slc`` only
_DUAL_SIG = (("sigma0_co", "sigma0_cross"), ("intensity_co", "intensity_cross"), ("amplitude_co", "amplitude_cross"),
             ("sigma0_co_db", "sigma0_cross_db"), ("slc_phase_co", "slc_phase_cross"))
_DUAL_MEANS = ("c11", "c22", "c12_real", "c12_imag", "local_mean_co", "local_mean_cross")
_DUAL_DER = ("entropy_dual", "alpha_dual", "degree_of_polarisation", "dprvi", "rvi_dual", "sigma0_sum",
             "sigma0_difference", "cross_pol_ratio_db")
_SINGLE_SIG = (("sigma0",), ("intensity",), ("amplitude",), ("sigma0_db",), ("slc_phase",))
_SINGLE_MEANS = ("power", "local_mean")


def _sig_names(groups, slc) -> list[str]:
    return [k for g, names in enumerate(groups) if slc or g not in _SLC_GROUPS for k in names]


def _sig_outputs(groups, dst) -> tuple:
    """The kernel's single-look outputs, [group * 2 + channel]: groups sigma0, intensity,
    amplitude, sigma0 in dB, phase; 1 x 1 placeholders for what is not computed (one
    tuple type for every case: one compiled kernel)."""
    return tuple(dst.get(names[k], _NONE_F) if k < len(names) else _NONE_F for names in groups for k in range(2))


def dual_date(s_co: np.ndarray, s_x: np.ndarray, cal_co: TileCalibration, cal_x: TileCalibration,
              speckle_window, polarimetric_window, valid_rows=None, valid_samples=None,
              slc: bool = False, region=None, out=None, origin=(0, 0)) -> dict[str, np.ndarray]:
    """Every per-date signature of a dual-pol date (co- and cross-pol DNs on one tile),
    float32 arrays of the output region's shape:

    sigma0_co, sigma0_cross   (|DN|^2 - N) / A_sigma^2, clipped at 0, NaN outside the
                              valid area (ESA-EOPG-CSCOP-TN-0002; with the noise LUT of
                              ``TileCalibration``)
    sigma0_co_db, sigma0_cross_db   10 log10
    local_mean_co, local_mean_cross  boxcar means of sigma0 (``speckle_window``)
    c11, c22, c12_real, c12_imag   boxcar means of z_co z_co*, z_x z_x*, z_co z_x*,
                              z = DN / A_sigma (``polarimetric_window``; Lee & Pottier
                              2009 ch. 3)
    entropy_dual, alpha_dual, degree_of_polarisation, dprvi   of C2 (Cloude 2007;
                              Mandal et al. 2020; ``polarimetric.dual_row``)
    rvi_dual                  4 C22 / (C11 + C22)
    sigma0_sum, sigma0_difference, cross_pol_ratio_db   of the local means
    intensity_co, intensity_cross, amplitude_co, amplitude_cross, slc_phase_co,
    slc_phase_cross           with ``slc``: |DN|^2, |DN| and arg(DN)
                              (``single_pol.intensity`` / ``amplitude`` / ``slc_phase``,
                              bit for bit), NaN outside the valid area

    The speckle and polarimetric windows must be equal (one window pass); otherwise use
    the separate functions. Halo ``window.halo_for(window)``.

    ``region`` (first row, end row, first column, end column): the pixels of the tile
    to compute (default all; e.g. the tile without its halo: the halo is only read).
    ``out``: {name: destination array} for every output, the region written at
    ``origin`` of each (C-contiguous float32; see ``_destinations``): the outputs are
    written once, where they are kept (returned as given); without ``out`` new arrays
    of the region's shape.
    """
    if as_window(speckle_window) != as_window(polarimetric_window):
        raise ValueError("dual_date needs one window for the speckle means and C2")
    a, r = as_window(polarimetric_window)
    s_co, vr, vs0, vs1 = _prepare(s_co, valid_rows, valid_samples)
    s_x = np.ascontiguousarray(s_x, dtype=np.complex64)
    if s_x.shape != s_co.shape:
        raise ValueError(f"co- and cross-pol tiles differ in shape: {s_co.shape} {s_x.shape}")
    reg = _region(s_co.shape, region)
    # one array per output (not one (k, n, m) block): tile-sized arrays are reused from
    # the malloc heap (``runtime.tune_malloc``) instead of fresh, zeroed pages
    dst, ro, co = _destinations(dual_date_outputs(slc), reg, out, origin)
    (a0, a1), (r0, r1) = _offsets(a), _offsets(r)
    run_split(_date_kernel, _units(reg),
              (s_co, s_x, True, slc, cal_co.args(), cal_x.args(), vr, vs0, vs1, a0, a1, r0, r1, _BLOCK_ROWS,
               _SPAN_COLS, reg, ro, co),
              (_sig_outputs(_DUAL_SIG, dst), tuple(dst[k] for k in _DUAL_MEANS), tuple(dst[k] for k in _DUAL_DER)))
    return dst


def dual_date_outputs(slc: bool = False) -> list[str]:
    """The names of ``dual_date``'s outputs (with ``slc``: also the single-look DN ones)."""
    return _sig_names(_DUAL_SIG, slc) + list(_DUAL_MEANS + _DUAL_DER)


def single_date(s: np.ndarray, cal: TileCalibration, window, valid_rows=None,
                valid_samples=None, slc: bool = False, region=None, out=None, origin=(0, 0)) -> dict[str, np.ndarray]:
    """sigma0 (per pixel, as ``dual_date``), sigma0_db, local_mean (boxcar mean of
    sigma0) and power (boxcar mean of |z|^2, z = DN / A_sigma) of one channel over
    ``window``, one pass; with ``slc`` also intensity, amplitude and slc_phase (as
    ``dual_date``). ``region``, ``out``, ``origin``: as ``dual_date``."""
    a, r = as_window(window)
    s, vr, vs0, vs1 = _prepare(s, valid_rows, valid_samples)
    reg = _region(s.shape, region)
    dst, ro, co = _destinations(_sig_names(_SINGLE_SIG, slc) + list(_SINGLE_MEANS), reg, out, origin)
    (a0, a1), (r0, r1) = _offsets(a), _offsets(r)
    run_split(_date_kernel, _units(reg),
              (s, s, False, slc, cal.args(), cal.args(), vr, vs0, vs1, a0, a1, r0, r1, _BLOCK_ROWS, _SPAN_COLS,
               reg, ro, co),
              (_sig_outputs(_SINGLE_SIG, dst), tuple(dst[k] for k in _SINGLE_MEANS) + (_NONE_F,) * 4,
               (_NONE_F,) * 8))
    return dst


def power(s: np.ndarray, cal: TileCalibration, window, region=None) -> np.ndarray:
    """Boxcar mean of |z|^2, z = DN / A_sigma (no noise removal), over ``window``: the
    power term of the coherence of ``pair`` (float32, of the ``region``'s shape)."""
    return single_date(s, cal, window, region=region)["power"]


# --------------------------------------------------------------------------------------
# one pair


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pair_kernel(s_a, s_b, rows, idx, w, cph, sph, use_phase, pa, pb, a0, a1, r0, r1, block, span,
                 region, ro, co, u_start, u_stop, out):
    """Work units [u_start, u_stop) of one pair over the output pixels ``region`` of the
    tile (pixel (i, j) at [i + ro, j + co] of the outputs and of the powers pa, pb);
    out, three 2-D float32 arrays: the
    phase of the single-look DN_a DN_b* exp(-i phi), |gamma| and arg(gamma) with gamma =
    <z_a z_b* exp(-i phi)> / sqrt(pa pb), z = DN / A (pa, pb: <|z_a|^2>, <|z_b|^2> over
    the same window); phases in (-pi, pi] (``vecmath.phase``), |gamma| clipped at 1
    (float32 rounding); NaN where pa pb <= 0."""
    n, m = s_a.shape
    wr = r0 + r1 + 1
    wa = a0 + a1 + 1
    ns = (region[3] - region[2] + span - 1) // span
    big = (block + wa - 1) * span
    rbufs = np.empty((2, 3, span + wr - 1), dtype=np.float32)
    abufs = np.empty((2, 3, big), dtype=np.float32)
    azs = np.empty((2, block * span), dtype=np.float32)
    cnt_rg = np.empty(span, dtype=np.float32)
    for u in range(u_start, u_stop):
        i0, i1, c0, c1, w_, j0, j1, e0, r_lo, r_hi = _unit_setup(u, ns, block, span, n, m, a0, a1, r0, r1,
                                                                  rbufs, abufs, cnt_rg, region)
        nj = j1 - j0
        d0 = c0 + co  # the unit's output columns [d0, d1) in the outputs
        d1 = c1 + co
        for r in range(r_lo, r_hi):
            k = idx[r]
            wi = w[r]
            wi0 = np.float32(1.0) - wi
            l0 = rows[k, j0:j1]
            l1 = rows[k + 1, j0:j1]
            qr = rbufs[0, 0, e0:e0 + nj]
            qi = rbufs[1, 0, e0:e0 + nj]
            rr = r if use_phase else 0  # (the phase placeholder is 1 x 1: an empty slice, not read)
            _cross_row(s_a[r, j0:j1], s_b[r, j0:j1], cph[rr, j0:j1], sph[rr, j0:j1], use_phase, qr, qi, False, qr, qi)
            if i0 <= r < i1:  # the single-look interferometric phase of the unit's own pixels
                o0 = out[0][r + ro, d0:d1]
                sr = qr[c0 - j0:c0 - j0 + w_]  # (slices indexed from 0: vectorised)
                si = qi[c0 - j0:c0 - j0 + w_]
                for t in range(w_):
                    o0[t] = phase_of(si[t], sr[t]) + np.float32(0.0)  # (-0.0 -> +0.0)
            for t in range(nj):
                a = wi0 * l0[t] + wi * l1[t]
                g = np.float32(1.0) / (a * a)
                qr[t] *= g
                qi[t] *= g
            kk = r - (i0 - a0)
            for c in range(2):
                _window_sums(rbufs[c], w_, wr, 1, abufs[c, 0, kk * w_:(kk + 1) * w_])
        for c in range(2):
            _window_sums(abufs[c], (i1 - i0) * w_, wa, w_, azs[c, :(i1 - i0) * w_])
        for i in range(i0, i1):
            naz = min(n - 1, i + a1) - max(0, i - a0) + 1
            b0 = (i - i0) * w_
            gre = azs[0, b0:b0 + w_]
            gim = azs[1, b0:b0 + w_]
            ra = pa[i + ro, d0:d1]
            rb = pb[i + ro, d0:d1]
            o1 = out[1][i + ro, d0:d1]
            o2 = out[2][i + ro, d0:d1]
            nz = np.float32(naz)
            for t in range(w_):  # float32: sqrt of each power (their product may underflow)
                if ra[t] > np.float32(0.0) and rb[t] > np.float32(0.0):
                    q = np.float32(1.0) / (np.sqrt(ra[t]) * np.sqrt(rb[t]) * (nz * cnt_rg[t]))
                    gr = gre[t] * q
                    gi = gim[t] * q
                    o1[t] = min(np.float32(1.0), np.sqrt(gr * gr + gi * gi))
                    o2[t] = phase_of(gi, gr) + np.float32(0.0)
                else:
                    o1[t] = np.nan
                    o2[t] = np.nan


def phase_factors(removed_phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin (float32) of a removed phase: pass them to ``pair`` as
    ``removed_phase`` when several polarisations of one pair remove the same phase."""
    phi = np.ascontiguousarray(removed_phase, dtype=np.float32)
    return split_rows(np.cos, phi, out=np.empty_like(phi)), split_rows(np.sin, phi, out=np.empty_like(phi))


def pair(s_a: np.ndarray, s_b: np.ndarray, cal: TileCalibration, window, power_a: np.ndarray,
         power_b: np.ndarray, removed_phase=None, region=None, out=None, origin=(0, 0)) -> dict[str, np.ndarray]:
    """Pair signatures of two coregistered dates (a earlier than b) on one tile:

    interferometric_phase = arg(s_a s_b* exp(-i phi)) in (-pi, pi] (single look);
    coherence = |gamma|, coherence_phase = arg(gamma), gamma = <z_a z_b* exp(-i phi)>
    / sqrt(<|z_a|^2> <|z_b|^2>) over the moving ``window`` (Touzi et al. 1999; Hanssen
    2001), z = DN / A_sigma; ``power_a`` / ``power_b`` the two dates' <|z|^2> over
    that window (``power``, or C11 / C22 of ``dual_date`` with the same window), laid
    out as the outputs (the region at ``origin``); ``removed_phase`` phi (rad):
    removed_b - removed_a of the stack, or its ``phase_factors``. ``region``, ``out``,
    ``origin``: as ``dual_date``.
    """
    a, r = as_window(window)
    s_a = np.ascontiguousarray(s_a, dtype=np.complex64)
    s_b = np.ascontiguousarray(s_b, dtype=np.complex64)
    if s_a.shape != s_b.shape or s_a.ndim != 2:
        raise ValueError(f"two 2-D arrays of one shape needed, got {s_a.shape} and {s_b.shape}")
    n, m = s_a.shape
    reg = _region((n, m), region)
    powers = {"power_a": np.ascontiguousarray(power_a, dtype=np.float32),
              "power_b": np.ascontiguousarray(power_b, dtype=np.float32)}
    _destinations(powers, reg, powers, origin)  # (checks that they hold the region at origin)
    if removed_phase is None:
        cph = sph = _NONE_F
    else:
        cph, sph = removed_phase if isinstance(removed_phase, tuple) else phase_factors(removed_phase)
        if cph.shape != (n, m) or sph.shape != (n, m):
            raise ValueError(f"removed phase shape {cph.shape} != {(n, m)}")
    dst, ro, co = _destinations(_PAIR, reg, out, origin)
    (a0, a1), (r0, r1) = _offsets(a), _offsets(r)
    run_split(_pair_kernel, _units(reg),
              (s_a, s_b, cal.rows, cal.idx, cal.w, cph, sph, removed_phase is not None, powers["power_a"],
               powers["power_b"], a0, a1, r0, r1, _BLOCK_ROWS, _SPAN_COLS, reg, ro, co),
              (tuple(dst[k] for k in _PAIR),))
    return dst


_PAIR = ("interferometric_phase", "coherence", "coherence_phase")
