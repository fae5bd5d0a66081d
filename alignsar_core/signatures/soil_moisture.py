"""Relative surface soil moisture by change detection (Wagner, Lemoine & Rott 1999,
"A method for estimating soil moisture from ERS scatterometer and soil data", Remote
Sensing of Environment 70(2); Wagner et al. 1999 "Retrieval of soil moisture over
Canada" / TU Wien change detection):

    m_s(t) = (sigma0(t) - sigma0_dry) / (sigma0_wet - sigma0_dry),   clipped to [0, 1]

per pixel, with the dry and wet references taken from the pixel's own backscatter
series: low and high percentiles (defaults 5 % and 95 %, robust against outliers)
of sigma0 in dB (the change-detection model is linear in dB). Incidence-angle
normalisation is not done here: in a burst stack every date sees a pixel at the same
incidence angle. Per pixel, no spatial window: halo 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ATTRS", "reference_levels", "relative_soil_moisture"]

_REF = ("Wagner, Lemoine & Rott 1999, A method for estimating soil moisture from ERS scatterometer "
        "and soil data, Remote Sensing of Environment 70(2) (TU Wien change detection)")

ATTRS: dict[str, dict[str, str]] = {
    "soil_moisture_index": {
        "units": "1", "long_name": "relative surface soil moisture (change detection, 0 dry .. 1 wet)",
        "formula": "(sigma0_dB - dry) / (wet - dry) clipped to [0, 1]; dry, wet = low/high percentile of the pixel's sigma0_dB series",
        "reference": _REF,
    },
    "sigma0_dry": {"units": "dB", "long_name": "dry reference backscatter (low percentile of the series)",
                   "formula": "percentile_q_dry(sigma0_dB over time)", "reference": _REF},
    "sigma0_wet": {"units": "dB", "long_name": "wet reference backscatter (high percentile of the series)",
                   "formula": "percentile_q_wet(sigma0_dB over time)", "reference": _REF},
}


def reference_levels(series: np.ndarray, percentiles=(5.0, 95.0), axis: int = 0,
                     min_dates: int = 3) -> np.ndarray:
    """Per-pixel percentiles of a time series, ignoring NaN, vectorised.

    numpy's ``nanpercentile`` walks the pixels one by one in Python when NaNs are
    present (``apply_along_axis``), so the series is sorted along time once (NaN last)
    and each pixel's percentile is interpolated linearly between the order statistics
    at position q/100 (n_valid - 1) (numpy's default "linear" method). Pixels with
    fewer than ``min_dates`` valid dates give NaN. Returns (len(percentiles), ...)
    float32.
    """
    x = np.moveaxis(np.asarray(series, dtype=np.float32), axis, 0)
    srt = np.sort(x, axis=0)  # NaN sort last
    nvalid = np.sum(np.isfinite(x), axis=0)
    out = np.empty((len(percentiles),) + x.shape[1:], dtype=np.float32)
    last = np.maximum(nvalid - 1, 0)
    for k, q in enumerate(percentiles):  # a loop over percentiles, not pixels
        pos = (float(q) / 100.0) * last
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, last)
        frac = (pos - lo).astype(np.float32)
        vlo = np.take_along_axis(srt, lo[None], axis=0)[0]
        vhi = np.take_along_axis(srt, hi[None], axis=0)[0]
        v = vlo + frac * (vhi - vlo)
        v[nvalid < max(1, min_dates)] = np.nan
        out[k] = v
    return out


def relative_soil_moisture(sigma0_db: np.ndarray, dry_percentile: float = 5.0,
                           wet_percentile: float = 95.0, axis: int = 0, min_dates: int = 3,
                           return_references: bool = False):
    """Change-detection soil moisture index in [0, 1] for every date of a series.

    ``sigma0_db``: backscatter series in dB with time on ``axis`` (e.g. (time, az, rg));
    m_s = (sigma0 - dry) / (wet - dry), clipped to [0, 1]; NaN where the pixel has
    fewer than ``min_dates`` valid dates, no dynamic range (wet <= dry) or NaN input.
    With ``return_references`` also (dry, wet) in dB. Wagner, Lemoine & Rott 1999.
    """
    x = np.asarray(sigma0_db, dtype=np.float32)
    dry, wet = reference_levels(x, (dry_percentile, wet_percentile), axis=axis, min_dates=min_dates)
    rng = wet - dry
    xm = np.moveaxis(x, axis, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ms = (xm - dry) / rng
    np.clip(ms, 0.0, 1.0, out=ms)
    ms[:, ~(rng > 0)] = np.nan
    ms = np.moveaxis(ms, 0, axis)
    return (ms, dry, wet) if return_references else ms
