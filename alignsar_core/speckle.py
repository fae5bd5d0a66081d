"""Speckle filters on SAR intensity, per tile.

- ``boxcar``: moving average over an (az, rg) window (multilook without decimation).
- ``refined_lee``: Lee's MMSE filter (Lee 1981, "Refined filtering of image noise using
  local statistics", Computer Graphics and Image Processing 15) in the edge-aligned
  windows of Lee, Grunes & de Grandi 1999 ("Polarimetric SAR speckle filtering and its
  implication for classification", IEEE TGRS 37(5)); Lee & Pottier 2009 ch. 5.
- ``quegan_yu``: multitemporal filter of Quegan & Yu 2001 ("Filtering of multichannel
  SAR images", IEEE TGRS 39(11)), J_k = (E[I_k] / N) sum_i I_i / E[I_i].

Every filter reads a bounded neighbourhood: compute a tile extended by
``halo_for(...)`` rows/columns on each side (clipped at the burst edges) and crop it
back to get exactly the whole-burst result.
"""

from __future__ import annotations

import numba
import numpy as np

from .signatures.window import as_window, box_mean, run_split
from .signatures.window import halo_for as _box_halo

__all__ = ["ATTRS", "boxcar", "refined_lee", "quegan_yu", "halo_for"]

ATTRS: dict[str, dict[str, str]] = {
    "intensity_boxcar": {
        "units": "m2 m-2", "long_name": "speckle-filtered intensity (boxcar)",
        "formula": "mean of I over an (az, rg) moving window, truncated at the image edges",
        "reference": "Lee & Pottier 2009, Polarimetric Radar Imaging, ch. 5",
    },
    "intensity_refined_lee": {
        "units": "m2 m-2", "long_name": "speckle-filtered intensity (refined Lee, 7x7)",
        "formula": "x = m + b (I - m), b = max(0, (v - m^2 s^2) / (1 + s^2)) / v, s^2 = 1/L; m, v mean and "
                   "variance over the one of 8 edge-aligned 7x7 half windows chosen by the 3x3 sub-window gradients",
        "reference": "Lee 1981, CGIP 15; Lee, Grunes & de Grandi 1999, IEEE TGRS 37(5)",
    },
    "intensity_quegan_yu": {
        "units": "m2 m-2", "long_name": "speckle-filtered intensity (Quegan & Yu multitemporal)",
        "formula": "J_k = (E[I_k] / N) sum_i I_i / E[I_i], E[.] boxcar window mean, N dates",
        "reference": "Quegan & Yu 2001, Filtering of multichannel SAR images, IEEE TGRS 39(11)",
    },
}

REFINED_LEE_WINDOW = 7


def halo_for(filter: str = "boxcar", window=7) -> tuple[int, int]:
    """Halo (rows, columns) on each side a tile needs for ``filter``'s window.

    boxcar / quegan_yu: (az // 2, rg // 2) of the window; refined_lee: (3, 3) (7x7).
    """
    if filter == "refined_lee":
        return (REFINED_LEE_WINDOW // 2,) * 2
    if filter in ("boxcar", "quegan_yu"):
        return _box_halo(window)
    raise ValueError(f"unknown filter {filter!r}")


def boxcar(intensity: np.ndarray, window=7) -> np.ndarray:
    """Moving average of intensity over an (az, rg) window, float32 (units of the input).

    Windows are truncated at the array edges (mean of the pixels inside). Leading axes
    (dates) are filtered independently. Speckle variance drops by the number of
    independent looks in the window. Halo ``halo_for("boxcar", window)``.
    """
    return box_mean(intensity, window)


# --------------------------------------------------------------------------------------
# Refined Lee


def _edge_masks() -> tuple[np.ndarray, np.ndarray]:
    """The 8 edge-aligned half windows of a 7x7 window (28 pixels each: half planes
    including the centre line) as column ranges [lo, hi] (offsets -3..3) for each of the
    7 rows dy = -3..3, in the order of ``_refined_lee_kernel``: 0 left, 1 right
    (vertical edge), 2 top, 3 bottom (horizontal edge), 4 upper-left, 5 lower-right
    (anti-diagonal edge), 6 upper-right, 7 lower-left (diagonal edge)."""
    dy, dx = np.mgrid[-3:4, -3:4]
    tests = [dx <= 0, dx >= 0, dy <= 0, dy >= 0, dx + dy <= 0, dx + dy >= 0, dx - dy >= 0, dx - dy <= 0]
    lo = np.full((8, 7), 0, dtype=np.int64)
    hi = np.full((8, 7), -1, dtype=np.int64)  # empty row: hi < lo
    for d, t in enumerate(tests):
        assert t.sum() == 28
        for r in range(7):
            cols = dx[r][t[r]]
            if cols.size:
                assert np.array_equal(cols, np.arange(cols.min(), cols.max() + 1))  # contiguous
                lo[d, r], hi[d, r] = cols.min(), cols.max()
    return lo, hi


_MASK_LO, _MASK_HI = _edge_masks()


@numba.njit(cache=True, nogil=True)
def _refined_lee_kernel(p, m3, sv2, lo, hi, start, stop, out):
    """p: intensity padded by 3 on each side; m3: its 3x3 means; out: unpadded.

    The 7x7 window is split into nine 3x3 sub-windows centred at offsets (-2, 0, 2)^2;
    their means M give four edge gradients (vertical, horizontal and the two diagonals,
    Lee et al. 1999 templates); the strongest picks the edge direction and the side of
    the edge whose sub-window mean is closer to the centre one picks one of 8 half
    windows. A per-pixel table walk (28 taps) is not expressible as one scipy filter:
    hence numba. Each half window is walked as 7 row segments of contiguous columns.
    """
    m = out.shape[1]
    npx = 28
    for i in range(start, stop):
        ic = i + 3
        for j in range(m):
            jc = j + 3
            m00 = m3[ic - 2, jc - 2]
            m01 = m3[ic - 2, jc]
            m02 = m3[ic - 2, jc + 2]
            m10 = m3[ic, jc - 2]
            m11 = m3[ic, jc]
            m12 = m3[ic, jc + 2]
            m20 = m3[ic + 2, jc - 2]
            m21 = m3[ic + 2, jc]
            m22 = m3[ic + 2, jc + 2]
            g_v = abs((m02 + m12 + m22) - (m00 + m10 + m20))  # vertical edge
            g_h = abs((m20 + m21 + m22) - (m00 + m01 + m02))  # horizontal edge
            g_a = abs((m00 + m01 + m10) - (m12 + m21 + m22))  # anti-diagonal edge (/)
            g_d = abs((m01 + m02 + m12) - (m10 + m20 + m21))  # diagonal edge (\)
            d = 0
            g = g_v
            if g_h > g:
                d = 2
                g = g_h
            if g_a > g:
                d = 4
                g = g_a
            if g_d > g:
                d = 6
            if d == 0:
                if abs(m12 - m11) < abs(m10 - m11):
                    d = 1
            elif d == 2:
                if abs(m21 - m11) < abs(m01 - m11):
                    d = 3
            elif d == 4:
                if abs(m22 - m11) < abs(m00 - m11):
                    d = 5
            else:
                if abs(m20 - m11) < abs(m02 - m11):
                    d = 7
            s = 0.0
            s2 = 0.0
            for r in range(7):
                row = p[ic + r - 3]
                for c in range(jc + lo[d, r], jc + hi[d, r] + 1):
                    v = np.float64(row[c])
                    s += v
                    s2 += v * v
            mu = s / npx
            var_y = s2 / npx - mu * mu
            var_x = (var_y - mu * mu * sv2) / (1.0 + sv2)
            if var_x < 0.0:
                var_x = 0.0
            b = var_x / var_y if var_y > 0.0 else 0.0
            out[i, j] = mu + b * (np.float64(p[ic, jc]) - mu)


def refined_lee(intensity: np.ndarray, looks: float = 1.0) -> np.ndarray:
    """Refined Lee filter of an intensity image (7x7 edge-aligned windows, 8 directions).

    x = m + b (I - m), b = var_x / var_y, var_x = max(0, (var_y - m^2 s_v^2) / (1 + s_v^2)),
    s_v^2 = 1 / looks (speckle variance of an L-look intensity), m and var_y the mean and
    variance of I over the half window aligned with the local edge (Lee 1981; Lee,
    Grunes & de Grandi 1999). The image is mirrored (``numpy.pad`` "symmetric") by 3
    pixels at its edges. float32, units of the input; leading axes filtered
    independently. Halo ``halo_for("refined_lee")`` = (3, 3).
    """
    x = np.asarray(intensity, dtype=np.float32)
    if x.ndim > 2:
        return np.stack([refined_lee(xi, looks) for xi in x])  # loop over dates, not pixels
    if looks <= 0:
        raise ValueError("looks must be > 0")
    p = np.pad(x, 3, mode="symmetric")
    m3 = box_mean(p, 3)
    out = np.empty(x.shape, dtype=np.float32)
    run_split(_refined_lee_kernel, x.shape[0], (p, m3, 1.0 / float(looks), _MASK_LO, _MASK_HI), (out,))
    return out


# --------------------------------------------------------------------------------------
# Quegan & Yu


@numba.njit(cache=True, nogil=True)
def _quegan_kernel(x, mean, start, stop, out):
    nt = x.shape[0]
    x, mean, out = x[:, start:stop], mean[:, start:stop], out[:, start:stop]
    for j in range(stop - start):
        s = 0.0
        cnt = 0
        for k in range(nt):
            v = x[k, j]
            e = mean[k, j]
            if np.isfinite(v) and np.isfinite(e):
                cnt += 1
                if e > 0.0:
                    s += np.float64(v) / e
        if cnt == 0:
            for k in range(nt):
                out[k, j] = np.nan
            continue
        s /= cnt
        for k in range(nt):
            out[k, j] = mean[k, j] * s


@numba.njit(cache=True, nogil=True)
def _quegan_add_kernel(x, mean, total, count):
    for i in range(x.shape[0]):
        xr, er, tr, cr = x[i], mean[i], total[i], count[i]
        for j in range(xr.size):
            v = xr[j]
            e = er[j]
            if np.isfinite(v) and np.isfinite(e):
                cr[j] += 1
                if e > 0.0:
                    tr[j] += np.float64(v) / e


@numba.njit(cache=True, nogil=True)
def _quegan_finish_kernel(mean, total, count, out):
    for i in range(out.shape[0]):
        er, tr, cr, o = mean[i], total[i], count[i], out[i]
        for j in range(o.size):
            o[j] = np.float32(np.float64(er[j]) * (tr[j] / cr[j])) if cr[j] > 0 else np.float32(np.nan)


def quegan_yu_add(intensity: np.ndarray, mean: np.ndarray, total: np.ndarray, count: np.ndarray) -> None:
    """One date of ``quegan_yu`` streamed over dates (a tile at a time, without the
    stack in memory): total += I / E[I] (float64) where I and E[I] are finite and
    E[I] > 0, count += 1 where both are finite; 2-D arrays of one shape, ``total``
    float64 and ``count`` int64 updated in place. The arithmetic of ``quegan_yu``."""
    _quegan_add_kernel(np.ascontiguousarray(intensity, dtype=np.float32), np.ascontiguousarray(mean, dtype=np.float32),
                       total, count)


def quegan_yu_finish(mean: np.ndarray, total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """J_k = E[I_k] total / count (Quegan & Yu 2001 eq. 3) of one date from the sums of
    ``quegan_yu_add`` over every date; float32, NaN where no date was valid."""
    out = np.empty(np.shape(mean), np.float32)
    _quegan_finish_kernel(np.ascontiguousarray(mean, dtype=np.float32), total, count, out)
    return out


def quegan_yu(stack: np.ndarray, window=7) -> np.ndarray:
    """Multitemporal speckle filter of Quegan & Yu 2001 (IEEE TGRS 39(11), eq. 3):

        J_k = (E[I_k] / N) sum_{i=1..N} I_i / E[I_i]

    ``stack``: intensities (time, az, rg) of N coregistered dates; E[I_i] the boxcar
    mean of date i over ``window`` (truncated at the edges). Dates where a pixel is NaN
    are left out of its sum (N counts the valid ones); the output keeps each date's
    local mean. For N independent single-look dates over a homogeneous area and a
    window of M independent pixels the coefficient of variation of J is
    sqrt((M - 1 + N) / (N M)) (-> 1 / sqrt(N) for large M). float32 (time, az, rg).
    Halo ``halo_for("quegan_yu", window)``.
    """
    x = np.asarray(stack, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError("quegan_yu needs a (time, azimuth, range) stack")
    as_window(window)
    mean = box_mean(x, window)
    out = np.empty_like(x)
    nt = x.shape[0]
    run_split(_quegan_kernel, out[0].size, (np.ascontiguousarray(x).reshape(nt, -1), mean.reshape(nt, -1)),
              (out.reshape(nt, -1),))
    return out
