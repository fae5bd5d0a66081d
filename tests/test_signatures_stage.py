"""The signature stage on a simulated, coregistered stack: the signatures store against
the simulator's truth, tiles against the whole burst, the store's metadata, and the
Prefect tasks of the stage."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy.ndimage import uniform_filter

from alignsar_core import speckle, store
from alignsar_core.signatures import coherence as co
from alignsar_core.signatures import soil_moisture as sm
from alignsar_core.signatures import single_pol as sp
from alignsar_core.signatures import tiles
from alignsar_core.signatures.single_pol import to_db
from alignsar_core.signatures.window import box_mean

from ._shared import needs_shared

pytestmark = needs_shared

L, M = 1501, 1024
TILE = (512, 512)
TAPS = 8  # coregistration resampler taps (Settings.interpolation_taps default)


@pytest.fixture(scope="module")
def stage(sim_stack, tmp_path_factory):
    """Burst 0 of the simulated stack coregistered with the core functions (what the
    flow's stack tasks call), its signatures on 512 x 512 tiles, and the truth."""
    from alignsar_core.coregistration import ReferenceBurst
    from alignsar_core.dem import read_dem
    from alignsar_core.products.sentinel1 import list_bursts, open_product
    from alignsar_core.stack import create_stack, write_date

    root = tmp_path_factory.mktemp("signatures-stage")
    products = [open_product(str(p)) for p in sim_stack.products]
    bursts = [[b for b in list_bursts(p) if b.swath == "IW1"][0] for p in products]
    dem = read_dem(f"{sim_stack.scene}/dem.tif")
    ref = ReferenceBurst.compute(products[0], bursts[0], dem.interp)
    stack_url = str(root / "stacks" / f"{bursts[0].stack_id}.zarr")
    dates = [np.datetime64(b.first_line_time, "ns") for b in bursts]
    create_stack(stack_url, ref, dates, ["VV", "VH"], TILE, dem=dem)
    for d in (1, 2):
        write_date(stack_url, d, ref, products[d], bursts[d], ["VV", "VH"], taps=TAPS)
    store.mark_complete(store.open_group(stack_url), {"acquisitions": [b.acquisition_id for b in bursts]})

    attrs = dict(store.open_group(stack_url, mode="r").attrs)
    calibration = tiles.load_calibration(attrs, ["VV", "VH"])
    sig_url = str(root / "signatures" / "tiled.zarr")
    tiles.create_signature_store(sig_url, stack_url, TILE, calibration=calibration)
    grid = tiles.tile_grid(sig_url)
    for tile in grid:
        tiles.compute_tile(stack_url, sig_url, tile, calibration=calibration)
    truth = xr.open_zarr(sim_stack.truth, consolidated=False)
    k = int(xr.open_zarr(stack_url, consolidated=False).line.values[0]) // L
    truth = truth.isel(line=slice(k * L, (k + 1) * L)).load()
    return dict(root=root, stack_url=stack_url, sig_url=sig_url, calibration=calibration, grid=grid,
                truth=truth, k=k, targets=Path(sim_stack.truth).parent / "targets.json",
                sig=xr.open_zarr(sig_url, consolidated=False).load())


def _far_from_targets(path, k, radius=40):
    """Pixels away from every point target (their energy is not sigma0)."""
    m = np.ones((L, M), bool)
    for t in json.loads(Path(path).read_text()):
        if t["burst"] == k:
            li, pi = int(t["line"]) - k * L, int(t["pixel"])
            m[max(li - radius, 0):li + radius, max(pi - radius, 0):pi + radius] = False
    return m


def _inner():
    m = np.zeros((L, M), bool)
    m[40:-40, 560:-40] = True  # valid data start at sample 529
    return m


def _power_gain(fractions, band_fraction, coefficient, taps=TAPS):
    """Power gain of the resampling kernel at fractional shifts, on a signal whose
    spectrum is the Hamming-weighted processing band (~1: the kernel is normalised for
    that band, ``resample.kernel_table``), and its gain on white noise (sum of squared
    weights, < 1)."""
    from alignsar_core.resample import kernel_table

    table = kernel_table(taps, 2048, 3.0, round(float(band_fraction), 6),
                         round(float(coefficient), 6)).astype(np.float64)
    sub = table.shape[0] - 1
    f = np.linspace(-0.5 * band_fraction, 0.5 * band_fraction, 2049)
    p = (coefficient + (1 - coefficient) * np.cos(2 * np.pi * f / band_fraction)) ** 2
    offsets = np.arange(taps) - taps // 2 + 1
    grid = np.linspace(0.0, 1.0, 129)
    w = table[np.round(grid * sub).astype(int)]
    h = (w[:, :, None] * np.exp(-2j * np.pi * f[None, None, :] * offsets[None, :, None])).sum(axis=1)
    signal = (np.abs(h) ** 2 * p).sum(axis=1) / p.sum()
    noise = (w ** 2).sum(axis=1)
    fr = np.mod(fractions, 1.0)
    return np.interp(fr, grid, signal), np.interp(fr, grid, noise)


def _snr_and_luts(stage, pol, date):
    cal = stage["calibration"]
    lines = stage["sig"].line.values
    pixels = stage["sig"].pixel.values
    a2 = cal.luts[pol][0].interpolate(lines, pixels).astype(np.float64) ** 2
    n = cal.noise[pol].interpolate(lines, pixels).astype(np.float64)
    s = stage["truth"][f"sigma0_{pol.lower()}"].values[date] * a2
    return s, n, a2


def test_sigma0_is_the_truth_within_speckle_statistics(stage):
    """Noise-removed sigma0 (negative powers clipped to 0): for single-look intensity
    I ~ Exp(S + N) the estimate max(I - N, 0) / A^2 has mean (S + N) exp(-N / (S + N)) /
    A^2, S = sigma0 A^2. Secondary dates went through the windowed-sinc resampler twice:
    in the simulator (16 taps, the signal only: the thermal noise is added on the
    product grid) and in the coregistration (8 taps, signal and noise). The kernels are
    normalised for the processed band (signal gain 1 within 0.2 %), but white thermal
    noise loses power at fractional shifts (8 taps: -9 % at 0.34 line): modelled here
    from ``resample.kernel_table``, so it follows any change of the kernel."""
    sig, truth = stage["sig"], stage["truth"]
    bands = stage["calibration"].bands
    sim_taps = int(truth.attrs["interpolation_taps"])
    stack = xr.open_zarr(stage["stack_url"], consolidated=False)
    base = _inner() & _far_from_targets(stage["targets"], stage["k"])
    checked = 0
    for pol in ("VV", "VH"):
        for d in range(3):
            s, n, a2 = _snr_and_luts(stage, pol, d)
            if d:  # resampled twice: by the simulator (signal only) and by the coregistration
                az, rg = stack.azimuth_offset.values[d], stack.range_offset.values[d]
                gain = 1.0
                for taps in (sim_taps, TAPS):
                    gain = gain * _power_gain(az, bands["az_fraction"], bands["az_coeff"], taps)[0] \
                        * _power_gain(rg, bands["rg_fraction"], bands["rg_coeff"], taps)[0]
                noise_gain = _power_gain(az, bands["az_fraction"], bands["az_coeff"])[1] \
                    * _power_gain(rg, bands["rg_fraction"], bands["rg_coeff"])[1]
                s, n_in = s * gain, n * noise_gain
            else:
                n_in = n
            mu = s + n_in
            expected = mu * np.exp(-n / mu) / a2
            measured = sig[f"sigma0_{pol.lower()}"].values[d]
            cls = truth.class_code.values
            for c in np.unique(cls[0][base]):
                inside = uniform_filter(((cls[0] == c) & (cls[d] == c)).astype(np.float32), 9) > 0.999
                m = base & inside
                if m.sum() < 20_000:
                    continue
                # speckle: relative std 1 per independent sample, ~1.7 pixels per sample
                tol = 4.0 / np.sqrt(m.sum() / 1.7)
                assert np.nanmean(measured[m]) / expected[m].mean() == pytest.approx(1.0, abs=tol), (pol, d, c)
                checked += 1
            db = sig[f"sigma0_{pol.lower()}_db"].values[d]
            ok = measured > 0
            np.testing.assert_allclose(db[ok], 10 * np.log10(measured[ok]), rtol=1e-5, atol=1e-5)
    assert checked >= 12
    # outside the burst's valid area: NaN
    assert np.isnan(sig.sigma0_vv.values[:, :, :529]).all() and np.isnan(sig.sigma0_vv.values[:, :19]).all()


def test_dual_pol_covariance_is_the_truth_plus_noise(stage):
    """C11 / C22 are window means of |DN / A|^2 without noise removal: sigma0 + N / A^2
    (reference date, no resampling)."""
    sig, truth = stage["sig"], stage["truth"]
    base = _inner() & _far_from_targets(stage["targets"], stage["k"])
    for pol, var in (("VV", "c11"), ("VH", "c22")):
        s, n, a2 = _snr_and_luts(stage, pol, 0)
        expected = (s + n) / a2
        for c in (10, 50):  # tree cover, built-up
            m = base & (uniform_filter((truth.class_code.values[0] == c).astype(np.float32), 25) > 0.999)
            assert m.sum() > 20_000
            assert np.nanmean(sig[var].values[0][m]) / expected[m].mean() == pytest.approx(1.0, abs=0.03), (pol, c)
    valid = np.isfinite(sig.entropy_dual.values)
    assert valid.mean() > 0.4
    assert np.nanmin(sig.entropy_dual.values) >= 0 and np.nanmax(sig.entropy_dual.values) <= 1
    assert np.nanmin(sig.alpha_dual.values) >= 0 and np.nanmax(sig.alpha_dual.values) <= 90
    assert np.nanmin(sig.dprvi.values) >= 0 and np.nanmax(sig.dprvi.values) <= 1
    np.testing.assert_allclose(sig.rvi_dual.values, 4 * sig.c22.values / (sig.c11.values + sig.c22.values),
                               rtol=1e-5)


def test_coherence_is_the_touzi_expectation_of_the_true_coherence(stage):
    """Moving 5 x 20 window: E|gamma_hat| = Touzi(|gamma| f_noise, N_eff), f_noise =
    1 / sqrt((1 + 1/snr_a)(1 + 1/snr_b)) (the truth excludes thermal noise), N_eff the
    effective looks of the window over the band-limited pixels. Low-SNR classes
    (water) are left out: white noise has more independent looks than the signal."""
    sig, truth = stage["sig"], stage["truth"]
    looks = stage["calibration"].effective_looks((5, 20))
    assert 35 < looks < 55  # 100 pixels of an oversampled SLC
    assert sig.coherence_vv.attrs["effective_looks"] == pytest.approx(looks, abs=0.01)
    pairs_truth = list(zip(truth.pair_first.values.tolist(), truth.pair_second.values.tolist()))
    pairs = list(zip(sig.pair_first.values.tolist(), sig.pair_second.values.tolist()))
    assert pairs == [(0, 1), (0, 2), (1, 2)]  # the reference with each date, then consecutive dates
    base = _inner() & _far_from_targets(stage["targets"], stage["k"])
    checked, bias = 0, 0.0
    table_gamma = np.linspace(0.0, 1.0, 2001)
    table_touzi = co.expected_coherence_magnitude(table_gamma, looks)
    for ip, (a, b) in enumerate(pairs):
        snr_a = np.divide(*_snr_and_luts(stage, "VV", a)[:2])
        snr_b = np.divide(*_snr_and_luts(stage, "VV", b)[:2])
        gamma = truth.coherence.values[pairs_truth.index((a, b))] / np.sqrt((1 + 1 / snr_a) * (1 + 1 / snr_b))
        est = sig.coherence_vv.values[ip]
        for c in np.unique(truth.class_code.values[0][base]):
            same = ((truth.class_code.values[a] == c) & (truth.class_code.values[b] == c)).astype(np.float32)
            m = base & (uniform_filter(same, (9, 28)) > 0.999) & (np.minimum(snr_a, snr_b) > 5)
            if m.sum() < 20_000:
                continue
            expect = np.interp(gamma[m], table_gamma, table_touzi).mean()
            # resampling (8 taps) costs < 1 % of coherence; the mean of ~2,000 windows
            assert np.nanmean(est[m]) == pytest.approx(expect, abs=0.015), (a, b, c)
            checked += 1
            bias = max(bias, expect - gamma[m].mean())
    # low coherence (trees over 24 days): the bias is several times the tolerance
    assert checked >= 6 and bias > 0.05


def test_interferometric_phase_is_minus_the_truth_phase_change(stage):
    """phi_ab = arg(s_a s_b* exp(-j (removed_b - removed_a))) = -(phi_b - phi_a) with the
    truth's phi = deformation_phase + atmosphere_phase (= -4 pi / lambda x one-way
    excess path): the opposite sign gives an incoherent residual."""
    sig, truth = stage["sig"], stage["truth"]
    phi = truth.deformation_phase.values + truth.atmosphere_phase.values
    base = _inner() & _far_from_targets(stage["targets"], stage["k"])
    pairs_truth = list(zip(truth.pair_first.values.tolist(), truth.pair_second.values.tolist()))
    for ip, (a, b) in enumerate(zip(sig.pair_first.values.tolist(), sig.pair_second.values.tolist())):
        dphi = phi[b] - phi[a]
        good = base & (truth.coherence.values[pairs_truth.index((a, b))] > 0.5)
        assert good.sum() > 50_000 and dphi[good].std() > 1.0  # a phase signal worth checking
        for var in ("interferometric_phase_vv", "coherence_phase_vv"):
            ph = sig[var].values[ip]
            right = np.nanmean(np.exp(1j * (ph + dphi))[good])
            wrong = np.nanmean(np.exp(1j * (ph - dphi))[good])
            assert abs(np.angle(right)) < 0.02 and abs(right) > 0.7 and abs(wrong) < 0.3, (var, a, b)


def test_tiles_equal_the_whole_burst_and_the_reference_filters(stage):
    """One 1501 x 1024 tile against 512 x 512 tiles with the halo: bit for bit; the
    streamed Quegan & Yu filter equals ``speckle.quegan_yu`` on the whole stack, the
    soil-moisture index ``soil_moisture.relative_soil_moisture`` on the local means."""
    whole = str(stage["root"] / "signatures" / "whole.zarr")
    tiles.create_signature_store(whole, stage["stack_url"], (L, M), calibration=stage["calibration"])
    assert tiles.tile_grid(whole) == [(slice(0, L), slice(0, M))]
    tiles.compute_tile(stage["stack_url"], whole, (slice(0, L), slice(0, M)), calibration=stage["calibration"])
    a, b = stage["sig"], xr.open_zarr(whole, consolidated=False).load()
    assert len(stage["grid"]) == 6 and set(a.data_vars) == set(b.data_vars)
    for v in a.drop_vars("tile_complete").data_vars:
        assert np.array_equal(a[v].values, b[v].values, equal_nan=True), v
    window = tiles.SignatureConfig().speckle_window
    for p in ("vv", "vh"):
        ref = speckle.quegan_yu(a[f"sigma0_{p}"].values, window)
        np.testing.assert_allclose(a[f"sigma0_{p}_quegan_yu"].values, ref, rtol=1e-6, equal_nan=True)
    means = box_mean(a.sigma0_vv.values, window)
    ms, dry, wet = sm.relative_soil_moisture(to_db(means), return_references=True)
    # the stage's local means are float32 window sums (fused kernel; a few 1e-7 relative,
    # ~1e-6 dB): the index differs by that over its (wet - dry) range, often < 0.01 dB
    # with three dates, so compare in dB
    assert np.array_equal(np.isnan(a.soil_moisture_index.values), np.isnan(ms))
    both = ~np.isnan(ms)
    assert both.mean() > 0.3  # the valid area of the 1024-sample crop
    np.testing.assert_allclose(((a.soil_moisture_index.values - ms) * (wet - dry))[both], 0, atol=1e-5)
    np.testing.assert_allclose(a.sigma0_dry.values, dry, atol=1e-5, equal_nan=True)
    assert np.nanmin(a.soil_moisture_index.values) >= 0 and np.nanmax(a.soil_moisture_index.values) <= 1
    np.testing.assert_allclose(a.cross_pol_ratio_db.values, to_db(box_mean(a.sigma0_vh.values, window))
                               - to_db(means), atol=1e-4, equal_nan=True)


def test_store_layout_and_every_variable_is_described(stage):
    sig = xr.open_zarr(stage["sig_url"], consolidated=False)
    assert sig.sizes == {"time": 3, "pair": 3, "azimuth": L, "range": M, "tile_row": 3, "tile_col": 2}
    assert sig.tile_complete.shape == (3, 2) and sig.tile_complete.values.all()  # 512 x 512 tiles, all written
    for name, v in sig.drop_vars("tile_complete").data_vars.items():
        for key in ("units", "long_name", "formula", "reference"):
            assert v.attrs.get(key), (name, key)
        assert v.encoding["chunks"] == ((1,) if v.ndim == 3 else ()) + TILE, name
    expected = set(tiles.SIGNATURE_VARIABLES_PER_DATE) | {
        f"{k}_{p}" for k in ("interferometric_phase", "coherence", "coherence_phase") for p in ("vv", "vh")} | {
        "sigma0_dry", "sigma0_wet", "tile_complete", *tiles.METADATA}
    assert set(sig.data_vars) == expected
    assert "bias" in sig.coherence_vv.attrs["bias_note"] and sig.coherence_vv.attrs["window"] == [5, 20]
    np.testing.assert_array_equal(sig.incidence_angle.values,
                                  xr.open_zarr(stage["stack_url"], consolidated=False).incidence_angle.values)
    with pytest.raises(ValueError, match="whole run of chunks"):
        tiles.compute_tile(stage["stack_url"], stage["sig_url"], (slice(0, 300), slice(0, 512)),
                           calibration=stage["calibration"])


def test_prefect_stage_writes_the_same_store_and_keeps_it_on_a_rerun(stage, tmp_path):
    from prefect import flow, get_run_logger

    from alignsar_core.settings import Settings
    from tasks.signature_tasks import run_signature_stage

    settings = Settings(storage_root=str(tmp_path / "out"), tile_size=TILE)

    @flow(name="signature-stage-test")
    def stage_flow(urls):
        return run_signature_stage(urls, settings, get_run_logger())

    urls, failures = stage_flow([stage["stack_url"], str(tmp_path / "missing.zarr")])
    assert list(failures) == [str(tmp_path / "missing.zarr")] and "not complete" in failures[str(tmp_path / "missing.zarr")]
    assert len(urls) == 1 and urls[0].endswith(f"signatures/{stage['sig'].attrs['stack_id']}.zarr")
    assert store.is_complete(urls[0])
    out = xr.open_zarr(urls[0], consolidated=False)
    for v in ("sigma0_vh", "coherence_vv", "sigma0_vv_quegan_yu", "soil_moisture_index", "latitude"):
        assert np.array_equal(out[v].values, stage["sig"][v].values, equal_nan=True), v
    # a second run keeps the complete, up-to-date store
    mtime = Path(urls[0], "zarr.json").stat().st_mtime_ns
    again, failures2 = stage_flow([stage["stack_url"]])
    assert again == urls and not failures2 and Path(urls[0], "zarr.json").stat().st_mtime_ns == mtime

    # an interrupted run (store incomplete, tile (1, 1) not flagged and half written) resumes:
    # only that tile is computed again, the finished tiles' chunks are not rewritten
    g = store.open_group(urls[0])
    g.attrs[store.COMPLETE_ATTR] = False
    g["tile_complete"][1, 1] = 0
    g["sigma0_vh"][0, 512:1024, 512:1024] = 0.0
    chunk_done = Path(urls[0], "sigma0_vh", "c", "0", "0", "1")  # tile (0, 1), date 0
    done_mtime = chunk_done.stat().st_mtime_ns
    resumed, failures3 = stage_flow([stage["stack_url"]])
    assert resumed == urls and not failures3 and store.is_complete(urls[0])
    out = xr.open_zarr(urls[0], consolidated=False)
    assert np.array_equal(out.sigma0_vh.values, stage["sig"].sigma0_vh.values, equal_nan=True)
    assert out.tile_complete.values.all() and chunk_done.stat().st_mtime_ns == done_mtime

    # other estimator settings: the store is rebuilt with them (windows from Settings)
    settings.coherence_window = (3, 12)
    stage_flow([stage["stack_url"]])
    out = xr.open_zarr(urls[0], consolidated=False)
    assert out.coherence_vv.attrs["window"] == [3, 12] and out.sigma0_vv.attrs["long_name"]
    assert json.loads(out.attrs["signature_config"])["coherence_window"] == [3, 12]
    assert not np.array_equal(out.coherence_vv.values, stage["sig"].coherence_vv.values, equal_nan=True)


def test_each_date_has_its_own_valid_area(stage):
    """The stack's per-date ``valid`` mask: the reference's own valid window; a secondary
    date's window as its samples land on the reference grid, less the resampling
    kernel's reach (zero fill enters the interpolation there: lower intensity). The
    signatures of a date are NaN outside it (single-look outputs at the pixel, windowed
    ones wherever the window reaches it), pairs outside either date's area."""
    stack = xr.open_zarr(stage["stack_url"], consolidated=False)
    b = json.loads(stack.attrs["burst"])
    v = stack.valid.values.astype(bool)
    rows = (np.arange(L) >= b["valid_first_line"]) & (np.arange(L) <= b["valid_last_line"])
    cols = (np.arange(M) >= b["valid_first_sample"]) & (np.arange(M) <= b["valid_last_sample"])
    ref_area = rows[:, None] & cols[None, :]
    assert np.array_equal(v[0], ref_area)
    sig = stage["sig"]
    inner_cols = slice(600, M - 40)
    for t in (1, 2):
        lost = ref_area & ~v[t]  # reference pixels without data on date t
        lost_rows = np.flatnonzero(lost[:, inner_cols].all(axis=1))
        # along-track timing differences of < 1 line + the 8-tap kernel's reach: 2..6 rows per edge
        top, bottom = lost_rows[lost_rows < L // 2], lost_rows[lost_rows > L // 2]
        assert 2 <= top.size <= 6 and 2 <= bottom.size <= 6, (t, lost_rows)
        slc = np.abs(stack.slc_vv.values[t]) ** 2
        kept_mean = slc[v[t]][:, None].mean()
        edge = slc[top.min():top.max() + 1, inner_cols].mean()
        assert edge < 0.9 * kept_mean  # partly zero fill: what the mask keeps out
        assert np.isnan(sig.sigma0_vv.values[t][lost]).all()
        assert np.isfinite(sig.sigma0_vv.values[t][v[t] & ref_area]).all()
        # windowed outputs: NaN within the window's reach of the lost rows
        c11 = sig.c11.values[t][:, inner_cols]
        assert np.isnan(c11[top.max() + 1:top.max() + 3]).all() and np.isfinite(c11[top.max() + 3:L // 2]).all()
    for ip, (a, bb) in enumerate(zip(sig.pair_first.values, sig.pair_second.values)):
        both = v[a] & v[bb]
        assert np.array_equal(np.isfinite(sig.interferometric_phase_vv.values[ip]), both & ref_area)
        assert np.isnan(sig.coherence_vv.values[ip][~both]).all()


def test_adaptive_coherence_in_the_stage(stage):
    """With ``adaptive_window``: coherence_adaptive_{p} per pair and shp_count_{p} per
    pixel, described; tiles equal the whole burst bit for bit; the values are
    ``coherence.adaptive_coherence`` of the stack's two dates (DNs, removed-phase
    difference) with the time-mean amplitude of the valid dates, NaN where the window
    reaches either date's invalid area."""
    config = tiles.SignatureConfig(adaptive_window=(7, 21), pair_pols=("VV",))
    assert config.halo == (3, 10)
    urls = {}
    for name, tile in (("adaptive-tiled", TILE), ("adaptive-whole", (L, M))):
        urls[name] = str(stage["root"] / "signatures" / f"{name}.zarr")
        tiles.create_signature_store(urls[name], stage["stack_url"], tile, config=config,
                                     calibration=stage["calibration"])
        for t in tiles.tile_grid(urls[name]):
            tiles.compute_tile(stage["stack_url"], urls[name], t, calibration=stage["calibration"])
    a = xr.open_zarr(urls["adaptive-tiled"], consolidated=False).load()
    b = xr.open_zarr(urls["adaptive-whole"], consolidated=False).load()
    for v in ("coherence_adaptive_vv", "shp_count_vv", "coherence_vv"):
        assert np.array_equal(a[v].values, b[v].values, equal_nan=True), v
        for key in ("units", "long_name", "formula", "reference"):
            assert a[v].attrs.get(key), (v, key)
    assert "coherence_adaptive_vh" not in a and a.coherence_adaptive_vv.attrs["window"] == [7, 21]
    assert "Jiang" in a.coherence_adaptive_vv.attrs["reference"]
    stack = xr.open_zarr(stage["stack_url"], consolidated=False)
    valid = stack.valid.values.astype(bool)
    slc = stack.slc_vv.values
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore"):
        amp = np.where(n_valid > 0, np.where(valid, np.abs(slc).astype(np.float64), 0).sum(axis=0) / n_valid, np.nan)
    cnt = a.shp_count_vv.values
    inner = _inner()
    assert cnt[inner].min() >= 1 and cnt[inner].max() <= 147
    np.testing.assert_array_equal(cnt[inner], co.shp_count(amp.astype(np.float32), (7, 21), n_valid)[inner])
    removed = stack.removed_phase.values
    for ip, (t0, t1) in enumerate(zip(a.pair_first.values, a.pair_second.values)):
        expect = co.adaptive_coherence(slc[t0], slc[t1], amp.astype(np.float32), (7, 21), n_valid,
                                       removed_phase=removed[t1] - removed[t0])
        got = a.coherence_adaptive_vv.values[ip]
        ok = np.isfinite(got)
        window_valid = box_mean((valid[t0] & valid[t1]).astype(np.float32), (7, 21)) == 1.0
        assert not ok[~window_valid].any()
        assert np.array_equal(ok[window_valid & inner], np.isfinite(expect[window_valid & inner]))
        assert ok[window_valid & inner].mean() > 0.999
        # the stage forms cos / sin of the phase in float32: ~1e-6 of the sums
        np.testing.assert_allclose(got[ok], expect[ok], atol=2e-5)
        # more looks than the 5 x 20 boxcar and the same scene: a lower (less biased) mean
        assert np.nanmean(got[inner]) < np.nanmean(a.coherence_vv.values[ip][inner])


def test_slc_signatures_are_the_coregistered_dns(stage):
    """amplitude, intensity and SLC phase of each date: |DN|, |DN|^2 and arg(DN) of the
    stack's coregistered SLC on the date's valid area, NaN outside it (the fused kernel's
    intensity and amplitude bit for bit those of ``single_pol``)."""
    sig = stage["sig"]
    stack = xr.open_zarr(stage["stack_url"], consolidated=False)
    b = json.loads(stack.attrs["burst"])
    rows = (np.arange(L) >= b["valid_first_line"]) & (np.arange(L) <= b["valid_last_line"])
    cols = (np.arange(M) >= b["valid_first_sample"]) & (np.arange(M) <= b["valid_last_sample"])
    for t in range(3):
        ok = stack.valid.values[t].astype(bool) & rows[:, None] & cols[None, :]
        for p in ("vv", "vh"):
            dn = stack[f"slc_{p}"].values[t]
            amp, inten, ph = (sig[f"{k}_{p}"].values[t] for k in ("amplitude", "intensity", "slc_phase"))
            assert np.array_equal(np.isfinite(amp), ok) and np.array_equal(np.isfinite(ph), ok)
            np.testing.assert_array_equal(amp[ok], sp.amplitude(dn[ok]))
            np.testing.assert_array_equal(inten[ok], sp.intensity(dn[ok]))
            np.testing.assert_allclose(np.angle(np.exp(1j * (ph[ok] - np.angle(dn[ok])))), 0, atol=1e-6)
            assert ph[ok].max() <= np.float32(np.pi) and ph[ok].min() > -np.float32(np.pi)
            assert sig[f"amplitude_{p}"].attrs["formula"] == "|DN|" and sig[f"slc_phase_{p}"].attrs["units"] == "rad"


def test_a_store_of_older_settings_is_not_kept(stage, tmp_path):
    """A signature store whose stored settings lack a newer setting (written by an
    older version, without that setting's variables) is not taken as up to date."""
    from alignsar_core.settings import Settings
    from tasks.signature_tasks import _same_inputs, signature_config

    settings = Settings(storage_root=str(tmp_path / "out"), tile_size=TILE)
    config = signature_config(settings)
    url = str(tmp_path / "sig.zarr")
    tiles.create_signature_store(url, stage["stack_url"], TILE, config=config, calibration=stage["calibration"])
    stack_attrs = dict(store.open_group(stage["stack_url"], mode="r").attrs)
    assert _same_inputs(url, stack_attrs, config, settings)
    g = store.open_group(url)
    old = json.loads(g.attrs["signature_config"])
    del old["slc_signatures"]  # as a store written before the SLC signatures existed
    g.attrs["signature_config"] = json.dumps(old)
    assert tiles.SignatureConfig.from_dict(old) == config  # the defaults alone would call it the same
    assert not _same_inputs(url, stack_attrs, config, settings)
