"""The signature stage's fused kernels against the one-function-at-a-time reference
implementations (``single_pol``, ``polarimetric``, ``coherence``, ``window.box_mean``)."""

import numpy as np
import pytest

from alignsar_core.calibration import CalibrationLut, NoiseLut
from alignsar_core.signatures import coherence as co
from alignsar_core.signatures import fused
from alignsar_core.signatures import polarimetric as pol
from alignsar_core.signatures import single_pol as sp
from alignsar_core.signatures.window import apply_in_tiles, box_mean, halo_for

N, M = 300, 700
LINES = np.arange(N) + 1501
PIXELS = np.arange(M) + 40
WINDOW = (5, 20)


def _lut(name, scale):
    """A LUT on an ESA-like grid, as smooth as S1's (the IW1 sigma0 LUT of ../shared goes
    from 306 to 333 across 21,632 samples: 1 / A^2 changes by < 1e-5 per sample)."""
    lines = np.arange(1000, 3400, 120)
    pixels = np.arange(0, 800, 40)
    values = scale * (300.0 + 0.0015 * pixels + 0.5 * np.sin(pixels / 400.0)[None, :] + 0.001 * (lines[:, None] - 1500))
    return CalibrationLut(name, lines, pixels, values)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)

    def cg(scale):
        return (scale * (rng.standard_normal((N, M)) + 1j * rng.standard_normal((N, M)))).astype(np.complex64)

    vv = cg(100.0)
    vh = (0.3 * vv + cg(30.0)).astype(np.complex64)
    prev = (0.7 * vv + cg(70.0)).astype(np.complex64)
    vv[100:130, 200:260] = 0  # no-data patch: zero power, noise-dominated
    prev[100:130, 200:260] = 0
    vh[100:130, 200:260] = 0
    noise = {p: NoiseLut(_lut("noise", s), np.array([1000, 3400]), np.array([1.0, 1.2])) for p, s in
             (("VV", 8.0), ("VH", 6.0))}
    luts = {"VV": _lut("sigma0", 1.0), "VH": _lut("sigma0", 1.05)}
    removed = (np.linspace(0, 40, M, dtype=np.float32)[None, :] + np.zeros((N, 1), np.float32))
    valid_rows = np.ones(N, bool)
    valid_rows[:7] = False
    return dict(vv=vv, vh=vh, prev=prev, luts=luts, noise=noise, removed=removed, valid_rows=valid_rows,
                valid_samples=(12, M - 30))


def _cal(d, p, noise=True):
    return fused.TileCalibration(d["luts"][p], LINES, PIXELS, d["noise"][p] if noise else None)


def test_dual_date_equals_the_reference_functions(data):
    d = data
    va = dict(valid_rows=d["valid_rows"], valid_samples=d["valid_samples"])
    out = fused.dual_date(d["vv"], d["vh"], _cal(d, "VV"), _cal(d, "VH"), WINDOW, WINDOW, **va)
    for p, role in (("VV", "co"), ("VH", "cross")):
        ref = sp.calibrated_intensity(d[p.lower()], d["luts"][p], LINES, PIXELS, noise=d["noise"][p], **va)
        assert np.array_equal(out[f"sigma0_{role}"], ref, equal_nan=True)  # the same arithmetic, bit for bit
        assert np.array_equal(out[f"sigma0_{role}_db"], sp.to_db(ref), equal_nan=True)
        mean = box_mean(ref, WINDOW)  # float64 sums
        assert np.array_equal(np.isnan(out[f"local_mean_{role}"]), np.isnan(mean))
        np.testing.assert_allclose(out[f"local_mean_{role}"], mean, rtol=2e-6, equal_nan=True)
    z1 = sp.calibrated_complex(d["vv"], d["luts"]["VV"], LINES, PIXELS)
    z2 = sp.calibrated_complex(d["vh"], d["luts"]["VH"], LINES, PIXELS)
    c11, c22, c12 = pol.c2(z1, z2, WINDOW)
    scale = float(np.mean(c11))
    for k, ref in (("c11", c11), ("c22", c22), ("c12_real", c12.real), ("c12_imag", c12.imag)):
        np.testing.assert_allclose(out[k], ref, rtol=0, atol=2e-6 * scale, err_msg=k)
    dec = pol.dual_pol_decomposition(c11, c22, c12)
    ok = c11 > 0.05 * scale  # away from the no-data patch (0/0)
    for k, tol in (("entropy_dual", 1e-5), ("alpha_dual", 1e-3), ("degree_of_polarisation", 1e-5), ("dprvi", 1e-5)):
        np.testing.assert_allclose(out[k][ok], dec[k][ok], atol=tol, err_msg=k)
    np.testing.assert_allclose(out["rvi_dual"][ok], pol.rvi_dual(c11, c22)[ok], rtol=1e-5)
    m_co, m_x = out["local_mean_co"], out["local_mean_cross"]
    np.testing.assert_array_equal(out["sigma0_sum"], m_co + m_x)
    np.testing.assert_array_equal(out["sigma0_difference"], m_co - m_x)
    np.testing.assert_allclose(out["cross_pol_ratio_db"], pol.intensity_ratio(m_x, m_co, db=True), atol=1e-5,
                               equal_nan=True)
    # the no-data patch: zero power gives NaN (no division error), not numbers
    assert np.isnan(out["entropy_dual"][110:120, 215:245]).all()
    assert np.isnan(out["cross_pol_ratio_db"][110:120, 215:245]).all()


def test_single_date_power_is_the_dual_c11(data):
    d = data
    dual = fused.dual_date(d["vv"], d["vh"], _cal(d, "VV"), _cal(d, "VH"), WINDOW, WINDOW)
    single = fused.single_date(d["vv"], _cal(d, "VV"), WINDOW)
    assert np.array_equal(single["power"], dual["c11"], equal_nan=True)
    assert np.array_equal(single["local_mean"], dual["local_mean_co"], equal_nan=True)
    assert np.array_equal(fused.power(d["vh"], _cal(d, "VH", noise=False), WINDOW), dual["c22"], equal_nan=True)


def test_pair_equals_the_coherence_of_the_dn(data):
    """Coherence of z = DN / A equals that of the DNs to ~1e-5 (the LUT is the same for
    both dates and smooth); the single-look interferometric phase is the same."""
    d = data
    cal = _cal(d, "VV", noise=False)
    pa, pb = fused.power(d["prev"], cal, WINDOW), fused.power(d["vv"], cal, WINDOW)
    out = fused.pair(d["prev"], d["vv"], cal, WINDOW, pa, pb, d["removed"])
    again = fused.pair(d["prev"], d["vv"], cal, WINDOW, pa, pb, fused.phase_factors(d["removed"]))
    for k in out:
        assert np.array_equal(out[k], again[k], equal_nan=True), k
    coh, ph = co.coherence(d["prev"], d["vv"], WINDOW, d["removed"], return_phase=True)
    ok = np.isfinite(coh)
    assert np.array_equal(ok, np.isfinite(out["coherence"]))
    np.testing.assert_allclose(out["coherence"][ok], coh[ok], atol=3e-5)
    assert out["coherence"][ok].max() <= 1.0 and 0.5 < np.median(out["coherence"][ok]) < 0.95
    dphi = np.angle(np.exp(1j * (out["coherence_phase"] - ph)))[ok]
    assert np.abs(dphi).max() < 1e-3
    ifg = sp.interferometric_phase(d["prev"], d["vv"], d["removed"])
    live = np.abs(d["vv"] * d["prev"]) > 1.0
    np.testing.assert_allclose(out["interferometric_phase"][live], ifg[live], atol=2e-6)
    assert out["interferometric_phase"].max() <= np.float32(np.pi)
    assert out["interferometric_phase"].min() > -np.float32(np.pi)


def test_fused_tiles_equal_the_whole_array(data):
    """The halo contract of the fused kernels: tile by tile == at once, bit for bit."""
    d = data
    halo, tile = halo_for(WINDOW), (128, 256)
    cal = (_cal(d, "VV"), _cal(d, "VH"))
    whole = fused.dual_date(d["vv"], d["vh"], *cal, WINDOW, WINDOW)
    names = sorted(whole)

    def per_tile(vv, vh, rows, cols):
        r, c = rows[:, 0].astype(int), cols[0].astype(int)
        tc = [fused.TileCalibration(d["luts"][p], LINES[r], PIXELS[c], d["noise"][p]) for p in ("VV", "VH")]
        o = fused.dual_date(vv, vh, *tc, WINDOW, WINDOW)
        return tuple(o[k] for k in names)

    rows, cols = np.meshgrid(np.arange(N), np.arange(M), indexing="ij")
    tiled = apply_in_tiles(per_tile, [d["vv"], d["vh"], rows.astype(np.float64), cols.astype(np.float64)], halo, tile)
    for k, t in zip(names, tiled):
        assert np.array_equal(t, whole[k], equal_nan=True), k


def test_fused_intensity_amplitude_and_phase_are_single_pol_bit_for_bit(data):
    """With ``slc``: |DN|^2, |DN| and arg(DN) of each channel from the same pass, equal to
    ``single_pol.intensity`` / ``amplitude`` / ``slc_phase`` inside the valid area, NaN
    outside; the other outputs unchanged."""
    d = data
    va = dict(valid_rows=d["valid_rows"], valid_samples=d["valid_samples"])
    plain = fused.dual_date(d["vv"], d["vh"], _cal(d, "VV"), _cal(d, "VH"), WINDOW, WINDOW, **va)
    out = fused.dual_date(d["vv"], d["vh"], _cal(d, "VV"), _cal(d, "VH"), WINDOW, WINDOW, **va, slc=True)
    assert "intensity_co" not in plain and set(out) == set(plain) | {
        "intensity_co", "intensity_cross", "amplitude_co", "amplitude_cross", "slc_phase_co", "slc_phase_cross"}
    for k in plain:
        assert np.array_equal(out[k], plain[k], equal_nan=True), k
    valid = d["valid_rows"][:, None] & (np.arange(M) >= 12)[None, :] & (np.arange(M) <= M - 30)[None, :]
    for p, role in (("vv", "co"), ("vh", "cross")):
        for k, f in (("intensity", sp.intensity), ("amplitude", sp.amplitude), ("slc_phase", sp.slc_phase)):
            got = out[f"{k}_{role}"]
            assert np.array_equal(got[valid], f(d[p])[valid]) and np.isnan(got[~valid]).all(), (k, role)
    np.testing.assert_allclose(sp.amplitude(d["vv"]), np.abs(d["vv"]), rtol=2.5e-7)  # within 2 ulp of hypot
    single = fused.single_date(d["vv"], _cal(d, "VV"), WINDOW, **va, slc=True)
    assert np.array_equal(single["intensity"], out["intensity_co"], equal_nan=True)
    assert np.array_equal(single["amplitude"], out["amplitude_co"], equal_nan=True)
    assert np.array_equal(single["slc_phase"], out["slc_phase_co"], equal_nan=True)


def test_region_written_into_destination_arrays_equals_the_whole_tile(data):
    """Outputs of a region only (the tile without its halo), written at an origin of
    larger destination arrays (as burst-sized arrays or padded chunk buffers), equal the
    whole tile's outputs there bit for bit; nothing outside the region is touched."""
    d = data
    va = dict(valid_rows=d["valid_rows"], valid_samples=d["valid_samples"])
    cal = (_cal(d, "VV"), _cal(d, "VH"))
    region, origin = (3, 291, 10, 613), (5, 17)  # units of the region start off the tile's unit grid
    crop = (slice(region[0], region[1]), slice(region[2], region[3]))
    at = (slice(origin[0], origin[0] + region[1] - region[0]), slice(origin[1], origin[1] + region[3] - region[2]))
    shape = (origin[0] + region[1] - region[0] + 4, origin[1] + region[3] - region[2] + 9)

    def dest(names):
        return {k: np.full(shape, -7.0, np.float32) for k in names}

    whole = fused.dual_date(d["vv"], d["vh"], *cal, WINDOW, WINDOW, **va, slc=True)
    out = dest(whole)
    got = fused.dual_date(d["vv"], d["vh"], *cal, WINDOW, WINDOW, **va, slc=True, region=region, out=out,
                          origin=origin)
    assert set(got) == set(whole) and all(got[k] is out[k] for k in whole)
    for k, v in whole.items():
        assert np.array_equal(out[k][at], v[crop], equal_nan=True), k
        outside = np.ones(shape, bool)
        outside[at] = False
        assert np.all(out[k][outside] == -7.0), k
    plain = fused.dual_date(d["vv"], d["vh"], *cal, WINDOW, WINDOW, **va, region=region)  # new arrays
    assert all(np.array_equal(v, whole[k][crop], equal_nan=True) for k, v in plain.items())
    single = fused.single_date(d["vh"], cal[1], WINDOW, **va, region=region)
    ref = fused.single_date(d["vh"], cal[1], WINDOW, **va)
    assert all(np.array_equal(v, ref[k][crop], equal_nan=True) for k, v in single.items())

    pc = _cal(d, "VV", noise=False)
    pa, pb = fused.power(d["prev"], pc, WINDOW), fused.power(d["vv"], pc, WINDOW)
    ref = fused.pair(d["prev"], d["vv"], pc, WINDOW, pa, pb, d["removed"])
    placed = {}
    for k, p in (("a", pa), ("b", pb)):  # the powers laid out as the outputs
        placed[k] = np.full(shape, np.nan, np.float32)
        placed[k][at] = p[crop]
    out = dest(ref)
    fused.pair(d["prev"], d["vv"], pc, WINDOW, placed["a"], placed["b"], d["removed"], region=region, out=out,
               origin=origin)
    for k, v in ref.items():
        assert np.array_equal(out[k][at], v[crop], equal_nan=True), k
    with pytest.raises(ValueError, match="holding the"):
        fused.pair(d["prev"], d["vv"], pc, WINDOW, pa, pb, d["removed"], region=region, out=dest(ref),
                   origin=(shape[0], 0))
    with pytest.raises(KeyError, match="no destination"):
        fused.dual_date(d["vv"], d["vh"], *cal, WINDOW, WINDOW, region=region, out={"c11": out["coherence"]})
    with pytest.raises(ValueError, match="region"):
        fused.single_date(d["vh"], cal[1], WINDOW, region=(0, N + 1, 0, M))


@pytest.mark.parametrize("case", ["fused", "separate_windows", "beta_gamma"])
def test_stage_body_of_a_region_into_destination_arrays(data, case):
    """``tiles.date_signatures`` / ``pair_signatures`` over the tile without its halo,
    written at an origin of destination arrays (the fused pass in place; the per-channel
    path, C2 and beta0 / gamma0 placed there), equal the whole tile's outputs; the powers
    come laid out as the outputs and give the same pair."""
    from alignsar_core.signatures import tiles as st

    d = data
    luts = {p: (lut, _lut("beta0", 0.8), _lut("gamma0", 0.9)) for p, lut in d["luts"].items()}
    cal = st.CalibrationInputs(source="test", luts=luts, noise=d["noise"])
    config = st.SignatureConfig(polarimetric_window=(3, 12) if case == "separate_windows" else WINDOW,
                                beta_gamma=case == "beta_gamma")
    va = dict(valid_rows=d["valid_rows"], valid_samples=d["valid_samples"])
    slc = {"VV": d["vv"], "VH": d["vh"]}
    pw_whole = {}
    whole = st.date_signatures(slc, LINES, PIXELS, cal, config, **va, powers=pw_whole)
    region, origin = (2, 296, 10, 690), (4, 6)
    crop = (slice(region[0], region[1]), slice(region[2], region[3]))
    at = (slice(origin[0], origin[0] + region[1] - region[0]), slice(origin[1], origin[1] + region[3] - region[2]))
    shape = (region[1] - region[0] + 9, region[3] - region[2] + 8)
    out = {k: np.full(shape, -1.0, np.float32) for k in whole}
    pw = {}
    got = st.date_signatures(slc, LINES, PIXELS, cal, config, **va, powers=pw, region=region, out=out,
                             origin=origin)
    assert set(got) == set(whole)
    for k, v in whole.items():
        assert got[k] is out[k], k
        assert np.array_equal(out[k][at], v[crop], equal_nan=True), k
    for p in pw_whole:
        assert np.array_equal(pw[p][at], pw_whole[p][crop]), p
    pc = st.tile_calibration(cal, "VV", LINES, PIXELS, noise=False)
    prev = {}
    st.date_signatures({"VV": d["prev"], "VH": d["vh"]}, LINES, PIXELS, cal, config, **va, powers=prev)
    ref = st.pair_signatures(d["prev"], d["vv"], d["removed"], config, pc, prev["VV"], pw_whole["VV"])
    pa = np.full(shape, np.nan, np.float32)
    pa[at] = prev["VV"][crop]
    pout = {k: np.zeros(shape, np.float32) for k in ref}
    st.pair_signatures(d["prev"], d["vv"], d["removed"], config, pc, pa, pw["VV"], region=region, out=pout,
                       origin=origin)
    for k, v in ref.items():
        assert np.array_equal(pout[k][at], v[crop], equal_nan=True), k
    if case == "fused":
        with pytest.raises(KeyError, match="no destination"):
            st.date_signatures(slc, LINES, PIXELS, cal, config, region=region,
                               out={k: v for k, v in out.items() if k != "c11"}, origin=origin)
