"""Coregistration of a simulated stack against the simulator's truth: offsets, ESD,
coherence after resampling, the TOPS deramping, and the stack store of the flow."""

import numpy as np
import pytest
import xarray as xr

from alignsar_core.coregistration import (ReferenceBurst, coregister_burst, esd_correction, esd_for_date,
                                          geometric_offsets, resample_burst)
from alignsar_core.dem import read_dem
from alignsar_core.esd import EsdError
from alignsar_core.geometry import open_swath_geometry
from alignsar_core.products.sentinel1 import list_bursts, open_product, read_burst_lines
from alignsar_core.tops import TopsRamp

from ._shared import needs_shared

pytestmark = needs_shared

INNER = (slice(40, -40), slice(560, -40))  # valid data start at sample 529


@pytest.fixture(scope="module")
def setup(sim_stack):
    products = [open_product(p) for p in sim_stack.products]
    bursts = [[b for b in list_bursts(p) if b.swath == "IW1"] for p in products]
    truth = xr.open_zarr(sim_stack.truth, consolidated=False).load()
    dem = read_dem(f"{sim_stack.scene}/dem.tif")
    refs = [ReferenceBurst.compute(products[0], b, dem.interp) for b in bursts[0]]
    return products, bursts, truth, refs


def _truth(truth, k, d, L):
    return truth.isel(line=slice(k * L, (k + 1) * L), date=d)


def test_geometric_offsets_and_removed_phase_match_the_truth(setup):
    products, bursts, truth, refs = setup
    L = bursts[0][0].lines
    for d in (1, 2):
        geom = open_swath_geometry(products[d], "IW1", "VV")
        for k, ref in enumerate(refs):
            off = geometric_offsets(ref, geom.orbit, geom.bursts[k])
            t = _truth(truth, k, d, L)
            rd = off["removed_phase"] / (4 * np.pi / ref.grid.wavelength)
            assert np.abs(off["azimuth_offset"] - t.azimuth_offset.values)[INNER].max() < 1e-4
            drg = np.abs(off["range_offset"] - t.range_offset.values)[INNER]
            # exact but where a pixel sees a cliff (shorelines of the flattened lakes)
            assert drg.max() < 5e-3 and np.percentile(drg, 99.9) < 1e-4
            # reference + topographic phase: exact (the DEM file is the scene's) but on the
            # few cliff pixels, where several terrain points share one range cell
            dphi = np.abs(4 * np.pi / ref.grid.wavelength * (rd - t.range_difference.values))
            assert np.percentile(dphi[INNER], 99.9) < 0.01 and np.mean(dphi[INNER] > 0.1) < 1e-3


def test_esd_and_resampling_reach_the_required_accuracy_and_coherence(setup):
    products, bursts, truth, refs = setup
    L = bursts[0][0].lines
    pairs = [(int(a), int(b)) for a, b in zip(truth.pair_first.values, truth.pair_second.values)]
    for d in (1, 2):
        # the simulated orbits are exact: ESD finds nothing beyond its own noise, and a
        # noisy estimate (this crop has one small overlap, mostly vegetation) is not
        # applied; an overlap without coherent windows gives no estimate at all
        try:
            est = esd_for_date(refs, products[d], bursts[d], "VV")
        except EsdError:
            correction = 0.0
        else:
            assert abs(est.correction_lines) < 3 * est.std_lines + 1e-4
            correction, note = esd_correction(est)
            assert abs(correction) < 1e-3 and (correction == 0) == bool(note)
        for k, ref in enumerate(refs):
            cb = coregister_burst(ref, products[d], bursts[d][k], "VV", correction_lines=correction)
            sec = cb.slc["VV"]
            t = _truth(truth, k, d, L)
            assert np.abs(cb.azimuth_offset - t.azimuth_offset.values)[INNER].max() < 1e-3
            assert np.abs(cb.range_offset - t.range_offset.values)[INNER].max() < 1e-2
            # coherence of the coregistered pair, homogeneous high-coherence areas:
            # resampling (8 taps) loses < 1 % against the truth (thermal noise included
            # via the no-resampling reference below)
            ref_slc = read_burst_lines(products[0], bursts[0][k], "VV")
            ifg = ref_slc * np.conj(sec) * np.exp(-1j * cb.removed_phase)
            model = 4 * np.pi / ref.grid.wavelength * (t.deformation_range.values - truth.deformation_range.values[
                0, k * L:(k + 1) * L] + t.atmosphere_range.values - truth.atmosphere_range.values[0, k * L:(k + 1) * L])
            ifg *= np.exp(-1j * model)
            tc = t.class_code.values
            for c in (50,):  # urban: coherence ~0.9, phase noise small
                m = np.zeros_like(tc, bool)
                m[INNER] = (tc[INNER] == c) & (truth.class_code.values[0, k * L:(k + 1) * L][INNER] == c)
                if m.sum() < 20_000:
                    continue
                est_coh = np.abs(ifg[m].sum()) / np.sqrt((np.abs(ref_slc[m]) ** 2).sum() * (np.abs(sec[m]) ** 2).sum())
                expect = truth.coherence.values[pairs.index((0, d)), k * L:(k + 1) * L][m].mean()
                # thermal noise lowers it by ~1-2 % for bright urban pixels
                assert expect * 0.97 < est_coh < expect + 0.01, (d, k, est_coh, expect)


def test_skipping_the_deramping_breaks_the_coherence(setup):
    """Half a line there and back on a simulated TOPS burst: with deramping/reramping the
    burst comes back; interpolating the ramped signal (Doppler swept over several PRFs)
    does not."""
    products, bursts, truth, refs = setup
    slc = read_burst_lines(products[0], bursts[0][0], "VV")
    ramp = TopsRamp.from_product(products[0], bursts[0][0])
    shape = slc.shape

    def round_trip(r):
        there = resample_burst(slc, r, np.full(shape, 0.5), np.zeros(shape))
        return resample_burst(there, r, np.full(shape, -0.5), np.zeros(shape))

    def coh(a, b, rows):
        a, b = a[rows, 560:-40], b[rows, 560:-40]
        return np.abs(np.vdot(a, b)) / np.sqrt(np.vdot(a, a).real * np.vdot(b, b).real)

    with_ramp, without = round_trip(ramp), round_trip(None)
    for rows in (slice(40, 240), slice(650, 850), slice(-240, -40)):  # burst start, centre, end
        loss_good = 1 - coh(with_ramp, slc, rows)
        loss_bad = 1 - coh(without, slc, rows)
        # 8 taps on the deramped (baseband, 67 % of the PRF) signal lose ~0.1 %; on the
        # ramped one, whose local Doppler sits anywhere in the band (k_t ~ 1.7 kHz/s
        # sweeps a PRF every 0.3 s), the kernel's edge response costs 20-50 x more
        assert loss_good < 0.003 and loss_bad > 0.03 and loss_bad > 15 * loss_good, (rows, loss_good, loss_bad)


def test_flow_writes_coregistered_stacks_that_match_the_truth(sim_stack, tmp_path):
    from alignsar_core.settings import Settings
    from flows.build_dataset import run_build_dataset

    settings = Settings(storage_root=str(tmp_path / "out"), tile_size=(512, 512), dask_workers=2)
    summary, ok = run_build_dataset(str(sim_stack.products[0]).rsplit("/", 1)[0], settings)
    assert ok, summary.failures
    assert len(summary.stacks) == 2 and len(summary.signatures) == 2
    sig = xr.open_zarr(summary.signatures[0], consolidated=False)
    assert {"sigma0_vv", "coherence_vv", "interferometric_phase_vv", "entropy_dual"} <= set(sig.data_vars)
    assert sig.coherence_vv.sizes["pair"] == 3  # (0,1), (0,2), (1,2)
    truth = xr.open_zarr(sim_stack.truth, consolidated=False)
    ds = xr.open_zarr(summary.stacks[0], consolidated=False)
    assert ds.slc_vv.dtype == np.complex64 and ds.slc_vv.sizes == {"time": 3, "azimuth": 1501, "range": 1024}
    assert ds.slc_vv.encoding["chunks"] == (1, 512, 512)
    assert ds.coherence_mean.values[0] == 1.0 and 0.2 < ds.coherence_mean.values[1] < 0.95
    for v in ("slc_vv", "azimuth_offset", "removed_phase", "incidence_angle", "layover_shadow", "esd_correction",
              "coherence_mean"):
        assert ds[v].attrs["units"] and ds[v].attrs["description"]
    L = 1501
    k = int(ds.line.values[0]) // L
    az = ds.azimuth_offset.values[1]
    assert np.abs(az - truth.azimuth_offset.values[1, k * L:(k + 1) * L])[INNER].max() < 1e-3
    # the same terrain point per pixel, but where a range cell holds several (cliffs)
    dh = np.abs(ds.height.values[INNER] - truth.height.values[k * L:(k + 1) * L][INNER])
    assert np.median(dh) < 1e-3 and np.mean(dh > 0.05) < 1e-3
    # (the truth's incidence is interpolated between its geometry nodes: ~0.01 deg)
    np.testing.assert_allclose(ds.incidence_angle.values[INNER],
                               truth.incidence_angle.values[k * L:(k + 1) * L][INNER], atol=0.05)
    # a second run keeps the complete stacks
    again, ok2 = run_build_dataset(str(sim_stack.products[0]).rsplit("/", 1)[0], settings)
    assert ok2 and sorted(again.stacks) == sorted(summary.stacks)
