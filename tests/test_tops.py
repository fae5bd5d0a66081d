"""TOPS ramp: parameters from the real annotation, and the ramp's spectral meaning."""

import numpy as np
import pytest

from alignsar_core.products.sentinel1 import list_bursts, open_product
from alignsar_core.tops import TopsRamp

from ._shared import S1_PRODUCT, needs_shared

pytestmark = needs_shared


@pytest.fixture(scope="module")
def ramp_and_burst():
    product = open_product(str(S1_PRODUCT), metadata_only=True, allow_partial=True)
    burst = [b for b in list_bursts(product) if b.swath == "IW1"][4]
    return TopsRamp.from_product(product, burst), burst


def test_parameters_from_real_iw1_annotation(ramp_and_burst):
    ramp, burst = ramp_and_burst
    assert ramp.k_t.shape == (burst.samples,)
    # IW1: steering 1.59 deg/s, k_a about -2.3 kHz/s -> Doppler centroid rate of 1.5-2 kHz/s
    assert 1500 < ramp.k_t.min() < ramp.k_t.max() < 2100
    # the burst spans about +-1.5 s; the Doppler swings over several PRFs (TOPS)
    span = ramp.doppler(np.array([0, burst.lines - 1]), slice(0, 1))
    assert span[-1, 0] - span[0, 0] == pytest.approx(ramp.k_t[0] * (burst.lines - 1) * burst.azimuth_time_interval)
    assert abs(ramp.f_etac).max() < 100  # data Doppler centroid of a few Hz to tens of Hz
    assert ramp.eta_ref[0] == 0.0


def test_reramped_baseband_signal_has_the_local_doppler_and_deramp_restores_it(ramp_and_burst):
    ramp, burst = ramp_and_burst
    rng = np.random.default_rng(0)
    n, m = burst.lines, 256
    prf = 1.0 / burst.azimuth_time_interval
    # baseband, band-limited (40% of the PRF) complex noise
    white = rng.normal(size=(n, m)) + 1j * rng.normal(size=(n, m))
    f = np.fft.fftfreq(n, d=burst.azimuth_time_interval)
    base = np.fft.ifft(np.fft.fft(white, axis=0) * (np.abs(f) < 0.2 * prf)[:, None], axis=0)
    tops = ramp.reramp(base.astype(np.complex64), 0, 1000)
    for line in (200, 750, 1300):
        # short window: the local Doppler moves by k_t * dt ~ 3.5 Hz per line
        win = tops[line - 16: line + 16]
        spec = (np.abs(np.fft.fft(win, axis=0)) ** 2).sum(axis=1)
        fr = np.fft.fftfreq(32, d=burst.azimuth_time_interval)
        centroid = np.angle(np.sum(spec * np.exp(2j * np.pi * fr / prf))) / (2 * np.pi) * prf
        expected = ramp.doppler(np.array([line]), slice(1000, 1001))[0, 0]
        wrapped = (centroid - expected + prf / 2) % prf - prf / 2
        assert abs(wrapped) < 0.02 * prf
    np.testing.assert_allclose(ramp.deramp(tops, 0, 1000), base, atol=1e-4 * np.abs(base).max())
