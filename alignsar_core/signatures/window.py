"""Boxcar (moving-average) windows shared by the signature and speckle kernels, and
the halo a tile needs so that windowed results computed per tile equal the whole
burst's result exactly.

Window convention (the same as ``scipy.ndimage.uniform_filter`` with ``origin=0``):
a window of ``w`` samples along an axis covers offsets ``-(w // 2) .. w - 1 - w // 2``
around the output pixel (centred for odd ``w``; one more sample before than after for
even ``w``). Near the array edges the window is *truncated*: the mean is taken over
the pixels inside the array only (no padding, no invented samples).

Why our own kernel instead of ``scipy.ndimage.uniform_filter``: uniform_filter keeps a
running sum along each line, so a pixel's value depends (in the last bits) on where
the line started; a tile computed with its halo would then differ from the whole
burst in the last bits. Here every window sum is formed by a doubling tree
(``_window_sums``) whose grouping depends only on offsets relative to the output
pixel, in float64, so a tile with the halo gives bit-identical results, and a NaN only
spoils the windows that hold it. The sums are separable (range pass, then azimuth
pass over the range sums), in units of 64 rows x 512 columns whose scratch stays in
cache, with the pixel products (|s|^2, s1 s2*) fused into the range pass so each input
pixel is read once. Cost per pixel and channel: about log2(az) + log2(rg) vectorised
passes (4 for a 5 x 20 window) instead of az + rg.

Halo: ``halo_for(window)`` = ``(az // 2, rg // 2)`` rows/columns on each side.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

# Work unit of the kernels: a block of output rows x a span of columns, sized so the
# range sums it keeps (4 channels x (rows + window) x span, float64) stay in L2 cache.
_BLOCK_ROWS = 64
_SPAN_COLS = 512


def as_window(window) -> tuple[int, int]:
    """(azimuth, range) window size from an int (square) or a pair; sizes >= 1."""
    if np.ndim(window) == 0:
        a = r = int(window)
    else:
        a, r = (int(v) for v in window)
    if a < 1 or r < 1:
        raise ValueError(f"window sizes must be >= 1, got {window!r}")
    return a, r


def halo_for(window) -> tuple[int, int]:
    """Halo (azimuth rows, range columns) on each side of a tile for a boxcar window.

    A tile extended by this halo on every side (clipped at the burst edges), filtered,
    and cropped back gives exactly the whole-burst result (bit-identical), because each
    output pixel only reads pixels within ``w // 2`` of itself along each axis.
    """
    a, r = as_window(window)
    return a // 2, r // 2


def _offsets(w: int) -> tuple[int, int]:
    """Samples before and after the centre for a window of w samples."""
    return w // 2, w - 1 - w // 2


@numba.njit(cache=True, nogil=True)
def _window_sums(bufs, nout, wlen, step, dst):
    """dst[t] = sum_{k < wlen} bufs[0, t + k step] for t < nout (float64).

    Summed by a doubling tree: S_1 = bufs[0], S_2s[t] = S_s[t] + S_s[t + s step], and
    the window is the sum of the levels of the set bits of wlen, low bits first (two
    levels in one pass, ((a + b) + (c + d)), where a bit is not needed): about
    log2(wlen) vectorised passes instead of wlen. The grouping of each sum depends only
    on offsets relative to the output, never on where the row or tile starts, so tiles
    and the whole burst give bit-identical sums. ``step`` 1 sums along a row; ``step`` =
    row length sums rows of a flattened block (the azimuth pass). ``bufs`` (3, >= nout +
    (wlen - 1) step): row 0 the input (0.0 for samples outside the array: x + 0.0 is
    exact, so zero padding equals a truncated window), rows 1, 2 scratch.
    """
    n_in = nout + (wlen - 1) * step
    lvl = 0  # row of bufs holding the current level S_size
    size = 1
    off = 0
    state = 0  # 0: dst empty; 1: level ``pend`` at ``poff`` waits to be added; 2: dst holds the sum so far
    pend = 0
    poff = 0
    ww = wlen
    while True:
        if ww & 1:
            if state == 0:
                pend = lvl
                poff = off * step
                state = 1
            else:
                x1 = bufs[lvl, off * step:off * step + nout]
                if state == 1:
                    x0 = bufs[pend, poff:poff + nout]
                    for t in range(nout):
                        dst[t] = x0[t] + x1[t]
                    state = 2
                else:
                    for t in range(nout):
                        dst[t] += x1[t]
            off += size
        ww >>= 1
        if ww == 0:
            break
        tgt = 1 if lvl != 1 else 2  # a scratch row that does not hold the current level
        if state == 1 and pend == tgt:  # the pending level would be overwritten: add it now
            x0 = bufs[pend, poff:poff + nout]
            for t in range(nout):
                dst[t] = x0[t]
            state = 2
        d = size * step
        lv = bufs[lvl]
        tv = bufs[tgt]
        if (ww & 1) == 0 and ww > 1:  # next bit unused: two levels in one pass
            nl = n_in - (4 * size - 1) * step
            x0 = lv[:nl]
            x1 = lv[d:d + nl]
            x2 = lv[2 * d:2 * d + nl]
            x3 = lv[3 * d:3 * d + nl]
            for t in range(nl):
                tv[t] = (x0[t] + x1[t]) + (x2[t] + x3[t])
            size *= 4
            ww >>= 1
        else:
            nl = n_in - (2 * size - 1) * step
            x0 = lv[:nl]
            x1 = lv[d:d + nl]
            for t in range(nl):
                tv[t] = x0[t] + x1[t]
            size *= 2
        lvl = tgt
    if state == 1:
        x0 = bufs[pend, poff:poff + nout]
        for t in range(nout):
            dst[t] = x0[t]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _cross_row(xa, xb, cph, sph, use_phase, qr, qi, powers, pa, pb):
    """qr + i qi = xa xb* exp(-i phi) of two complex64 row segments in float32 (cph, sph:
    cos and sin of phi on the segment, read only with ``use_phase``), and with
    ``powers`` pa = |xa|^2, pb = |xb|^2: the same arithmetic for every pixel, wherever
    a tile starts (numpy's complex multiply differs in the last bit between its SIMD
    body and its tail)."""
    for t in range(xa.size):
        xr = np.float32(xa[t].real)
        xi = np.float32(xa[t].imag)
        yr = np.float32(xb[t].real)
        yi = np.float32(xb[t].imag)
        qr[t] = xr * yr + xi * yi
        qi[t] = xi * yr - xr * yi
        if powers:
            pa[t] = xr * xr + xi * xi
            pb[t] = yr * yr + yi * yi
    if use_phase:  # times exp(-i phi) = cos phi - i sin phi
        for t in range(xa.size):
            pr = qr[t]
            pim = qi[t]
            qr[t] = pr * cph[t] + pim * sph[t]
            qi[t] = pim * cph[t] - pr * sph[t]


@numba.njit(cache=True, nogil=True)
def _unit_bounds(u, ns, block, span, n, m):
    """Output rows [i0, i1) and columns [c0, c1) of work unit u (row-major units)."""
    i0 = (u // ns) * block
    c0 = (u % ns) * span
    return i0, min(n, i0 + block), c0, min(m, c0 + span)


@numba.njit(cache=True, nogil=True)
def _box_mean_kernel(x, a0, a1, r0, r1, block, span, u_start, u_stop, out):
    """Windowed mean of each channel of x (C, n, m) float32 -> out (C, n, m) float32,
    for the work units [u_start, u_stop) (see ``_unit_bounds``)."""
    nc, n, m = x.shape
    wr = r0 + r1 + 1
    wa = a0 + a1 + 1
    ns = (m + span - 1) // span
    # scratch sized for the largest unit, allocated once per call (not per unit)
    big = (block + wa - 1) * span
    rbufs = np.empty((3, span + wr - 1), dtype=np.float64)  # row 0: one input row, zero padded
    abufs = np.empty((3, big), dtype=np.float64)  # row 0: the block's range sums, row by row
    azs_buf = np.empty(block * span, dtype=np.float64)
    cnt_rg = np.empty(span, dtype=np.float64)
    for u in range(u_start, u_stop):
        i0, i1, c0, c1 = _unit_bounds(u, ns, block, span, n, m)
        w = c1 - c0
        nr = i1 - i0 + wa - 1  # rows i0 - a0 .. i1 + a1 - 1, zero outside [0, n)
        q0 = c0 - r0  # column of src[0]; src is zero outside [0, m)
        rows = abufs[0, :nr * w]
        azs = azs_buf[:(i1 - i0) * w]
        j0 = max(0, q0)
        j1 = min(m, c1 + r1)
        src = rbufs[0]
        src[:] = 0.0
        for t in range(w):
            j = c0 + t
            cnt_rg[t] = min(m - 1, j + r1) - max(0, j - r0) + 1
        r_lo = max(0, i0 - a0)
        r_hi = min(n, i1 + a1)
        for c in range(nc):
            rows[:(r_lo - (i0 - a0)) * w] = 0.0  # rows above the array
            rows[(r_hi - (i0 - a0)) * w:] = 0.0  # rows below the array
            for r in range(r_lo, r_hi):
                xr = x[c, r, j0:j1]
                d = src[j0 - q0:j1 - q0]
                for t in range(j1 - j0):
                    d[t] = xr[t]
                k = r - (i0 - a0)
                _window_sums(rbufs, w, wr, 1, rows[k * w:(k + 1) * w])
            _window_sums(abufs, (i1 - i0) * w, wa, w, azs)
            for i in range(i0, i1):
                naz = min(n - 1, i + a1) - max(0, i - a0) + 1
                a = azs[(i - i0) * w:(i - i0 + 1) * w]
                o = out[c, i, c0:c1]
                for t in range(w):
                    o[t] = a[t] / (naz * cnt_rg[t])


@numba.njit(cache=True, nogil=True)
def _unit_setup(u, ns, block, span, n, m, a0, a1, r0, r1, rbufs, abufs, cnt_rg, region):
    """Set-up of work unit u of the multi-channel window kernels: its bounds (the units
    tile ``region`` = (first row, end row, first column, end column) of the output
    pixels, ``ns`` units per row of units), the input
    columns [j0, j1) it reads (written at e0 of each ``rbufs[c, 0]`` row, zero padded
    around), the input rows [r_lo, r_hi) inside the array (the block's range-sum rows
    outside it zeroed in ``abufs``) and the range pixel count of each output column
    (edge-truncated windows) in ``cnt_rg``. Returns (i0, i1, c0, c1, w, j0, j1, e0,
    r_lo, r_hi)."""
    g0, g1, h0, h1 = region
    i0, i1, c0, c1 = _unit_bounds(u, ns, block, span, g1 - g0, h1 - h0)
    i0 += g0
    i1 += g0
    c0 += h0
    c1 += h0
    w = c1 - c0
    nr = i1 - i0 + a0 + a1
    q0 = c0 - r0
    j0 = max(0, q0)
    j1 = min(m, c1 + r1)
    rbufs[:, 0, :] = 0.0
    for t in range(w):
        j = c0 + t
        cnt_rg[t] = min(m - 1, j + r1) - max(0, j - r0) + 1
    r_lo = max(0, i0 - a0)
    r_hi = min(n, i1 + a1)
    abufs[:, 0, :(r_lo - (i0 - a0)) * w] = 0.0  # rows above the array
    abufs[:, 0, (r_hi - (i0 - a0)) * w:nr * w] = 0.0  # rows below the array
    return i0, i1, c0, c1, w, j0, j1, j0 - q0, r_lo, r_hi


@numba.njit(cache=True, nogil=True)
def _hermitian_box_kernel(s1, s2, cph, sph, use_phase, a0, a1, r0, r1, block, span, mode,
                          u_start, u_stop, out):
    """Windowed second moments of two complex channels, fused with their products.

    Channels summed: |s1|^2, |s2|^2, Re and Im of s1 s2* (times exp(-i phi) when
    ``use_phase``: cph = cos(phi), sph = sin(phi)).
    mode 0: out (4, n, m) = window means of the four channels (C11, C22, Re C12, Im C12).
    mode 1: out (3, n, m) = |gamma|, Re gamma, Im gamma with
            gamma = sum s1 s2* / sqrt(sum |s1|^2 sum |s2|^2)  (NaN where a sum is 0).
    """
    n, m = s1.shape
    wr = r0 + r1 + 1
    wa = a0 + a1 + 1
    ns = (m + span - 1) // span
    # scratch sized for the largest unit, allocated once per call (not per unit)
    big = (block + wa - 1) * span
    rbufs = np.empty((4, 3, span + wr - 1), dtype=np.float64)  # [c, 0]: products of one row
    abufs = np.empty((4, 3, big), dtype=np.float64)  # [c, 0]: the block's range sums
    azs_buf = np.empty((4, block * span), dtype=np.float64)
    cnt_rg = np.empty(span, dtype=np.float64)
    for u in range(u_start, u_stop):
        i0, i1, c0, c1, w, j0, j1, e0, r_lo, r_hi = _unit_setup(u, ns, block, span, n, m, a0, a1, r0, r1,
                                                                 rbufs, abufs, cnt_rg, (0, n, 0, m))
        azs = azs_buf[:, :(i1 - i0) * w]
        for r in range(r_lo, r_hi):
            x1 = s1[r, j0:j1]
            x2 = s2[r, j0:j1]
            p0 = rbufs[0, 0, e0:e0 + j1 - j0]
            p1 = rbufs[1, 0, e0:e0 + j1 - j0]
            p2 = rbufs[2, 0, e0:e0 + j1 - j0]
            p3 = rbufs[3, 0, e0:e0 + j1 - j0]
            for t in range(j1 - j0):
                xr = np.float64(x1[t].real)
                xi = np.float64(x1[t].imag)
                yr = np.float64(x2[t].real)
                yi = np.float64(x2[t].imag)
                p0[t] = xr * xr + xi * xi
                p1[t] = yr * yr + yi * yi
                p2[t] = xr * yr + xi * yi  # s1 * conj(s2)
                p3[t] = xi * yr - xr * yi
            if use_phase:  # times exp(-i phi) = cos phi - i sin phi
                cr = cph[r, j0:j1]
                sr = sph[r, j0:j1]
                for t in range(j1 - j0):
                    c = np.float64(cr[t])
                    sn = np.float64(sr[t])
                    pr = p2[t]
                    pim = p3[t]
                    p2[t] = pr * c + pim * sn
                    p3[t] = pim * c - pr * sn
            k = r - (i0 - a0)
            for c4 in range(4):
                _window_sums(rbufs[c4], w, wr, 1, abufs[c4, 0, k * w:(k + 1) * w])
        for c4 in range(4):
            _window_sums(abufs[c4], (i1 - i0) * w, wa, w, azs[c4])
        for i in range(i0, i1):
            naz = min(n - 1, i + a1) - max(0, i - a0) + 1
            b0 = (i - i0) * w
            if mode == 0:
                for c4 in range(4):
                    o = out[c4, i, c0:c1]
                    a = azs[c4, b0:b0 + w]
                    for t in range(w):
                        o[t] = a[t] / (naz * cnt_rg[t])
            else:
                o0 = out[0, i, c0:c1]
                o1 = out[1, i, c0:c1]
                o2 = out[2, i, c0:c1]
                g11 = azs[0, b0:b0 + w]
                g22 = azs[1, b0:b0 + w]
                gre = azs[2, b0:b0 + w]
                gim = azs[3, b0:b0 + w]
                for t in range(w):
                    d = g11[t] * g22[t]
                    if d > 0.0:
                        q = 1.0 / np.sqrt(d)
                        gr = gre[t] * q
                        gi = gim[t] * q
                        o0[t] = np.sqrt(gr * gr + gi * gi)
                        o1[t] = gr
                        o2[t] = gi
                    else:
                        o0[t] = np.nan
                        o1[t] = np.nan
                        o2[t] = np.nan


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One process-wide pool for ``run_split`` (a pool per call cost ~0.1 ms x 30 calls
    per tile); sized for every core, each call uses ``numba.get_num_threads()`` of it."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max(1, os.cpu_count() or 1), thread_name_prefix="alignsar-kernel")
        return _POOL


def run_split(kernel, total: int, args: tuple, outs: tuple = ()) -> None:
    """Run ``kernel(*args, start, stop, *outs)`` over [0, total) split into contiguous
    ranges on ``numba.get_num_threads()`` threads (the kernels are ``nogil``): the
    calling thread runs the first range, a shared pool the others.

    Threads from Python rather than numba's ``parallel=True``: the parfor versions of
    these kernels took 2-7 s each to compile (and every CI run starts with a cold
    cache) for the same speed. Inside Dask workers that already use every core, set
    ``numba.set_num_threads(1)`` (or NUMBA_NUM_THREADS=1) to avoid oversubscription.
    """
    nthreads = max(1, min(numba.get_num_threads(), total))
    if nthreads == 1 or total < 2:
        kernel(*args, 0, total, *outs)
        return
    bounds = np.linspace(0, total, nthreads + 1).astype(int)
    futures = [_pool().submit(kernel, *args, int(a), int(b), *outs) for a, b in zip(bounds[1:-1], bounds[2:])]
    kernel(*args, int(bounds[0]), int(bounds[1]), *outs)
    for f in futures:
        f.result()


def split_rows(func, *arrays: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``func(*arrays, out=out)`` for a numpy ufunc, over ranges of the first axis on
    ``numba.get_num_threads()`` threads (numpy releases the GIL in its loops): numpy's
    SIMD transcendental functions (cos and sin of the removed phase) at every core's
    speed. Floating-point warnings are off (numpy's error state is per
    thread; callers map -inf / NaN themselves). Returns ``out``."""
    def part(a, b):
        with np.errstate(all="ignore"):
            func(*(x[a:b] for x in arrays), out=out[a:b])

    run_split(part, out.shape[0], ())
    return out


def _run_units(kernel, shape, args, outs) -> None:
    """``run_split`` over the (row block x column span) work units of a (n, m) array."""
    n, m = shape
    total = ((n + _BLOCK_ROWS - 1) // _BLOCK_ROWS) * ((m + _SPAN_COLS - 1) // _SPAN_COLS)
    run_split(kernel, total, args, outs)


def box_mean(x: np.ndarray, window) -> np.ndarray:
    """Boxcar (moving average) of a real array over the last two axes (az, rg).

    Mean over the window (see the module docstring for the window convention and
    the edge truncation). float32 out; leading axes (e.g. time) are filtered
    independently. Complex input gives the complex mean (real and imaginary parts).
    Halo: ``halo_for(window)``.
    """
    a, r = as_window(window)
    x = np.asarray(x)
    if np.iscomplexobj(x):
        return box_mean(x.real, window) + 1j * box_mean(x.imag, window).astype(np.complex64)
    if x.ndim < 2:
        raise ValueError("box_mean needs at least two (azimuth, range) axes")
    lead = x.shape[:-2]
    x3 = np.ascontiguousarray(x, dtype=np.float32).reshape((-1,) + x.shape[-2:])
    out = np.empty_like(x3)
    (a0, a1), (r0, r1) = _offsets(a), _offsets(r)
    _run_units(_box_mean_kernel, x3.shape[-2:], (x3, a0, a1, r0, r1, _BLOCK_ROWS, _SPAN_COLS), (out,))
    return out.reshape(lead + x.shape[-2:])


def pair_inputs(s1: np.ndarray, s2: np.ndarray, removed_phase: np.ndarray | None):
    """Two complex 2-D channels as contiguous complex64 of one shape, and cos / sin of the
    phase to remove from s1 s2* (a (1, 1) zero placeholder when there is none)."""
    s1 = np.ascontiguousarray(s1, dtype=np.complex64)
    s2 = np.ascontiguousarray(s2, dtype=np.complex64)
    if s1.shape != s2.shape or s1.ndim != 2:
        raise ValueError(f"two 2-D arrays of one shape needed, got {s1.shape} and {s2.shape}")
    if removed_phase is None:
        return s1, s2, np.zeros((1, 1), dtype=np.float32), np.zeros((1, 1), dtype=np.float32)
    phi = np.asarray(removed_phase, dtype=np.float32)
    if phi.shape != s1.shape:
        raise ValueError(f"removed phase shape {phi.shape} != {s1.shape}")
    return s1, s2, np.cos(phi), np.sin(phi)


def hermitian_box(s1: np.ndarray, s2: np.ndarray, window, removed_phase: np.ndarray | None = None,
                  mode: int = 0) -> np.ndarray:
    """Fused window sums of |s1|^2, |s2|^2 and s1 s2* exp(-i phi_removed) of two complex
    2-D channels (units of |s|^2). mode 0: (4, n, m) float32 window means C11, C22,
    Re C12, Im C12 (covariance, Lee & Pottier 2009 ch. 3); mode 1: (3, n, m) |gamma|,
    Re gamma, Im gamma, gamma = sum s1 s2* / sqrt(sum |s1|^2 sum |s2|^2) (Touzi et al.
    1999). Halo ``halo_for(window)``."""
    a, r = as_window(window)
    s1, s2, cph, sph = pair_inputs(s1, s2, removed_phase)
    out = np.empty((4 if mode == 0 else 3,) + s1.shape, dtype=np.float32)
    (a0, a1), (r0, r1) = _offsets(a), _offsets(r)
    _run_units(_hermitian_box_kernel, s1.shape,
               (s1, s2, cph, sph, removed_phase is not None, a0, a1, r0, r1, _BLOCK_ROWS, _SPAN_COLS, mode),
               (out,))
    return out


def apply_in_tiles(func, arrays, halo, tile) -> np.ndarray | tuple[np.ndarray, ...]:
    """Reference implementation of the halo contract: run ``func(*arrays)`` on tiles of
    ``tile`` = (rows, cols) extended by ``halo`` = (rows, cols) on each side (clipped at
    the array edges), crop each result back to its tile and assemble.

    ``arrays`` share their last two (azimuth, range) axes; ``func`` returns one array or
    a tuple of arrays whose last two axes are those of its inputs. For windowed
    functions with the right halo the result equals ``func(*arrays)`` bit for bit (what
    dask's ``map_overlap(..., boundary="none")`` does in the pipeline).
    """
    n, m = arrays[0].shape[-2:]
    (ha, hr), (ta, tr) = halo, tile
    result = None
    for i0 in range(0, n, ta):  # loop over tiles
        for j0 in range(0, m, tr):
            i1, j1 = min(n, i0 + ta), min(m, j0 + tr)
            e0, e1 = max(0, i0 - ha), min(n, i1 + ha)
            f0, f1 = max(0, j0 - hr), min(m, j1 + hr)
            out = func(*[a[..., e0:e1, f0:f1] for a in arrays])
            outs = out if isinstance(out, tuple) else (out,)
            if result is None:
                result = tuple(np.empty(o.shape[:-2] + (n, m), dtype=o.dtype) for o in outs)
            for r, o in zip(result, outs):
                r[..., i0:i1, j0:j1] = o[..., i0 - e0:i1 - e0, j0 - f0:j1 - f0]
    return result if isinstance(out, tuple) else result[0]
