"""Enhanced Spectral Diversity on synthetic Sentinel-1-like TOPS swaths (alignsar_core.esd).

A baseband band-limited complex field (Sentinel-1 IW spectral weighting) on a common
azimuth axis is cut into bursts overlapping by 50 lines and reramped with a TopsRamp. The
secondary is the same scene misregistered by eps lines: at reference line l it holds
exp(j ramp(l + eps)) field(l + eps) (field sampled with the project's resampler), plus
independent noise in both images for a coherence of 0.9. ESD must return eps.
"""

import numpy as np
import pytest

from alignsar_core.esd import EsdError, burst_overlaps, esd_shift
from alignsar_core.geometry import RadarGrid
from alignsar_core.resample import resample
from alignsar_core.simulate.speckle import band_limit
from alignsar_core.tops import TopsRamp

ATI = 2.0555e-3
LINES = 300
STEP = 250  # burst cycle in lines: 50 lines overlap
SAMPLES = 2048
PAD = 16
RANGE_RATE = 64.345e6
TAU0 = 5.3e-3
COHERENCE = 0.9


def ramp(dc=(0.0, 0.0), fm_slope=0.0) -> TopsRamp:
    tau = TAU0 + np.arange(SAMPLES) / RANGE_RATE
    return TopsRamp.from_parameters(
        lines=LINES, azimuth_time_interval=ATI, slant_range_time=tau, speed=7600.0,
        steering_rate_deg_s=1.59, radar_frequency=5.405e9,
        fm_rate=(TAU0, np.array([-2300.0, fm_slope])), doppler=(TAU0, np.array(dc)))


def swath(n_bursts, eps, seed=0, rmp=None, noise=True):
    """(reference bursts, secondary bursts, ramp); eps in lines (see module docstring)."""
    rmp = rmp or ramp()
    rng = np.random.default_rng(seed)
    n = STEP * (n_bursts - 1) + LINES + 2 * PAD
    white = (rng.standard_normal((n, SAMPLES)) + 1j * rng.standard_normal((n, SAMPLES))) / np.sqrt(2)
    field = band_limit(white.astype(np.complex64), 327 / 486.5, 0.70, 56.5 / 64.345, 0.75)
    sigma = np.sqrt((1 / COHERENCE - 1)) if noise else 0.0  # |field|^2 = 1: gamma = 1 / (1 + sigma^2)
    lines = np.arange(LINES)
    ref, sec = [], []
    for k in range(n_bursts):  # a handful of bursts
        row0 = PAD + k * STEP
        ref.append(rmp.reramp(field[row0:row0 + LINES]))
        shifted = resample(field, np.full((LINES, SAMPLES), eps, np.float32), 0.0, row0=row0)
        sec.append((shifted * np.exp(1j * rmp.phase(lines + eps))).astype(np.complex64))
    for b in ref + sec:  # independent noise in every image
        b += (sigma * (rng.standard_normal(b.shape) + 1j * rng.standard_normal(b.shape)) / np.sqrt(2)).astype(
            np.complex64)
    return ref, sec, rmp


def times(n_bursts):
    return 100.0 + np.arange(n_bursts) * STEP * ATI


# eps on the resampler's 1/2048 table steps, so the field is shifted by exactly eps
EPS = 20 / 2048  # 0.00977 line


@pytest.fixture(scope="module")
def three_bursts():
    return swath(3, EPS, seed=1)


def test_recovers_a_known_misregistration(three_bursts):
    ref, sec, rmp = three_bursts
    res = esd_shift(ref, sec, rmp, first_line_times=times(3), azimuth_time_interval=ATI)
    for o in res.overlaps:
        print(f"overlap {o.burst}: eps {o.shift_lines:.5f} +- {o.std_lines:.5f} lines, "
              f"dfDC {o.doppler_difference:.1f} Hz, phase {o.phase:.4f} rad, coherence {o.coherence:.3f}, "
              f"{o.n_windows}/{o.n_windows_total} windows")
    print(f"combined {res.shift_lines:.5f} +- {res.std_lines:.5f} (true {EPS:.5f})")
    assert len(res.overlaps) == 2
    assert res.shift_lines == pytest.approx(EPS, abs=5e-4)
    assert res.std_lines < 2.5e-4
    assert res.correction_lines == -res.shift_lines
    assert res.shift_time == pytest.approx(res.shift_lines * ATI)
    for o in res.overlaps:
        assert o.lines == (250, 299) and o.lines_next == (0, 49)
        assert o.n_windows == o.n_windows_total == 10 * (SAMPLES // 20)
        assert o.coherence == pytest.approx(COHERENCE, abs=0.02)
        # Delta f_DC = k_t * burst cycle (k_t = k_a k_s / (k_a - k_s), tops module)
        k_s = 2 * 7600.0 / (299792458.0 / 5.405e9) * np.deg2rad(1.59)
        k_t = -2300.0 * k_s / (-2300.0 - k_s)
        assert o.doppler_difference == pytest.approx(k_t * STEP * ATI, rel=1e-6)
        # positive eps -> negative ESD phase (phi = -2 pi dfDC eps dt)
        assert o.phase < 0
        assert abs(o.shift_lines - EPS) < 4 * o.std_lines + 1e-4


def test_zero_shift_gives_zero(three_bursts):
    ref, _, rmp = three_bursts
    _, sec0, _ = swath(3, 0.0, seed=1)  # same scene and noise, no misregistration
    res = esd_shift(ref, sec0, rmp, first_line_times=times(3), azimuth_time_interval=ATI)
    print(f"eps = 0: {res.shift_lines:.5f} +- {res.std_lines:.5f}")
    assert abs(res.shift_lines) < 5e-4


def test_negative_shift_two_bursts_and_range_dependent_doppler():
    eps = -41 / 2048
    rmp = ramp(dc=(25.0, -3e5), fm_slope=2e5)  # f_etac and k_a vary across the swath
    assert np.ptp(rmp.k_t) > 1.0 and np.ptp(rmp.f_etac) > 1.0
    ref, sec, _ = swath(2, eps, seed=2, rmp=rmp)
    res = esd_shift(ref, sec, rmp, first_line_times=times(2), azimuth_time_interval=ATI)
    print(f"2 bursts: {res.shift_lines:.5f} +- {res.std_lines:.5f} (true {eps:.5f})")
    assert len(res.overlaps) == 1
    assert res.shift_lines == pytest.approx(eps, abs=5e-4)
    assert res.overlaps[0].phase > 0


def test_correction_sign_closes_the_loop(three_bursts):
    """Adding correction_lines to the offsets (resampling at l + eps + correction) leaves ~0."""
    ref, sec, rmp = three_bursts
    res = esd_shift(ref, sec, rmp, first_line_times=times(3), azimuth_time_interval=ATI)
    corrected = round((EPS + res.correction_lines) * 2048) / 2048
    _, sec2, _ = swath(3, corrected, seed=1)
    again = esd_shift(ref, sec2, rmp, first_line_times=times(3), azimuth_time_interval=ATI)
    assert abs(again.shift_lines) < 5e-4 and abs(again.shift_lines) < abs(res.shift_lines) / 5


def test_radar_grids_and_valid_lines(three_bursts):
    ref, sec, rmp = three_bursts
    epoch = np.datetime64("2021-04-01T05:26:22", "ns")
    grids = [RadarGrid(epoch=epoch, first_line_time=t, azimuth_time_interval=ATI, slant_range_time=TAU0,
                       range_sampling_rate=RANGE_RATE, lines=LINES, samples=SAMPLES, wavelength=0.0555,
                       valid_first_line=5, valid_last_line=LINES - 8) for t in times(3)]
    res = esd_shift(ref, sec, [rmp] * 3, grids)
    for o in res.overlaps:
        assert o.lines == (255, 292) and o.lines_next == (5, 42)
    assert res.shift_lines == pytest.approx(EPS, abs=5e-4)
    # a range crop of the arrays with the ramp's matching samples
    crop = slice(512, 1536)
    res2 = esd_shift([r[:, crop] for r in ref], [s[:, crop] for s in sec], rmp, grids, samples=crop)
    assert res2.shift_lines == pytest.approx(EPS, abs=1e-3)


def test_overlap_lines_with_sub_line_offset():
    ov = burst_overlaps([300, 300], [0.0, (STEP + 0.3) * ATI], ATI)
    assert (ov[0].first, ov[0].first_next, ov[0].n) == (250, 0, 50)
    assert ov[0].mismatch_lines == pytest.approx(0.3)


def test_refusals(three_bursts):
    ref, sec, rmp = three_bursts
    with pytest.raises(EsdError, match="do not overlap"):
        esd_shift(ref[:2], sec[:2], rmp, first_line_times=[0.0, 400 * ATI], azimuth_time_interval=ATI)
    with pytest.raises(EsdError, match="not in time order"):
        esd_shift(ref[:2], sec[:2], rmp, first_line_times=[1.0, 0.0], azimuth_time_interval=ATI)
    with pytest.raises(EsdError, match="one shape"):
        esd_shift(ref[:2], [sec[0], sec[1][:, :100]], rmp, first_line_times=times(2), azimuth_time_interval=ATI)
    rng = np.random.default_rng(5)
    noise = [(rng.standard_normal(r.shape) + 1j * rng.standard_normal(r.shape)).astype(np.complex64) for r in ref]
    with pytest.raises(EsdError, match="reach coherence 0.6"):
        esd_shift(ref, noise, rmp, first_line_times=times(3), azimuth_time_interval=ATI)
    with pytest.raises(EsdError, match="first_line_times"):
        esd_shift(ref, sec, rmp)
