"""Enhanced Spectral Diversity (ESD): the azimuth coregistration residual of TOPS bursts.

Sentinel-1 IW bursts are TOPS acquisitions: the antenna sweeps in azimuth, so the
Doppler centroid of a target depends on where it lies in the burst (``tops`` module:
f_DC(eta) = k_t (eta - eta_ref) + f_etac). A residual azimuth misregistration dt of the
secondary adds the interferometric phase -2 pi f_DC dt, which changes from burst to
burst: a phase jump at every burst boundary. Geometric coregistration (orbits + DEM)
leaves dt of a few 1e-3 lines; interferometry needs about 1e-3 line or better
(Yague-Martinez et al. 2016). In the overlap of bursts k and k+1 the same ground is seen
twice with Doppler centroids f_k and f_k+1 (about 4.5 kHz apart for IW), so the double
difference of the two overlap interferograms measures dt (Prats-Iraola et al. 2012,
"TOPS interferometry with TerraSAR-X", IEEE TGRS 50(8); Yague-Martinez et al. 2016,
"Interferometric processing of Sentinel-1 TOPS data", IEEE TGRS 54(4), sec. III-B):

    i_k       = r_k conj(s_k)            overlap interferogram of burst k (ref r, secondary s)
    phi_ESD   = arg sum_W (sum_W i_k) conj(sum_W i_k+1)     windows W of the overlap
    dt        = -phi_ESD / (2 pi Delta f_DC),   Delta f_DC = f_k - f_k+1   (same azimuth times)
    eps       = dt / azimuth_time_interval    (lines)

Sign convention (tested in tests/test_esd.py): the secondary burst given on the reference
grid is taken to be ``s(l) = S_true(l + eps)``: its content at reference line l is the
scene that belongs at line l + eps, i.e. ``exp(j ramp(l + eps)) field(l + eps)`` for a
reramped TOPS burst. Positive ``eps`` = the secondary is ahead by eps lines (it was read
at positions eps lines too late). Then i_k carries -2 pi f_k eps dt_line, hence the minus
sign above. The correction to ADD to the azimuth offsets (secondary line = reference line
+ offset) before resampling again is ``-eps`` (:attr:`EsdResult.correction_lines`).

Estimator (per overlap): each burst's overlap interferogram is multilooked over windows
of ``looks`` (azimuth, range) pixels; a window is used where both bursts' window
coherences |sum r s*| / sqrt(sum |r|^2 sum |s|^2) reach ``min_coherence``. The products
z_W = I_k,W conj(I_k+1,W) are summed as they are (amplitude weighted, no coherence
weighting) and dt is the value that makes sum_W z_W exp(+j 2 pi Delta f_W dt) real and
positive (a few fixed-point steps, so Delta f_DC may vary with range through k_t(tau)).
The per-overlap standard deviation is the spread of the window estimates over
sqrt(number of windows); overlaps are combined by inverse-variance weighting.

Limits: phi_ESD is known modulo 2 pi, so |dt| must stay below 1 / (2 Delta f_DC) (about
0.05 lines for Sentinel-1 IW): run ESD after geometric coregistration, not instead of it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from .tops import TopsRamp

__all__ = ["EsdError", "OverlapEstimate", "EsdResult", "OverlapRows", "burst_overlaps", "esd_shift"]


class EsdError(ValueError):
    """ESD cannot be computed (no overlap, mismatched bursts, no coherent pixels)."""


@dataclasses.dataclass(frozen=True)
class BurstOverlap:
    """Lines imaged by both burst k and burst k+1 at the same azimuth times:
    burst k lines ``first .. first + n - 1`` are burst k+1 lines ``first_next ..``;
    ``mismatch_lines``: the fraction of a line by which the two line grids differ
    (burst k+1's first line time minus burst k's, modulo the line interval)."""

    burst: int
    first: int
    first_next: int
    n: int
    mismatch_lines: float


@dataclasses.dataclass(frozen=True)
class OverlapEstimate:
    """ESD result of the overlap between bursts ``burst`` and ``burst + 1``.

    ``phase``: phi_ESD (rad) of the window sum before the fixed-point refinement (what
    the double-difference interferogram shows); ``doppler_difference``: amplitude-
    weighted mean Delta f_DC = f_k - f_k+1 over the used windows (Hz);
    ``shift_time`` (s) and ``shift_lines``: the misregistration eps of the secondary
    (module docstring convention); ``std_lines``: its standard deviation estimate;
    ``coherence``: mean of the two bursts' overlap coherences (all overlap pixels);
    ``n_pixels``: pixels in the windows used; ``n_windows``: windows used / all."""

    burst: int
    lines: tuple[int, int]
    lines_next: tuple[int, int]
    n_pixels: int
    n_windows: int
    n_windows_total: int
    coherence: float
    phase: float
    doppler_difference: float
    shift_time: float
    shift_lines: float
    std_lines: float


@dataclasses.dataclass(frozen=True)
class EsdResult:
    """Combined ESD estimate of a swath (inverse-variance weighted over overlaps)."""

    overlaps: list[OverlapEstimate]
    shift_lines: float
    std_lines: float
    azimuth_time_interval: float

    @property
    def shift_time(self) -> float:
        """eps in seconds."""
        return self.shift_lines * self.azimuth_time_interval

    @property
    def correction_lines(self) -> float:
        """What to ADD to the azimuth offsets (secondary line - reference line) before
        resampling the secondary again: -eps (module docstring)."""
        return -self.shift_lines


def _timing(n_bursts: int, grids, first_line_times, azimuth_time_interval) -> tuple[np.ndarray, float, list]:
    """First line times (s, common epoch), line interval and per-burst valid line ranges."""
    if grids is not None:
        from .geometry import _as_grids

        gs = _as_grids(list(grids))
        if len(gs) != n_bursts:
            raise EsdError(f"{len(gs)} burst grids for {n_bursts} bursts")
        ati = gs[0].azimuth_time_interval
        if any(abs(g.azimuth_time_interval - ati) > 1e-12 for g in gs):
            raise EsdError("bursts of one swath must share the azimuth time interval")
        t0 = np.array([g.first_line_time for g in gs])
        valid = [(g.valid_first_line, g.valid_last_line) for g in gs]
        return t0, ati, valid
    if first_line_times is None or azimuth_time_interval is None:
        raise EsdError("give the burst grids (RadarGrid / BurstInfo) or first_line_times and "
                       "azimuth_time_interval")
    t0 = np.asarray(first_line_times, dtype=np.float64)
    if t0.shape != (n_bursts,):
        raise EsdError(f"{t0.size} first line times for {n_bursts} bursts")
    return t0, float(azimuth_time_interval), [None] * n_bursts


def burst_overlaps(lines: Sequence[int], first_line_times: Sequence[float], azimuth_time_interval: float,
                   valid: Sequence[tuple[int, int] | None] | None = None) -> list[BurstOverlap]:
    """The overlap of each pair of consecutive bursts (:class:`BurstOverlap`).

    Burst k line l is at time t0_k + l dt (S1 Product Specification, ``swathTiming``).
    The overlap is [t0_k+1, t0_k + (n_k - 1) dt] restricted to both bursts' valid lines;
    burst k+1's line = burst k's line - round((t0_k+1 - t0_k) / dt). Bursts must be in
    time order; a pair that does not overlap raises :class:`EsdError`.
    """
    t0 = np.asarray(first_line_times, dtype=np.float64)
    dt = float(azimuth_time_interval)
    valid = list(valid) if valid is not None else [None] * len(lines)
    out = []
    for k in range(len(lines) - 1):  # one overlap per burst pair
        step = (t0[k + 1] - t0[k]) / dt
        if step <= 0:
            raise EsdError(f"bursts {k} and {k + 1} are not in time order (first lines {t0[k]:.6f} s, "
                           f"{t0[k + 1]:.6f} s)")
        d = int(round(step))
        v0 = valid[k] or (0, lines[k] - 1)
        v1 = valid[k + 1] or (0, lines[k + 1] - 1)
        first = max(d, v0[0], v1[0] + d)
        last = min(lines[k] - 1, v0[1], v1[1] + d, lines[k + 1] - 1 + d)
        if last < first:
            raise EsdError(f"bursts {k} and {k + 1} do not overlap in their valid lines (burst {k + 1} "
                           f"starts {step:.1f} lines after burst {k}, which has {lines[k]} lines, valid "
                           f"{v0[0]}..{v0[1]}; burst {k + 1} valid {v1[0]}..{v1[1]})")
        out.append(BurstOverlap(k, first, first - d, last - first + 1, float(step - d)))
    return out


class OverlapRows:
    """Some lines of a burst (``rows``: burst lines, ascending; ``data``: those lines), standing
    in for the whole burst array in :func:`esd_shift`, which reads only overlap lines: a
    swath's ESD then needs a few hundred lines per burst in memory, not every burst."""

    def __init__(self, rows: np.ndarray, data: np.ndarray, lines: int):
        self.rows = np.asarray(rows)
        self.data = np.asarray(data)
        self.shape = (int(lines), self.data.shape[1])
        self.ndim = 2

    def take_rows(self, lines: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.rows, lines)
        if np.any(pos >= self.rows.size) or np.any(self.rows[np.minimum(pos, self.rows.size - 1)] != lines):
            raise EsdError(f"lines {lines.min()}..{lines.max()} are not all held (have {self.rows.min()}.."
                           f"{self.rows.max()})")
        return self.data[pos]


def _take(a, lines: np.ndarray) -> np.ndarray:
    return a.take_rows(lines) if isinstance(a, OverlapRows) else np.asarray(a)[lines]


def _window_sums(a: np.ndarray, looks: tuple[int, int]) -> np.ndarray:
    """Sums over non-overlapping (la, lr) windows (edges that do not fill a window dropped)."""
    la, lr = looks
    n, m = a.shape[0] // la * la, a.shape[1] // lr * lr
    return a[:n, :m].reshape(n // la, la, m // lr, lr).sum(axis=(1, 3))


def _solve_dt(z: np.ndarray, df: np.ndarray, iterations: int = 4) -> float:
    """dt making sum z exp(+j 2 pi df dt) real positive: fixed point
    dt <- dt - arg(sum z exp(j 2 pi df dt)) / (2 pi <df>), <df> amplitude-weighted."""
    w = np.abs(z)
    mean_df = float(np.sum(w * df) / np.sum(w))
    dt = 0.0
    for _ in range(iterations):  # a few steps; converges at once when df is uniform
        dt -= np.angle(np.sum(z * np.exp(2j * np.pi * df * dt))) / (2 * np.pi * mean_df)
    return dt


def esd_shift(reference: Sequence[np.ndarray], secondary: Sequence[np.ndarray],
              ramps: Sequence[TopsRamp] | TopsRamp, grids: Sequence[Any] | None = None, *,
              first_line_times: Sequence[float] | None = None,
              azimuth_time_interval: float | None = None, samples: slice = slice(None),
              looks: tuple[int, int] = (5, 20), min_coherence: float | None = 0.6) -> EsdResult:
    """Azimuth misregistration of a coregistered secondary swath by ESD (module docstring).

    ``reference``, ``secondary``: the complex bursts (lines, samples) of one swath, in time
    order, the secondary resampled onto the reference bursts' grids and reramped (not
    deramped: the TOPS phase is what ESD measures). ``ramps``: each reference burst's
    :class:`~alignsar_core.tops.TopsRamp` (or one for all), whose
    :meth:`~alignsar_core.tops.TopsRamp.doppler` gives f_DC at the overlap lines.
    Timing: ``grids`` (``geometry.RadarGrid`` or ``products.model.BurstInfo`` per burst;
    their valid lines bound the overlaps) or ``first_line_times`` (s, any common epoch)
    with ``azimuth_time_interval``. ``samples``: the range samples the arrays hold within
    the ramps' samples (for a range crop). ``looks``: window (azimuth, range) of the
    multilooked overlap interferograms; ``min_coherence``: windows below it in either
    burst are not used (None: use all).

    Returns :class:`EsdResult`: per overlap :class:`OverlapEstimate` and the combined
    ``shift_lines`` eps (positive: the secondary content is ahead by eps lines) with
    ``correction_lines`` = -eps to add to the azimuth offsets. Raises :class:`EsdError`
    when bursts do not overlap or an overlap has no window above ``min_coherence``.
    """
    nb = len(reference)
    if nb < 2 or len(secondary) != nb:
        raise EsdError(f"need at least two bursts and one secondary per reference burst; got {nb} "
                       f"reference and {len(secondary)} secondary bursts")
    ramps = [ramps] * nb if isinstance(ramps, TopsRamp) else list(ramps)
    if len(ramps) != nb:
        raise EsdError(f"{len(ramps)} TOPS ramps for {nb} bursts")
    for k, (r, s) in enumerate(zip(reference, secondary)):
        if np.shape(r) != np.shape(s) or np.ndim(r) != 2:
            raise EsdError(f"burst {k}: reference {np.shape(r)} and secondary {np.shape(s)} must be 2-D "
                           "arrays of one shape (the secondary resampled onto the reference grid)")
    t0, ati, valid = _timing(nb, grids, first_line_times, azimuth_time_interval)
    overlaps = burst_overlaps([np.shape(r)[0] for r in reference], t0, ati, valid)
    estimates = []
    for ov in overlaps:  # one estimate per burst overlap
        k = ov.burst
        la = np.arange(ov.first, ov.first + ov.n)
        lb = np.arange(ov.first_next, ov.first_next + ov.n)
        ra, sa = _take(reference[k], la), _take(secondary[k], la)
        rb, sb = _take(reference[k + 1], lb), _take(secondary[k + 1], lb)
        ns = ra.shape[1]
        idx = np.arange(len(ramps[k].k_t))[samples]
        if idx.size != ns:
            raise EsdError(f"burst {k}: arrays have {ns} samples but the ramp's samples[{samples}] "
                           f"give {idx.size}")
        # Delta f_DC at the same azimuth times; burst k+1's lines moved by the sub-line mismatch
        df = ramps[k].doppler(la, idx) - ramps[k + 1].doppler(lb - ov.mismatch_lines, idx)
        ia = ra * np.conj(sa)
        ib = rb * np.conj(sb)
        coh = [float(np.abs(np.sum(i)) / np.sqrt(np.sum(np.abs(r) ** 2) * np.sum(np.abs(s) ** 2)))
               for i, r, s in ((ia, ra, sa), (ib, rb, sb))]
        wa, wb = _window_sums(ia, looks), _window_sums(ib, looks)
        pa = _window_sums(np.abs(ra) ** 2, looks) * _window_sums(np.abs(sa) ** 2, looks)
        pb = _window_sums(np.abs(rb) ** 2, looks) * _window_sums(np.abs(sb) ** 2, looks)
        with np.errstate(invalid="ignore", divide="ignore"):
            ca, cb = np.abs(wa) / np.sqrt(pa), np.abs(wb) / np.sqrt(pb)
        z = wa * np.conj(wb)
        dfw = _window_sums(df, looks) / (looks[0] * looks[1])
        use = np.isfinite(ca) & np.isfinite(cb) & (np.abs(z) > 0)
        if min_coherence is not None:
            use &= (ca >= min_coherence) & (cb >= min_coherence)
        if use.sum() < 2:
            raise EsdError(f"overlap of bursts {k} and {k + 1}: {int(use.sum())} of {use.size} windows "
                           f"{looks} reach coherence {min_coherence} (overlap coherences "
                           f"{coh[0]:.2f}, {coh[1]:.2f}); cannot estimate the azimuth shift")
        zu, dfu = z[use], dfw[use]
        dt = _solve_dt(zu, dfu)
        mean_df = float(np.sum(np.abs(zu) * dfu) / np.sum(np.abs(zu)))
        # spread of the window estimates around dt -> std of the mean
        resid = np.angle(zu * np.exp(2j * np.pi * dfu * dt)) / (-2 * np.pi * dfu)
        std_t = float(np.std(resid, ddof=1) / np.sqrt(resid.size))
        estimates.append(OverlapEstimate(
            burst=k, lines=(ov.first, ov.first + ov.n - 1), lines_next=(ov.first_next, ov.first_next + ov.n - 1),
            n_pixels=int(use.sum()) * looks[0] * looks[1], n_windows=int(use.sum()), n_windows_total=int(use.size),
            coherence=0.5 * (coh[0] + coh[1]), phase=float(np.angle(np.sum(zu))),
            doppler_difference=mean_df, shift_time=dt, shift_lines=dt / ati, std_lines=std_t / ati))
    eps = np.array([e.shift_lines for e in estimates])
    sd = np.array([e.std_lines for e in estimates])
    if np.all(np.isfinite(sd) & (sd > 0)):
        w = 1.0 / sd ** 2
        combined, std = float(np.sum(w * eps) / np.sum(w)), float(1.0 / np.sqrt(np.sum(w)))
    else:  # too few windows for a spread: weight by the windows used
        w = np.array([e.n_windows for e in estimates], dtype=np.float64)
        combined, std = float(np.sum(w * eps) / np.sum(w)), float("nan")
    return EsdResult(overlaps=estimates, shift_lines=combined, std_lines=std, azimuth_time_interval=ati)
