"""SAR signatures of a coregistered burst stack, tile by tile: ``signatures/{stack_id}.zarr``.

The signature stage reads the stack store (``alignsar_core.stack``: raw digital numbers
coregistered onto the reference grid, the removed reference + topographic phase, the
local metadata) and writes, per tile of the tile grid, every signature of categories 1
and 2 (AlignSAR) into one Zarr store whose chunks are that tile grid: (1 date or 1 pair,
tile lines, tile samples). Each tile task reads its tile plus the halo its windowed
estimators need (the largest of ``SignatureConfig.halo``), computes the outputs of its
own pixels only (the halo is read, not computed: ``region`` of the kernels) and
writes only the chunks of its own tile, so no two tasks write one chunk and the tiled
result equals the whole-burst result bit for bit (the window kernels' sums do not
depend on where a tile starts: ``window._window_sums``).

Variables (``p`` a polarisation of the stack, lower case: vv, vh; co = VV or HH,
cross = VH or HV; every variable carries units, long_name, formula and reference):

per date (time, azimuth, range)
    amplitude_{p}, intensity_{p}, slc_phase_{p}   |DN|, |DN|^2, arg(DN) of the coregistered
                                  SLC (``SignatureConfig.slc_signatures``, default on)
    sigma0_{p}, sigma0_{p}_db     calibrated backscatter, thermal noise removed (config)
    beta0_{p}[_db], gamma0_{p}[_db]  only with ``SignatureConfig.beta_gamma``
    c11, c22, c12_real, c12_imag  dual-pol covariance C2 of DN / A_sigma (polarimetric window)
    entropy_dual, alpha_dual, degree_of_polarisation, dprvi, rvi_dual   from C2
    sigma0_sum, sigma0_difference, cross_pol_ratio_db   of the local means <sigma0_co>,
                                  <sigma0_cross> (speckle window): the ratio of two
                                  single-look intensities scatters by ~8 dB (std)
    sigma0_{p}_quegan_yu          multitemporal speckle filter (Quegan & Yu 2001)
    soil_moisture_index           change detection on the <sigma0_co> series in dB
per pair (pair, azimuth, range), pairs (a, b) with a earlier than b
    interferometric_phase_{p}     single look, reference + topographic phase removed
    coherence_{p}, coherence_phase_{p}   moving-window estimate (coherence window)
    coherence_adaptive_{p}        with ``SignatureConfig.adaptive_window``: summed over the
                                  statistically homogeneous pixels of that window only
                                  (Jiang et al. 2015; ``coherence.adaptive_coherence``)
per pixel (azimuth, range)
    sigma0_dry, sigma0_wet        the soil-moisture references (dB)
    shp_count_{p}                 with the adaptive window: its homogeneous pixels (looks)
    latitude, longitude, height, incidence_angle, look_angle, slant_range, heading,
    layover_shadow                local metadata copied from the stack (self-describing)

Pairs: the reference date with every other date, and every pair of consecutive dates
(without repeating a pair): 2n - 3 pairs for n >= 2 dates with the reference first.
Interferometric phase of a pair (a, b):

    phi_ab = arg(s_a s_b* exp(-j (removed_b - removed_a)))    (removed_ref = 0)

with removed_d = 4 pi / lambda (R_d - R_ref), so phi_ab = 4 pi / lambda (delta_b -
delta_a): the change of the one-way excess path (deformation along the line of sight,
troposphere) from a to b; positive when the path got longer (motion away from the
satellite). With the simulator's truth phases phi_d = -4 pi / lambda delta_d this is
-(phi_b - phi_a) (checked in tests/test_signatures_stage.py).

Calibration: the stack's SLCs are digital numbers; the calibration and noise LUTs are
those of the *reference* product on the reference grid, for every date. The LUTs of a
burst footprint differ by ~0.01 dB between dates of one relative orbit (same
processor gains and antenna pattern, the noise vectors of one footprint), well below
single-look speckle, and the stack keeps no per-date product URL to read theirs.

Memory: per-date signatures are computed and written date by date (the tile + halo of
the current date, the reference date, the previous date and the next date, read
ahead, are held: about 200 MB per date for a 512 x 4096 dual-pol tile); the
time-series ones (Quegan-Yu, soil moisture) keep the local means of every date on
the tile (n_dates x tile float32 per polarisation).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import numba
import numpy as np
import xarray as xr

from .. import __version__, store
from ..runtime import tune_malloc
from ..calibration import CalibrationLut, NoiseLut
from . import coherence as co
from . import fused
from . import polarimetric as pol
from . import single_pol as sp
from . import soil_moisture as sm
from .window import as_window, box_mean, halo_for

__all__ = ["SignatureConfig", "CalibrationInputs", "load_calibration", "tile_calibration", "date_signatures",
           "pair_signatures",
           "pairs_for", "signature_template", "create_signature_store", "compute_tile", "tile_grid", "pending_tiles",
           "signatures_url", "SIGNATURE_VARIABLES_PER_DATE"]

_CO_POLS = ("VV", "HH")
_CROSS_POLS = ("VH", "HV")

#: Local metadata copied from the stack (dims azimuth, range).
METADATA = ("latitude", "longitude", "height", "incidence_angle", "look_angle", "slant_range", "heading",
            "layover_shadow")


def signatures_url(root: str, stack_id: str) -> str:
    """``{root}/signatures/{stack_id}.zarr``."""
    return store.join(root, "signatures", f"{stack_id}.zarr")


# --------------------------------------------------------------------------------------
# configuration and calibration inputs


@dataclasses.dataclass(frozen=True)
class SignatureConfig:
    """Estimator settings of the signature stage (kept in the store's attributes).

    Windows are (azimuth lines, range samples). 5 x 20 covers about 70 m x 47 m on the
    ground in IW (14 m x 2.3 m pixels): roughly square, 100 pixels, ~43 independent
    looks once the oversampling of the SAR spectrum is counted
    (``CalibrationInputs.effective_looks``).
    """

    coherence_window: tuple[int, int] = (5, 20)
    polarimetric_window: tuple[int, int] = (5, 20)
    speckle_window: tuple[int, int] = (5, 20)
    noise_removal: bool = True
    beta_gamma: bool = False
    slc_signatures: bool = True  # amplitude, intensity and SLC phase of the coregistered DNs
    pair_pols: tuple[str, ...] | None = None  # None: every polarisation of the stack
    soil_moisture_percentiles: tuple[float, float] = (5.0, 95.0)
    adaptive_window: tuple[int, int] | None = None  # None: no adaptive (SHP) coherence
    shp_alpha: float = 0.05  # significance level of the SHP test

    def __post_init__(self):
        for name in ("coherence_window", "polarimetric_window", "speckle_window"):
            object.__setattr__(self, name, as_window(getattr(self, name)))
        if self.adaptive_window is not None:
            object.__setattr__(self, "adaptive_window", as_window(self.adaptive_window))
        if not 0.0 < self.shp_alpha < 1.0:
            raise ValueError(f"shp_alpha {self.shp_alpha}: a significance level in (0, 1) is needed")
        if self.pair_pols is not None:
            object.__setattr__(self, "pair_pols", tuple(p.upper() for p in self.pair_pols))
        lo, hi = self.soil_moisture_percentiles
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"soil_moisture_percentiles {self.soil_moisture_percentiles}: need 0 <= dry < wet <= 100")

    @property
    def halo(self) -> tuple[int, int]:
        """Rows/columns each side that every windowed estimator of the stage needs."""
        hs = [halo_for(w) for w in self.windows]
        return max(h[0] for h in hs), max(h[1] for h in hs)

    @property
    def windows(self) -> tuple[tuple[int, int], ...]:
        """Every window of the stage's estimators."""
        ws = (self.coherence_window, self.polarimetric_window, self.speckle_window)
        return ws + ((self.adaptive_window,) if self.adaptive_window is not None else ())

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SignatureConfig":
        d = dict(d)
        for k in ("coherence_window", "polarimetric_window", "speckle_window", "soil_moisture_percentiles",
                  "adaptive_window"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        if d.get("pair_pols") is not None:
            d["pair_pols"] = tuple(d["pair_pols"])
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class CalibrationInputs:
    """The reference product's calibration of one burst stack: per polarisation (upper
    case) the sigma0 (beta0, gamma0) LUTs and the thermal noise LUT, and the azimuth /
    range processing bands (fraction of the sampling rate, Hamming coefficient) that set
    the correlation of neighbouring pixels (effective looks of a window)."""

    source: str
    luts: dict[str, tuple[CalibrationLut, ...]]
    noise: dict[str, NoiseLut]
    bands: dict[str, float] | None = None  # az_fraction, az_coeff, rg_fraction, rg_coeff

    def effective_looks(self, window) -> float:
        """Independent looks of a boxcar window over the band-limited SLC
        (``coherence.effective_looks`` with the ACF of the processing bands; the pixel
        count when the bands are unknown)."""
        a, r = as_window(window)
        if not self.bands:
            return float(a * r)
        b = self.bands
        return co.effective_looks((a, r), system_acf(b["az_fraction"], b["az_coeff"], a),
                                  system_acf(b["rg_fraction"], b["rg_coeff"], r))


def system_acf(fraction: float, coefficient: float, n: int) -> np.ndarray:
    """Correlation coefficients rho_1..rho_{n-1} of neighbouring complex samples of a
    signal whose spectrum is weighted by a generalised Hamming window
    W(f) = a + (1 - a) cos(2 pi f / B) over the processed band |f| < B / 2 (B =
    ``fraction`` of the sampling rate, a = ``coefficient``, annotation
    processingBandwidth / windowCoefficient):

        rho_k = int W(f)^2 cos(2 pi f k) df / int W(f)^2 df      (Wiener-Khinchin)
    """
    f = np.linspace(-0.5 * fraction, 0.5 * fraction, 8193)
    w2 = (coefficient + (1 - coefficient) * np.cos(2 * np.pi * f / fraction)) ** 2
    k = np.arange(1, max(n, 1))
    return (w2[None, :] * np.cos(2 * np.pi * f[None, :] * k[:, None])).sum(axis=1) / w2.sum()


def _processing_bands(product, swath: str, pol_: str, burst: Mapping[str, Any]) -> dict[str, float] | None:
    """Processing bandwidths / window coefficients from the annotation XML (None when
    the annotation lacks them)."""
    try:
        root = ET.fromstring(product.fs.cat_file(product.groups[f"{swath}/{pol_}"][1]))
        proc = "imageAnnotation/processingInformation/swathProcParamsList/swathProcParams/"
        rng, az = root.find(proc + "rangeProcessing"), root.find(proc + "azimuthProcessing")
        return {"az_fraction": float(az.findtext("processingBandwidth")) * float(burst["azimuth_time_interval"]),
                "az_coeff": float(az.findtext("windowCoefficient")),
                "rg_fraction": float(rng.findtext("processingBandwidth")) / float(burst["range_sampling_rate"]),
                "rg_coeff": float(rng.findtext("windowCoefficient"))}
    except (AttributeError, TypeError, ValueError, KeyError, ET.ParseError):
        return None


def load_calibration(stack_attrs: Mapping[str, Any], pols: Sequence[str],
                     storage_options: dict[str, Any] | None = None, beta_gamma: bool = False) -> CalibrationInputs:
    """Calibration and noise LUTs of the stack's reference product (its ``burst``
    attribute names the product URL and swath). ``storage_options`` for that URL."""
    from ..products.sentinel1 import ProductError, open_product

    burst = json.loads(stack_attrs["burst"])
    url, swath = burst["product_url"], burst["swath"]
    # only this swath's annotation is needed: other swaths may be missing
    product = open_product(url, storage_options, metadata_only=True, allow_partial=True)
    names = ("sigma0", "beta0", "gamma0") if beta_gamma else ("sigma0",)
    luts, noise = {}, {}
    for p in pols:
        p = p.upper()
        if f"{swath}/{p}" not in product.groups:
            raise ProductError(url, f"{swath}/{p}: no annotation for the stack's calibration "
                                    f"({product.missing.get(f'{swath}/{p}', 'not in the manifest')})")
        try:
            cal = product.open_group(f"{swath}/{p}/calibration")
            luts[p] = tuple(CalibrationLut.from_xarray_sentinel(cal, k) for k in names)
            noise[p] = NoiseLut.from_xarray_sentinel(product.open_group(f"{swath}/{p}/noise_range"),
                                                     product.open_group(f"{swath}/{p}/noise_azimuth"))
        except (KeyError, ValueError, OSError) as exc:
            raise ProductError(url, f"{swath}/{p}: calibration/noise annotation unreadable "
                                    f"({type(exc).__name__}: {exc})") from exc
    return CalibrationInputs(source=url, luts=luts, noise=noise,
                             bands=_processing_bands(product, swath, pols[0].upper(), burst))


# --------------------------------------------------------------------------------------
# the array kernels of one tile


def _co_cross(pols: Sequence[str]) -> tuple[str | None, str | None]:
    up = [p.upper() for p in pols]
    co_ = next((p for p in _CO_POLS if p in up), None)
    cross = next((p for p in _CROSS_POLS if p in up), None)
    return co_, cross


def tile_calibration(calibration: CalibrationInputs, pol_: str, lines: np.ndarray, pixels: np.ndarray,
                     noise: bool = True) -> fused.TileCalibration:
    """The sigma0 LUT (and noise LUT with ``noise``) of one polarisation on a tile."""
    p = pol_.upper()
    if p not in calibration.luts:
        raise KeyError(f"no calibration LUT for polarisation {p} (have {sorted(calibration.luts)})")
    return fused.TileCalibration(calibration.luts[p][0], lines, pixels,
                                 calibration.noise[p] if noise else None)


def date_signatures(slc: Mapping[str, np.ndarray], lines: np.ndarray, pixels: np.ndarray,
                    calibration: CalibrationInputs, config: SignatureConfig = SignatureConfig(),
                    valid_rows: np.ndarray | None = None,
                    valid_samples: tuple[int, int] | None = None,
                    powers: dict[str, np.ndarray] | None = None, region=None, out=None,
                    origin=(0, 0)) -> dict[str, np.ndarray]:
    """Every per-date signature of one date on one tile (+ halo), float32 arrays of the
    output ``region``'s shape (default the whole tile; the stage computes the tile without
    its halo): the per-tile task body, and what ``benchmarks/bench_signatures.py`` times.

    ``slc``: {pol (any case): complex DNs (azimuth, range)} of the date on the reference
    grid; ``lines``/``pixels``: reference swath line / pixel of each row / column (the
    LUT grid); ``valid_rows`` / ``valid_samples``: the burst's valid area in this tile's
    row mask / column indices (NaN outside, for the calibrated values).

    Returns sigma0_{p} (and _db; beta0/gamma0 with ``config.beta_gamma``): (|DN|^2 - N) /
    A^2 (ESA-EOPG-CSCOP-TN-0002), N the noise LUT when ``config.noise_removal``, negative
    values clipped to 0; ``sigma0_{p}_local_mean``: boxcar mean over ``speckle_window``
    (NaN where the window reaches a NaN); with a co- and a cross-pol channel: c11, c22,
    c12_real, c12_imag = window means of z_co z_co*, z_x z_x*, z_co z_x* with z = DN /
    A_sigma (no noise removal; Lee & Pottier 2009 ch. 3), entropy_dual, alpha_dual,
    degree_of_polarisation, dprvi (Cloude 2007; Mandal et al. 2020), rvi_dual =
    4 C22 / (C11 + C22), and sigma0_sum / sigma0_difference / cross_pol_ratio_db of the
    local means; with ``config.slc_signatures`` amplitude_{p} = |DN|, intensity_{p} = |DN|^2
    and slc_phase_{p} = arg(DN) of the coregistered digital numbers. Windowed outputs
    need the halo ``config.halo``.

    ``powers``: a dict to receive, per polarisation, <|z|^2> over the coherence window
    (the power terms of ``pair_signatures``: C11 / C22 when the windows agree), so each
    date's powers are formed once, not once per pair; laid out as the outputs.

    ``out`` {name: destination array}, ``origin``: every output written at ``origin`` of
    its destination (C-contiguous float32 2-D arrays, ``fused.dual_date``) and returned
    as given; powers that are not outputs (C11 / C22) are then new arrays of the first
    destination's shape.

    Dual-pol dates with one speckle / polarimetric window run in one fused pass
    (``fused.dual_date``, which writes straight into ``out``); other cases per channel
    (``fused.single_date``) plus ``pol.c2``.
    """
    dest, origin = out, tuple(int(v) for v in origin)
    out: dict[str, np.ndarray] = {}
    co_, cross = _co_cross(list(slc))
    by_upper = {k.upper(): np.asarray(v) for k, v in slc.items()}
    cals = {p: tile_calibration(calibration, p, lines, pixels, config.noise_removal) for p in by_upper}
    va = dict(valid_rows=valid_rows, valid_samples=valid_samples)
    cw = config.coherence_window
    got_power: dict[str, np.ndarray] = {}
    crop = (slice(None), slice(None)) if region is None else (slice(region[0], region[1]),
                                                              slice(region[2], region[3]))
    if co_ and cross and config.speckle_window == config.polarimetric_window:
        names = {"sigma0_{r}": "sigma0_{p}", "sigma0_{r}_db": "sigma0_{p}_db",
                 "local_mean_{r}": "sigma0_{p}_local_mean"}  # fused output -> stage variable
        if config.slc_signatures:
            names |= {"intensity_{r}": "intensity_{p}", "amplitude_{r}": "amplitude_{p}",
                      "slc_phase_{r}": "slc_phase_{p}"}
        rename = {src.format(r=role): dst.format(p=p.lower()) for p, role in ((co_, "co"), (cross, "cross"))
                  for src, dst in names.items()}
        fout = None
        if dest is not None:
            names_all = fused.dual_date_outputs(config.slc_signatures)
            missing = [rename.get(k, k) for k in names_all if rename.get(k, k) not in dest]
            if missing:
                raise KeyError(f"no destination array for the outputs {missing}")
            fout = {k: dest[rename.get(k, k)] for k in names_all}
        d = fused.dual_date(by_upper[co_], by_upper[cross], cals[co_], cals[cross], config.speckle_window,
                            config.polarimetric_window, **va, slc=config.slc_signatures, region=region, out=fout,
                            origin=origin)
        out.update({rename.get(k, k): v for k, v in d.items()})
        if cw == config.polarimetric_window:
            got_power = {co_: out["c11"], cross: out["c22"]}
    else:
        for p, s in by_upper.items():
            d = fused.single_date(s, cals[p], config.speckle_window, **va, slc=config.slc_signatures,
                                  region=region)
            out[f"sigma0_{p.lower()}"], out[f"sigma0_{p.lower()}_db"] = d["sigma0"], d["sigma0_db"]
            out[f"sigma0_{p.lower()}_local_mean"] = d["local_mean"]
            if config.slc_signatures:
                for k in ("intensity", "amplitude", "slc_phase"):
                    out[f"{k}_{p.lower()}"] = d[k]
            if cw == config.speckle_window:
                got_power[p] = d["power"]
        if co_ and cross:
            z_co = sp.calibrated_complex(by_upper[co_], calibration.luts[co_][0], lines, pixels)
            z_x = sp.calibrated_complex(by_upper[cross], calibration.luts[cross][0], lines, pixels)
            c11, c22, c12 = (c[crop] for c in pol.c2(z_co, z_x, config.polarimetric_window))
            del z_co, z_x
            out.update(c11=c11, c22=c22, c12_real=np.ascontiguousarray(c12.real),
                       c12_imag=np.ascontiguousarray(c12.imag))
            out.update(pol.dual_pol_decomposition(c11, c22, c12))
            out["rvi_dual"] = pol.rvi_dual(c11, c22)
            m_co, m_x = out[f"sigma0_{co_.lower()}_local_mean"], out[f"sigma0_{cross.lower()}_local_mean"]
            out["sigma0_sum"] = pol.intensity_sum(m_co, m_x)
            out["sigma0_difference"] = pol.intensity_difference(m_co, m_x)
            out["cross_pol_ratio_db"] = pol.intensity_ratio(m_x, m_co, db=True)
    if config.beta_gamma:
        for p, s in by_upper.items():
            luts = calibration.luts[p]
            if len(luts) < 3:
                raise ValueError("beta_gamma needs the sigma0, beta0 and gamma0 LUTs (load_calibration(beta_gamma=True))")
            cal = sp.calibrated_intensity(s, luts[1:], lines, pixels,
                                          noise=calibration.noise[p] if config.noise_removal else None, **va)
            for k, v in cal.items():
                out[f"{k}_{p.lower()}"] = np.ascontiguousarray(v[crop])
                out[f"{k}_{p.lower()}_db"] = sp.to_db(out[f"{k}_{p.lower()}"])
    if dest is not None:  # what the fused pass did not write in place
        for k, v in out.items():
            if v is not dest.get(k):
                out[k] = _place(v, dest[k] if k in dest else None, origin, k)
    if powers is not None:
        for p, s in by_upper.items():
            pw = got_power[p] if p in got_power else fused.power(s, cals[p], cw, region=region)
            if dest is not None and not any(pw is v for v in dest.values()):
                pw = _place_power(pw, dest, origin)
            powers[p] = pw
    return out


def _place(value: np.ndarray, dst: np.ndarray | None, origin: tuple[int, int], name: str) -> np.ndarray:
    """Copy a region-shaped output into its destination array at ``origin``."""
    if dst is None:
        raise KeyError(f"no destination array for the output {name!r}")
    di, dj = origin
    dst[di:di + value.shape[0], dj:dj + value.shape[1]] = value
    return dst


def _place_power(power: np.ndarray, dest: Mapping[str, np.ndarray], origin) -> np.ndarray:
    """A region-shaped window power laid out as the outputs in ``dest`` (a new array of
    their shape, NaN outside the region)."""
    like = next(iter(dest.values()))
    return _place(power, np.full(like.shape, np.nan, np.float32), tuple(origin), "power")


def pair_signatures(s_a: np.ndarray, s_b: np.ndarray, removed_phase: np.ndarray | None,
                    config: SignatureConfig, cal: fused.TileCalibration,
                    power_a: np.ndarray | None = None, power_b: np.ndarray | None = None, region=None,
                    out=None, origin=(0, 0)) -> dict[str, np.ndarray]:
    """Pair signatures of two coregistered SLCs (a earlier than b) of one polarisation on
    one tile (+ halo), of the output ``region`` (``date_signatures``):

    interferometric_phase = arg(s_a s_b* exp(-j phi_removed)) (single look, (-pi, pi]);
    coherence = |gamma|, coherence_phase = arg(gamma), gamma = <z_a z_b* exp(-j
    phi_removed)> / sqrt(<|z_a|^2> <|z_b|^2>) over the moving ``config.coherence_window``
    (Touzi et al. 1999; Hanssen 2001), z = DN / A_sigma with the polarisation's LUT on
    the tile ``cal`` (``tile_calibration``; the same for both dates). ``removed_phase``:
    removed_b - removed_a of the stack (rad), or its ``fused.phase_factors`` (computed
    once for every polarisation of the pair). ``power_a`` / ``power_b``: <|z|^2> of each
    date over the coherence window (``date_signatures(powers=...)``, laid out as the
    outputs; computed here when None). ``out`` / ``origin``: destination arrays of the
    three outputs (``fused.pair``). Halo ``config.halo``.
    """
    cw = config.coherence_window

    def pw(s, given):
        if given is not None:
            return given
        p = fused.power(s, cal, cw, region=region)
        return p if out is None else _place_power(p, out, origin)
    return fused.pair(s_a, s_b, cal, cw, pw(s_a, power_a), pw(s_b, power_b), removed_phase, region=region,
                      out=out, origin=origin)


def _window_of(name: str, config: SignatureConfig) -> tuple[int, int]:
    """The window of a windowed output: coherence, C2 (and what derives from it) or the
    speckle window (local means and what derives from them)."""
    if name.startswith("coherence_adaptive") and config.adaptive_window is not None:
        return config.adaptive_window
    if name.startswith("coherence"):
        return config.coherence_window
    if name in ("c11", "c22", "c12_real", "c12_imag", "entropy_dual", "alpha_dual", "degree_of_polarisation",
                "dprvi", "rvi_dual"):
        return config.polarimetric_window
    return config.speckle_window


def _single_look(name: str) -> bool:
    """Outputs of one pixel (masked by the pixel's validity), not of a window."""
    parts = name.removesuffix("_db").removeprefix("slc_").split("_")
    return (len(parts) == 2 and parts[0] in ("sigma0", "beta0", "gamma0", "amplitude", "intensity", "phase")
            and parts[1] in ("vv", "vh", "hh", "hv")) or name == "interferometric_phase"


def pairs_for(n_dates: int, reference: int = 0) -> list[tuple[int, int]]:
    """The pairs of the store: (reference, d) for every other date d and (d - 1, d) for
    consecutive dates, each as (earlier, later) date index, without repeats; sorted."""
    pairs = {(min(reference, d), max(reference, d)) for d in range(n_dates) if d != reference}
    pairs |= {(d - 1, d) for d in range(1, n_dates)}
    return sorted(pairs)


@numba.njit(cache=True, nogil=True)
def _masked_copy_kernel(x, mask, out):
    for i in range(out.shape[0]):
        xr, mr, o = x[i], mask[i], out[i]
        for j in range(o.size):
            o[j] = xr[j] if mr[j] else np.float32(np.nan)


@numba.njit(cache=True, nogil=True)
def _mask_in_place_kernel(x, mask):
    for i in range(x.shape[0]):
        xr, mr = x[i], mask[i]
        for j in range(xr.size):
            if not mr[j]:
                xr[j] = np.nan


def _nan_outside(x: np.ndarray, mask: np.ndarray, in_place: bool = False) -> np.ndarray:
    """``x`` (a float32 2-D array or view) with NaN where ``mask`` is False: ``x`` itself
    when the mask is all True; with ``in_place`` ``x`` itself with NaN written where the
    mask is False (one read of the mask: for the tile-shaped outputs of the kernels,
    which nothing else holds); else one vectorised pass into a new array. ``np.where``
    did the same on the cropped (strided) tile at 13 % of the whole stage's CPU time
    (py-spy, 3 dates x 18 tiles); the copy was still 5 %."""
    if mask.all():
        return x
    if x.dtype != np.float32 or x.ndim != 2:
        return np.where(mask, x, np.asarray(np.nan, x.dtype))
    if in_place and x.flags.writeable and x.flags.c_contiguous:
        _mask_in_place_kernel(x, np.ascontiguousarray(mask))
        return x
    out = np.empty(x.shape, np.float32)
    _masked_copy_kernel(x, mask, out)
    return out


# --------------------------------------------------------------------------------------
# the store


def _stack_pols(names: Sequence[str]) -> list[str]:
    pols = sorted((n[4:].upper() for n in names if n.startswith("slc_")),
                  key=lambda p: (0 if p[0] == p[1] else 1, p))
    if not pols:
        raise ValueError("the stack has no slc_* variable")
    return pols


def _reference_index(times: np.ndarray, attrs: Mapping[str, Any]) -> int:
    t_ref = np.datetime64(json.loads(attrs["burst"])["first_line_time"], "ns")
    hit = np.flatnonzero(np.asarray(times, dtype="datetime64[ns]") == t_ref)
    if hit.size != 1:
        raise ValueError(f"reference time {t_ref} not found once among the stack's times")
    return int(hit[0])


def _a(base: Mapping[str, str], **over: str) -> dict[str, str]:
    d = {k: base[k] for k in ("units", "long_name", "formula", "reference")}
    d.update(over)
    return d


def variable_attrs(pols: Sequence[str], config: SignatureConfig, calibration: CalibrationInputs | None,
                   pair_pols: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """{name: (kind, attrs)} of every signature variable; kind 'time', 'pair' or 'pixel'."""
    from .. import speckle

    co_, cross = _co_cross(pols)
    nr = "thermal noise removed (reference product noise LUT)" if config.noise_removal else "thermal noise not removed"
    cal_src = f"calibration LUT of the reference product {calibration.source}" if calibration else "reference product LUT"
    v: dict[str, tuple[str, dict[str, Any]]] = {}
    names = ("sigma0", "beta0", "gamma0") if config.beta_gamma else ("sigma0",)
    for p in pols:
        pl = p.lower()
        if config.slc_signatures:
            for k in ("amplitude", "intensity", "slc_phase"):
                base = sp.ATTRS[k]
                v[f"{k}_{pl}"] = ("time", _a(base, long_name=f"{base['long_name']}, {p}, coregistered onto the "
                                             "reference grid", formula=base["formula"].replace("s", "DN", 1)
                                             if k != "slc_phase" else "arg(DN) in (-pi, pi]", polarisation=p))
        for k in names:
            for suf in ("", "_db"):
                base = sp.ATTRS[f"{k}{suf}"]
                formula = base["formula"] if config.noise_removal else base["formula"].replace(
                    "(|DN|^2 - N)", "|DN|^2")
                v[f"{k}_{pl}{suf}"] = ("time", _a(base, long_name=f"{base['long_name']}, {p}", formula=formula,
                                                  thermal_noise=nr, calibration=cal_src))
        qy = speckle.ATTRS["intensity_quegan_yu"]
        v[f"sigma0_{pl}_quegan_yu"] = ("time", _a(
            qy, long_name=f"sigma0 {p} speckle-filtered (Quegan & Yu multitemporal)",
            formula=qy["formula"].replace("I", "sigma0") + f"; window {list(config.speckle_window)} (az, rg), "
                    "dates with NaN left out", window=list(config.speckle_window)))
    if co_ and cross:
        pw = list(config.polarimetric_window)
        c2note = f"z = DN / A_sigma (no noise removal), window {pw} (az, rg)"
        for k in ("c11", "c22"):
            v[k] = ("time", _a(pol.ATTRS[k], formula=pol.ATTRS[k]["formula"] + f"; {c2note}", window=pw,
                               channels=f"co={co_}, cross={cross}"))
        for part in ("real", "imag"):
            v[f"c12_{part}"] = ("time", _a(pol.ATTRS["c12"], long_name=f"{pol.ATTRS['c12']['long_name']}, "
                                           f"{'real' if part == 'real' else 'imaginary'} part",
                                           formula=f"{part.replace('imag', 'Im').replace('real', 'Re')}"
                                                   f"({pol.ATTRS['c12']['formula']}); {c2note}",
                                           window=pw, channels=f"co={co_}, cross={cross}"))
        for k in ("entropy_dual", "alpha_dual", "degree_of_polarisation", "dprvi"):
            v[k] = ("time", _a(pol.ATTRS[k], formula=pol.ATTRS[k]["formula"] + f"; C2 as c11/c22/c12 ({c2note})",
                               window=pw, channels=f"co={co_}, cross={cross}"))
        v["rvi_dual"] = ("time", _a(pol.ATTRS["rvi_dual"], formula=f"4 C22 / (C11 + C22); {c2note}", window=pw,
                                    channels=f"co={co_}, cross={cross}"))
        sw = list(config.speckle_window)
        mean = (f"<sigma0_{co_.lower()}>, <sigma0_{cross.lower()}> boxcar means over {sw} (az, rg) of the "
                f"calibrated sigma0, {nr}")
        v["sigma0_sum"] = ("time", _a(pol.ATTRS["intensity_sum"], long_name=f"sum of {co_} and {cross} sigma0 "
                                      "(local means)", formula=f"<sigma0_co> + <sigma0_cross>; {mean}", window=sw))
        v["sigma0_difference"] = ("time", _a(pol.ATTRS["intensity_difference"], long_name=f"difference of {co_} "
                                             f"and {cross} sigma0 (local means)",
                                             formula=f"<sigma0_co> - <sigma0_cross>; {mean}", window=sw))
        v["cross_pol_ratio_db"] = ("time", _a(pol.ATTRS["intensity_ratio_db"], long_name=f"{cross}/{co_} "
                                              "backscatter ratio in decibels (local means)",
                                              formula=f"10 log10(<sigma0_cross> / <sigma0_co>); {mean}", window=sw))
    if co_:
        sw = list(config.speckle_window)
        src = f"<sigma0_{co_.lower()}> (boxcar {sw}) in dB"
        q = config.soil_moisture_percentiles
        v["soil_moisture_index"] = ("time", _a(sm.ATTRS["soil_moisture_index"],
                                               formula=sm.ATTRS["soil_moisture_index"]["formula"]
                                               + f"; series {src}; percentiles {list(q)}; NaN with fewer than 3 dates",
                                               polarisation=co_, percentiles=list(q)))
        for k in ("sigma0_dry", "sigma0_wet"):
            v[k] = ("pixel", _a(sm.ATTRS[k], formula=sm.ATTRS[k]["formula"] + f"; series {src}", polarisation=co_))
    looks = calibration.effective_looks(config.coherence_window) if calibration else float(np.prod(
        config.coherence_window))
    bias0 = float(co.expected_coherence_magnitude(0.0, max(looks, 1.0)))
    cw = list(config.coherence_window)
    for p in pair_pols:
        pl = p.lower()
        ia = sp.ATTRS["interferometric_phase"]
        v[f"interferometric_phase_{pl}"] = ("pair", _a(
            ia, long_name=f"{ia['long_name']}, {p}",
            formula="arg(s_a s_b* exp(-i (removed_b - removed_a))) wrapped to (-pi, pi], pair (a, b), "
                    "removed_d = 4 pi / lambda (R_d - R_ref) of the stack; = 4 pi / lambda (delta_b - delta_a), "
                    "delta the one-way excess path (positive: path longer on b)",
            polarisation=p))
        for k in ("coherence", "coherence_phase"):
            base = co.ATTRS[k]
            v[f"{k}_{pl}"] = ("pair", _a(
                base, long_name=f"{base['long_name']}, {p}",
                formula=(base["formula"].replace("phi_removed", "(removed_b - removed_a)")
                         .replace("s1", "s_a").replace("s2", "s_b") + f", window W = {cw} (az, rg); "
                         "s = DN / A_sigma, the reference product's sigma0 LUT (the same for both dates)"),
                window=cw, polarisation=p, effective_looks=round(looks, 2),
                bias_note=(f"biased upwards (Touzi et al. 1999 eq. 11): E|gamma_hat| = {bias0:.3f} for true "
                           f"|gamma| = 0 with N_eff = {looks:.1f} effective looks of the window "
                           "(coherence.expected_coherence_magnitude / unbias_coherence)")))
        if config.adaptive_window is not None:
            aw = list(config.adaptive_window)
            test = (f"window {aw} (az, rg), alpha = {config.shp_alpha}; A = time-mean |DN| over the stack's valid "
                    "dates of each pixel")
            base = co.ATTRS["coherence_adaptive"]
            v[f"coherence_adaptive_{pl}"] = ("pair", _a(
                base, long_name=f"{base['long_name']}, {p}",
                formula=(base["formula"].replace("phi_removed", "(removed_b - removed_a)")
                         .replace("s1", "s_a").replace("s2", "s_b") + f"; {test}; s = DN (the factor 1 / A_sigma^2 "
                         "is common to both dates)"),
                window=aw, shp_alpha=config.shp_alpha, polarisation=p,
                bias_note="biased upwards like the boxcar estimate, with the looks of shp_count_" + pl
                          + " (coherence.unbias_coherence per pixel)"))
            base = co.ATTRS["shp_count"]
            v[f"shp_count_{pl}"] = ("pixel", _a(base, long_name=f"{base['long_name']}, {p}",
                                                formula=f"{base['formula']}; {test}", window=aw,
                                                shp_alpha=config.shp_alpha, polarisation=p))
    return v


def signature_template(stack: xr.Dataset, config: SignatureConfig = SignatureConfig(),
                       calibration: CalibrationInputs | None = None, stack_url: str | None = None) -> xr.Dataset:
    """Coordinates, attributes and lazy empty variables of ``signatures/{stack_id}.zarr``
    for an opened stack store (``xr.open_zarr(stack_url)``). Write it with
    ``create_signature_store`` (chunks: 1 date or pair x the tile grid)."""
    pols = _stack_pols(list(stack.data_vars))
    n_t = stack.sizes["time"]
    n, m = stack.sizes["azimuth"], stack.sizes["range"]
    ref = _reference_index(stack["time"].values, stack.attrs)
    pair_pols = [p for p in pols if config.pair_pols is None or p in config.pair_pols]
    if config.pair_pols is not None and len(pair_pols) != len(config.pair_pols):
        raise ValueError(f"pair_pols {config.pair_pols}: the stack has {pols}")
    pairs = pairs_for(n_t, ref)
    times = stack["time"].values
    coords = {
        "time": ("time", times, dict(stack["time"].attrs)),
        "azimuth_time": ("azimuth", stack["azimuth_time"].values, dict(stack["azimuth_time"].attrs)),
        "slant_range_time": ("range", stack["slant_range_time"].values, dict(stack["slant_range_time"].attrs)),
        "line": ("azimuth", stack["line"].values, dict(stack["line"].attrs)),
        "pixel": ("range", stack["pixel"].values, dict(stack["pixel"].attrs)),
        "pair_first": ("pair", np.array([a for a, _ in pairs], np.int32),
                       {"long_name": "time index of the pair's earlier date"}),
        "pair_second": ("pair", np.array([b for _, b in pairs], np.int32),
                        {"long_name": "time index of the pair's later date"}),
        "pair_first_time": ("pair", times[[a for a, _ in pairs]] if pairs else times[:0],
                            {"long_name": "acquisition time of the pair's earlier date"}),
        "pair_second_time": ("pair", times[[b for _, b in pairs]] if pairs else times[:0],
                             {"long_name": "acquisition time of the pair's later date"}),
    }
    dims = {"time": ("time", "azimuth", "range"), "pair": ("pair", "azimuth", "range"), "pixel": ("azimuth", "range")}
    shapes = {"time": (n_t, n, m), "pair": (len(pairs), n, m), "pixel": (n, m)}
    dv = {}
    for name, (kind, attrs) in variable_attrs(pols, config, calibration, pair_pols).items():
        dv[name] = (dims[kind], da.zeros(shapes[kind], dtype=np.float32, chunks=shapes[kind]), attrs)
    for name in METADATA:
        src = stack[name]
        attrs = dict(src.attrs)
        attrs.setdefault("formula", attrs.get("description", "copied from the stack store"))
        attrs.setdefault("reference", "alignsar_core.stack.local_metadata (rdr2geo on the DEM, geometry.local_geometry)")
        dv[name] = (("azimuth", "range"), da.zeros((n, m), dtype=src.dtype, chunks=(n, m)), attrs)
    ds = xr.Dataset(dv, coords=coords)
    ds.attrs.update({
        "title": f"SAR signatures of the burst stack {stack.attrs.get('stack_id', '')}",
        "Conventions": "CF-1.10",
        "stack_id": stack.attrs.get("stack_id", ""),
        "source_stack": stack_url or "",
        "source_acquisitions": json.dumps(list(stack.attrs.get("acquisitions", []))),
        "reference_product": stack.attrs.get("reference_product", ""),
        "reference_time_index": ref,
        "burst": stack.attrs["burst"],
        "wavelength_m": float(stack.attrs.get("wavelength_m", np.nan)),
        "polarisations": pols,
        "pair_polarisations": pair_pols,
        "pairs": "the reference date with every other date, and consecutive dates; (earlier, later)",
        "calibration": ("reference product LUTs on the reference grid for every date "
                        + (f"({calibration.source})" if calibration else "")),
        "signature_config": json.dumps(config.to_dict()),
        "software": f"alignsar {__version__}",
    })
    return ds


def create_signature_store(url: str, stack_url: str, tile_size: tuple[int, int],
                           config: SignatureConfig = SignatureConfig(),
                           calibration: CalibrationInputs | None = None,
                           storage_options: dict[str, Any] | None = None,
                           stack_storage_options: dict[str, Any] | None = None) -> None:
    """Create the signature store of one stack (metadata, coordinates, empty chunked
    variables: chunks (1, tile lines, tile samples)); replaces whatever is at ``url``."""
    stack = xr.open_zarr(store.zarr_store(stack_url, stack_storage_options, read_only=True), consolidated=False)
    tmpl = signature_template(stack, config, calibration, stack_url=stack_url)
    store.remove(url, storage_options)
    n, m = stack.sizes["azimuth"], stack.sizes["range"]
    ta, tr = min(tile_size[0], n), min(tile_size[1], m)
    tmpl["tile_complete"] = (("tile_row", "tile_col"),
                             da.zeros((-(-n // ta), -(-m // tr)), dtype=np.uint8, chunks=1),
                             {"units": "1", "long_name": "tile written completely",
                              "description": "1 once every signature of the tile (tile_row, tile_col) of the "
                                             f"{ta} x {tr} tile grid is written: a rerun computes only the others",
                              "flag_values": [0, 1], "flag_meanings": "pending complete"})
    store.create_template(url, tmpl, {"time": 1, "pair": 1, "azimuth": tile_size[0], "range": tile_size[1],
                                      "tile_row": 1, "tile_col": 1}, storage_options)


def pending_tiles(url: str, storage_options: dict[str, Any] | None = None) -> list[tuple[slice, slice]]:
    """The tiles of ``tile_grid`` not yet marked complete (``tile_complete``)."""
    g = store.open_group(url, storage_options, mode="r")
    ta, tr = g["latitude"].chunks
    done = np.asarray(g["tile_complete"][:])
    return [(r, c) for r, c in tile_grid(url, storage_options) if not done[r.start // ta, c.start // tr]]


def tile_grid(url: str, storage_options: dict[str, Any] | None = None) -> list[tuple[slice, slice]]:
    """The tiles of a signature store: (row slice, column slice) of each chunk of the
    tile grid, row-major."""
    g = store.open_group(url, storage_options, mode="r")
    n, m = g["latitude"].shape
    ta, tr = g["latitude"].chunks
    return [(r, c) for r in store.tile_slices(n, ta) for c in store.tile_slices(m, tr)]


def _check_tile(tile: tuple[slice, slice], shape: tuple[int, int],
                chunks: tuple[int, int]) -> tuple[int, int, int, int]:
    bounds = []
    for s, n, c, axis in zip(tile, shape, chunks, ("azimuth", "range")):
        a, b = s.start or 0, n if s.stop is None else s.stop
        if not (0 <= a < b <= n) or a % c or (b % c and b != n) or s.step not in (None, 1):
            raise ValueError(f"tile {tile}: {axis} slice {a}:{b} is not a whole run of chunks of {c} in 0..{n} "
                             "(tiles must own whole chunks of the signature store)")
        bounds += [a, b]
    return tuple(bounds)


def _mark_tile(sig, i0: int, j0: int) -> None:
    """Flag the tile complete (its own chunk of ``tile_complete``: no two tasks share it)."""
    if "tile_complete" in sig:
        ta, tr = sig["latitude"].chunks
        sig["tile_complete"][i0 // ta, j0 // tr] = 1


def _mean_amplitudes(src, valid, ref_valid, pols, n_t, box, secs):
    """Time-mean amplitude |DN| of each polarisation over every date's valid area on the
    tile + halo (NaN where no date is valid), and the number of valid dates per pixel:
    the inputs of the homogeneous-pixel test of ``coherence.adaptive_coherence``."""
    e0, e1, f0, f1 = box
    t0 = time.perf_counter()
    total = {p: np.zeros((e1 - e0, f1 - f0), np.float64) for p in pols}
    n_valid = np.zeros((e1 - e0, f1 - f0), np.int32)
    for t in range(n_t):
        ok = ref_valid & (np.asarray(valid[t, e0:e1, f0:f1]) > 0) if valid is not None else ref_valid
        n_valid += ok
        for p in pols:
            total[p] += np.where(ok, np.abs(np.asarray(src[p][t, e0:e1, f0:f1])), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = {p: np.where(n_valid > 0, total[p] / n_valid, np.nan).astype(np.float32) for p in pols}
    secs["read"] += time.perf_counter() - t0
    return amp, n_valid


def compute_tile(stack_url: str, signatures_url_: str, tile: tuple[slice, slice], *,
                 calibration: CalibrationInputs | None = None,
                 storage_options: dict[str, Any] | None = None,
                 stack_storage_options: dict[str, Any] | None = None,
                 product_storage_options: dict[str, Any] | None = None,
                 write_threads: int = 2) -> dict[str, float]:
    """Compute every signature of one tile of a stack and write its region.

    ``tile``: (row slice, column slice) owning whole chunks of the signature store
    (``tile_grid``). Reads, date by date, the tile extended by the halo of the store's
    ``SignatureConfig`` (clipped at the burst edges) from the stack, computes
    (``date_signatures``, ``pair_signatures``, the streamed Quegan & Yu filter and the
    soil-moisture index) over the tile's own pixels (arrays of the tile's shape, each
    handed to Zarr as its chunk: no copy before encoding) and writes the tile's chunks
    (writes overlap the next date's reads and compute). The reference date and the previous date stay in
    memory for the pairs. ``calibration``: the reference product's LUTs (read from the
    product, with ``product_storage_options``, when None). Returns seconds spent
    reading, computing and writing.
    """
    from .. import speckle  # (not at the top: speckle imports this package's window module)

    t_start = time.perf_counter()
    tune_malloc()
    sig = store.open_group(signatures_url_, storage_options)
    stk = store.open_group(stack_url, stack_storage_options, mode="r")
    attrs = dict(sig.attrs)
    config = SignatureConfig.from_dict(json.loads(attrs["signature_config"]))
    pols = list(attrs["polarisations"])
    pair_pols = list(attrs["pair_polarisations"])
    burst = json.loads(attrs["burst"])
    n, m = sig["latitude"].shape
    if stk[f"slc_{pols[0].lower()}"].shape[1:] != (n, m):
        raise ValueError(f"{stack_url} does not match the signature store {signatures_url_} (shape)")
    i0, i1, j0, j1 = _check_tile(tile, (n, m), sig["latitude"].chunks)
    if calibration is None:
        calibration = load_calibration(attrs, pols, product_storage_options, beta_gamma=config.beta_gamma)
    ha, hr = config.halo
    e0, e1, f0, f1 = max(0, i0 - ha), min(n, i1 + ha), max(0, j0 - hr), min(m, j1 + hr)
    crop = (slice(i0 - e0, i1 - e0), slice(j0 - f0, j1 - f0))
    region = (i0 - e0, i1 - e0, j0 - f0, j1 - f0)  # the outputs: the tile without its halo
    rows = np.arange(e0, e1)
    lines = rows + int(burst["line_offset"])
    pixels = np.arange(f0, f1)
    valid_rows = (rows >= burst["valid_first_line"]) & (rows <= burst["valid_last_line"])
    valid_samples = (int(burst["valid_first_sample"]) - f0, int(burst["valid_last_sample"]) - f0)
    valid_cols = (pixels >= burst["valid_first_sample"]) & (pixels <= burst["valid_last_sample"])
    ref_valid = valid_rows[:, None] & valid_cols[None, :]  # the reference's valid area, tile + halo
    valid = ref_valid[crop]
    has_date_valid = "valid" in stk  # stacks written before per-date masks have only the reference's
    windows = set(config.windows)

    def date_masks(m: np.ndarray) -> dict[Any, np.ndarray]:
        """Output masks of a date (or pair) from its valid area on the tile + halo: the
        pixel itself ("pixel") and, per window, every pixel of the window valid (the
        window mean of the mask is exactly 1)."""
        out: dict[Any, np.ndarray] = {"pixel": m[crop]}
        mf = m.astype(np.float32)
        for w in windows:
            out[w] = valid & (box_mean(mf, w)[crop] == 1.0)
        return out

    def mask_of(name: str, masks: dict[Any, np.ndarray]) -> np.ndarray:
        return masks["pixel" if _single_look(name) else _window_of(name, config)]
    n_t = stk[f"slc_{pols[0].lower()}"].shape[0]
    ref = int(attrs["reference_time_index"])
    pairs = list(zip(np.asarray(sig["pair_first"][:]).tolist(), np.asarray(sig["pair_second"][:]).tolist())) \
        if "pair_first" in sig else []
    co_, cross = _co_cross(pols)
    secs = {"read": 0.0, "compute": 0.0, "write": 0.0}

    src = {p: stk[f"slc_{p.lower()}"] for p in pols}  # opened once: each open reads metadata
    src["removed_phase"] = stk["removed_phase"]
    dst: dict[str, Any] = {}

    def read(t: int) -> dict[str, np.ndarray]:
        t0 = time.perf_counter()
        d = {k: np.asarray(a[t, e0:e1, f0:f1]) for k, a in src.items()}
        m = ref_valid & (np.asarray(stk["valid"][t, e0:e1, f0:f1]) > 0) if has_date_valid else ref_valid
        d["masks"] = date_masks(m)
        d["valid"] = m
        secs["read"] += time.perf_counter() - t0
        return d

    writes: list[cf.Future] = []

    def write(name: str, index: int | None, value: np.ndarray, cropped: bool = False,
              mask: np.ndarray | None = None, masked: bool = False) -> None:
        """Queue the region write of one output (tile + halo arrays, ``cropped`` False,
        are cropped here; NaN outside ``mask`` (default: the burst's valid area) unless
        ``masked`` already, but for the copied local metadata)."""
        if name not in METADATA and not masked:
            value = _nan_outside(value if cropped else value[crop], valid if mask is None else mask)
        if index is None:
            where = (slice(i0, i1), slice(j0, j1))
        else:  # (1, tile) into its (1, tile) chunk: zarr encodes the array as it is, no merge copy
            where = (slice(index, index + 1), slice(i0, i1), slice(j0, j1))
            value = value[None]
        if name not in dst:
            # every chunk is written as it is: zarr's test for an all-NaN chunk (to skip
            # writing it) cost a full pass per chunk, 7 % of the stage's CPU time; tiles
            # wholly outside the burst keep the default and store nothing
            dst[name] = sig[name].with_config({"write_empty_chunks": bool(valid.any())})
        arr = dst[name]

        def job():
            t0 = time.perf_counter()
            arr[where] = value
            return time.perf_counter() - t0

        while len(writes) >= 4 * write_threads:  # bound the outputs waiting in memory
            secs["write"] += writes.pop(0).result()
        writes.append(writers.submit(job))

    pair_cal = {p: tile_calibration(calibration, p, lines, pixels, noise=False) for p in pair_pols}
    order = [ref] + [t for t in range(n_t) if t != ref]  # the reference first: every pair has it or its predecessor
    pos = {t: k for k, t in enumerate(order)}
    local_means: dict[str, list[np.ndarray | None]] = {p: [None] * n_t for p in pols}
    qy_total = {p: np.zeros((i1 - i0, j1 - j0), np.float64) for p in pols}
    qy_count = {p: np.zeros((i1 - i0, j1 - j0), np.int64) for p in pols}
    kept: dict[int, dict[str, np.ndarray]] = {}
    done: set[int] = set()
    with cf.ThreadPoolExecutor(max_workers=write_threads) as writers, cf.ThreadPoolExecutor(max_workers=1) as readers:
        for name in METADATA:  # local metadata: the tile itself, no halo
            t0 = time.perf_counter()
            value = np.asarray(stk[name][i0:i1, j0:j1])
            secs["read"] += time.perf_counter() - t0
            write(name, None, value)
        if not valid.any():  # outside the burst's valid area: every signature is NaN
            nan = np.full(valid.shape, np.nan, np.float32)
            for name, arr in sig.arrays():
                if name not in METADATA and arr.ndim >= 2 and np.issubdtype(arr.dtype, np.floating):
                    for index in ([None] if arr.ndim == 2 else range(arr.shape[0])):
                        write(name, index, nan, cropped=True)
            for f in writes:
                secs["write"] += f.result()
            _mark_tile(sig, i0, j0)
            secs["total"] = time.perf_counter() - t_start
            return secs
        if config.adaptive_window is not None:  # a first pass over the dates: the time-mean amplitudes
            amp, n_valid = _mean_amplitudes(src, stk["valid"] if has_date_valid else None, ref_valid, pair_pols,
                                            n_t, (e0, e1, f0, f1), secs)
            t0 = time.perf_counter()
            for p in pair_pols:
                write(f"shp_count_{p.lower()}", None,
                      co.shp_count(amp[p], config.adaptive_window, n_valid, config.shp_alpha))
            secs["compute"] += time.perf_counter() - t0
        ahead = readers.submit(read, order[0])
        for k, t in enumerate(order):
            cur = ahead.result()
            if k + 1 < len(order):  # read the next date while this one is computed
                ahead = readers.submit(read, order[k + 1])
            t0 = time.perf_counter()
            powers: dict[str, np.ndarray] = {}
            out = date_signatures({p: cur[p] for p in pols}, lines, pixels, calibration, config,
                                  valid_rows=valid_rows, valid_samples=valid_samples, powers=powers, region=region)
            cur.update({f"power_{p}": powers[p] for p in pair_pols})
            # NaN outside the date's own valid area, in place: the tile-shaped outputs are
            # this date's alone (C11 / C22 also feed the pairs as the powers: a pair is NaN
            # wherever the window of one of its dates reaches outside, so NaN powers there
            # change nothing)
            for name, value in out.items():  # (a copy where an output is a view)
                out[name] = _nan_outside(value, mask_of(name, cur["masks"]), in_place=True)
            for p in pols:  # the date's own valid area: zero fill must not enter the series
                mean = out.pop(f"sigma0_{p.lower()}_local_mean")
                speckle.quegan_yu_add(out[f"sigma0_{p.lower()}"], mean, qy_total[p], qy_count[p])
                local_means[p][t] = mean
            secs["compute"] += time.perf_counter() - t0
            for name, value in out.items():
                write(name, t, value, masked=True)
            del out
            kept[t] = cur
            # pairs of this date whose other date came earlier in ``order``: that date is
            # the reference or the one just before (kept)
            for ip, (a, b) in enumerate(pairs):
                other = b if t == a else a if t == b else None
                if other is None or pos[other] > k:
                    continue
                if other not in kept:
                    raise RuntimeError(f"pair ({a}, {b}): date {other} no longer in memory")
                t0 = time.perf_counter()
                removed = fused.phase_factors(kept[b]["removed_phase"] - kept[a]["removed_phase"])
                masks = date_masks(kept[a]["valid"] & kept[b]["valid"])
                res = {p: pair_signatures(kept[a][p], kept[b][p], removed, config, pair_cal[p],
                                          kept[a][f"power_{p}"], kept[b][f"power_{p}"], region=region)
                       for p in pair_pols}
                if config.adaptive_window is not None:
                    for p in pair_pols:
                        res[p]["coherence_adaptive"] = co.adaptive_coherence(
                            kept[a][p], kept[b][p], amp[p], config.adaptive_window, n_valid, config.shp_alpha,
                            removed_phase=removed)
                secs["compute"] += time.perf_counter() - t0
                for p, r in res.items():
                    for name, value in r.items():  # (the adaptive coherence is of the tile + halo)
                        write(f"{name}_{p.lower()}", ip, value, cropped=name != "coherence_adaptive",
                              mask=mask_of(name, masks))
                done.add(ip)
            for old in [d for d in kept if d not in (ref, t)]:  # keep the reference and this date
                del kept[old]
        if len(done) != len(pairs):
            raise RuntimeError(f"pairs not computed: {[pairs[i] for i in range(len(pairs)) if i not in done]}")
        # time series: Quegan & Yu and the soil-moisture index
        t0 = time.perf_counter()
        for p in pols:
            for t in range(n_t):
                write(f"sigma0_{p.lower()}_quegan_yu", t,
                      speckle.quegan_yu_finish(local_means[p][t], qy_total[p], qy_count[p]), cropped=True)
        if co_:
            ms, dry, wet = sm.relative_soil_moisture(sp.to_db(np.stack(local_means[co_])),
                                                     *config.soil_moisture_percentiles, axis=0,
                                                     return_references=True)
            for t in range(n_t):
                write("soil_moisture_index", t, ms[t], cropped=True)
            write("sigma0_dry", None, dry, cropped=True)
            write("sigma0_wet", None, wet, cropped=True)
        secs["compute"] += time.perf_counter() - t0
        for f in writes:
            secs["write"] += f.result()
    _mark_tile(sig, i0, j0)  # only after every write of the tile went through
    secs["total"] = time.perf_counter() - t_start
    return secs


#: Per-date variables of a dual-pol (VV + VH) stack with the default configuration.
SIGNATURE_VARIABLES_PER_DATE = (
    "amplitude_vv", "intensity_vv", "slc_phase_vv", "amplitude_vh", "intensity_vh", "slc_phase_vh", "sigma0_vv", "sigma0_vv_db", "sigma0_vh", "sigma0_vh_db", "c11", "c22", "c12_real", "c12_imag",
    "entropy_dual", "alpha_dual", "degree_of_polarisation", "dprvi", "rvi_dual", "sigma0_sum",
    "sigma0_difference", "cross_pol_ratio_db", "sigma0_vv_quegan_yu", "sigma0_vh_quegan_yu", "soil_moisture_index")
