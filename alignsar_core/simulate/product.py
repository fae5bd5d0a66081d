"""Simulated Sentinel-1 IW SLC products (SAFE folder or zip) with known backscatter.

A small but complete SAFE product is written from a REAL product's metadata (the
template, by default the S1B product in ``../shared/data/sentinel1``): a few bursts
of one swath, cropped in range from sample 0, in one or two polarisations. Every
XML file keeps the template's values (orbit, timing, Doppler, FM rate, antenna
pattern, ESA's geolocation grid, calibration and noise LUTs); only what the crop
and the date shift change is rewritten. The pixels are new: circular Gaussian
speckle whose mean calibrated backscatter follows a known map.

Pixels (ESA, "Radiometric Calibration of Sentinel-1 Products",
ESA-EOPG-CSCOP-TN-0002: ``sigma0 = |DN|^2 / A_sigma^2``)::

    DN(l, s) = sqrt(sigma0(l, s)) * A_sigma(l, s) * (n_re + i n_im) / sqrt(2),
    n_re, n_im ~ N(0, 1) independent   =>   E|DN|^2 = sigma0 * A_sigma^2

i.e. fully developed single-look speckle (intensity exponential, amplitude
Rayleigh, phase uniform). ``A_sigma`` is the template's ``sigmaNought`` LUT,
bilinearly interpolated from its sparse (line, pixel) grid to every pixel (as
xarray-sentinel's ``calibrate_intensity`` does). Re and Im are rounded to int16
(CInt16, as in ESA products); the rounding adds 1/6 to E|DN|^2, a relative bias
below 1e-3 for the default map (|DN| of tens to hundreds). Lines and samples
outside each burst's valid area (``firstValidSample == -1`` lines, samples outside
``[firstValidSample, lastValidSample]``) are zero, as in ESA products. No thermal
noise is added in this version.

Layout written (Sentinel-1 Product Specification, S1-RS-MDA-52-7441)::

    NAME.SAFE/manifest.safe                         sizes + MD5 of every file
    NAME.SAFE/annotation/s1b-iw1-slc-vv-....xml
    NAME.SAFE/annotation/calibration/{calibration,noise}-s1b-iw1-slc-vv-....xml
    NAME.SAFE/measurement/s1b-iw1-slc-vv-....tiff   CInt16, 1 row per strip
    NAME.SAFE/support/*.xsd                         (those the template has)

``NAME`` follows the ESA convention
``S1B_IW_SLC__1SDV_{start}_{stop}_{absolute orbit:06d}_{datatake:06X}_{CRC}`` with
the product unique identifier ``CRC`` = CRC-16/CCITT of manifest.safe (as ESA).

Geometry kept exact: geolocation grid points, calibration and noise vectors are
never interpolated or invented; the crop keeps the template's own vectors/points
that cover it, including the nearest ones just outside it (line values may be
negative or beyond the last line, as in real products). In particular the grid
keeps rows up to the first one whose azimuth time (from the burst timing) reaches
the crop's last line: TOPS bursts overlap in time, so the last line of a burst is
*later* than the first line of the next burst (the grid row at the next burst
start does not cover it); columns go to the first one at or beyond the last
sample. ESA's grid stays an independent check for geometry code. (ESA's grid
``azimuthTime`` values run ~0.25 ms, range dependent, before the annotation's
line times: compare grid and image times with that tolerance.)

Date shift: every date in every XML file (and in names) moves by
``date_shift_days``; the absolute orbit moves by 175 orbits per 12 days (the
Sentinel-1 repeat cycle), the relative orbit, ``azimuthAnxTime`` and the orbit
state vectors (Earth-fixed, so they repeat) stay as they are. The shift must be a
multiple of 12 days for one satellite to fly the same relative orbit.
"""

from __future__ import annotations

import binascii
import dataclasses
import datetime as _dt
import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Union

import numpy as np
import rasterio
import tifffile
from lxml import etree
from rasterio.control import GroundControlPoint
from rasterio.windows import Window
from xarray_sentinel import esa_safe

from ..calibration import CalibrationLut
from ..settings import shared_data_dir

#: The real product used as geometry template by default (in the shared data folder).
TEMPLATE_PRODUCT = "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"

#: Sentinel-1 repeat cycle: 175 orbits in 12 days (one satellite).
REPEAT_CYCLE_DAYS = 12
ORBITS_PER_CYCLE = 175
#: Datatake ids advance by about 8 per orbit (S1B: 205463 datatakes in 26269 orbits);
#: only used to give shifted products plausible, distinct datatake ids.
DATATAKES_PER_ORBIT = 8

#: Default sigma0 map: patches of this many swath lines x samples.
PATCH_LINES = 500
PATCH_SAMPLES = 512
#: Linear sigma0 of the 8 patch classes before the smooth +/-20 % modulation:
#: geometric ladders, VV 0.0625..0.25 and VH 0.00625..0.0417, in different class
#: orders so the VH/VV ratio differs between classes too.
_VV_LADDER = 0.0625 * 4.0 ** (np.arange(8) / 7.0)
_VH_LADDER = 0.00625 * (0.25 / 0.0375) ** (np.arange(8) / 7.0)
_DEFAULT_LEVELS = {
    "VV": _VV_LADDER[[0, 5, 2, 7, 4, 1, 6, 3]],
    "VH": _VH_LADDER[[6, 1, 4, 0, 7, 2, 5, 3]],
}
_DEFAULT_LEVELS["HH"] = _DEFAULT_LEVELS["VV"]
_DEFAULT_LEVELS["HV"] = _DEFAULT_LEVELS["VH"]

Sigma0Function = Callable[[str, np.ndarray, np.ndarray], np.ndarray]
Sigma0Spec = Union[None, Sigma0Function, Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]]

_KIND_BY_REP = {
    "s1Level1ProductSchema": "annotation",
    "s1Level1CalibrationSchema": "calibration",
    "s1Level1NoiseSchema": "noise",
    "s1Level1MeasurementSchema": "measurement",
}
#: dataObject ID prefix per file kind in ESA manifests (ID = prefix + file stem without dashes)
_ID_PREFIX = {"annotation": "product", "calibration": "calibration", "noise": "noise", "measurement": ""}


# --------------------------------------------------------------------------------------
# Public API


def default_template() -> Path:
    """The real S1B IW SLC product used as template (it may be missing: check ``is_dir``)."""
    return shared_data_dir() / "sentinel1" / TEMPLATE_PRODUCT


def default_patch_class(line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Class (0..7) of the default map's patch holding each (swath line, sample).

    Patches are ``PATCH_LINES x PATCH_SAMPLES``; class = (3 i + 5 j) mod 8 for patch
    row i and column j, so no two neighbouring patches share a class.
    """
    i = _on_grid(lambda x: 3 * (x // PATCH_LINES), line)
    j = _on_grid(lambda x: 5 * (x // PATCH_SAMPLES), sample)
    return ((i + j) % 8).astype(np.intp, copy=False)


def default_sigma0(pol: str, line: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """Default known backscatter map: linear sigma0 at (swath line, sample).

    ``sigma0 = level[pol][class(line, sample)] * (1 + 0.2 sin(2 pi line/6000 + 0.5)
    cos(2 pi sample/8000 + 0.3))``: blocky patches (see ``default_patch_class``)
    times a smooth +/-20 % modulation. VV (and HH) lies in 0.05..0.3, VH (and HV)
    in 0.005..0.05. ``line`` is the line index in the template swath (product line
    + ``first_burst * lines_per_burst``), so the map is tied to the template's
    bursts, not to the crop.
    """
    key = pol.upper()
    if key not in _DEFAULT_LEVELS:
        raise ValueError(f"no default sigma0 for polarisation {pol!r}")
    level = _DEFAULT_LEVELS[key][default_patch_class(line, sample)]
    smooth_l = _on_grid(lambda x: 0.2 * np.sin(2 * np.pi * x / 6000.0 + 0.5), line)
    smooth_s = _on_grid(lambda x: np.cos(2 * np.pi * x / 8000.0 + 0.3), sample)
    return level * (1.0 + smooth_l * smooth_s)


def _on_grid(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``fn(x)`` elementwise; for integer ``x`` through a table of ``fn`` over
    ``x.min()..x.max()`` (the same values, a gather instead of a transcendental per
    pixel: the 2-D index arrays repeat each line/sample many times)."""
    x = np.asarray(x)
    if x.size == 0 or not np.issubdtype(x.dtype, np.integer):
        return fn(x)
    lo = int(x.min())
    table = np.asarray(fn(np.arange(lo, int(x.max()) + 1, dtype=np.int64)))
    return table[x - lo]


@dataclasses.dataclass
class SimulatedProduct:
    """What ``simulate_product`` wrote, with the ground truth kept beside it.

    ``sigma0_truth[pol]`` is the true linear sigma0 of every pixel (zero where
    invalid): E|DN|^2 / A_sigma^2 = sigma0_truth. ``valid_mask`` marks the pixels
    inside the bursts' valid areas. Line indices are those of the written product
    (0 .. n_bursts * lines_per_burst - 1); the template swath line is
    ``line + first_line``.
    """

    path: Path  # the .SAFE folder or the .zip
    name: str  # product name without extension
    swath: str
    polarisations: tuple[str, ...]
    n_bursts: int
    lines_per_burst: int
    n_samples: int
    first_burst: int  # index of the first kept burst in the template swath
    first_line: int  # template swath line of product line 0
    seed: int
    date_shift_days: int
    absolute_orbit: int
    relative_orbit: int
    burst_times: list[str]  # azimuthTime of each burst's first line (ISO, UTC)
    byte_offsets: dict[str, list[int]]  # pol -> annotation byteOffset per burst
    files: dict[str, dict[str, str]]  # pol -> kind -> path relative to the SAFE folder
    sigma0_truth: dict[str, np.ndarray]  # pol -> (lines, n_samples) float32
    valid_mask: np.ndarray  # (lines, n_samples) bool
    sigma_lut: dict[str, CalibrationLut]  # pol -> the sigmaNought LUT written (and used)

    @property
    def lines(self) -> int:
        return self.n_bursts * self.lines_per_burst

    @property
    def is_zip(self) -> bool:
        return self.path.suffix.lower() == ".zip"

    @property
    def safe_name(self) -> str:
        return self.name + ".SAFE"


def simulate_product(
    out_dir: str | os.PathLike,
    *,
    n_bursts: int = 3,
    n_samples: int = 2048,
    swath: str = "IW1",
    polarisations: Sequence[str] = ("VV", "VH"),
    first_burst: int = 0,
    seed: int = 0,
    sigma0: Sigma0Spec = None,
    date_shift_days: int = 0,
    template: str | os.PathLike | None = None,
    as_zip: bool = False,
    add_noise: bool = False,
    pixel_source: "PixelSource | None" = None,
    annotation_edit: "Callable[[str, etree._Element, _Crop], None] | None" = None,
) -> SimulatedProduct:
    """Write a simulated Sentinel-1 IW SLC product into ``out_dir`` and return its truth.

    Keeps bursts ``first_burst .. first_burst + n_bursts - 1`` of ``swath`` and range
    samples ``0 .. n_samples - 1`` of the template (default ``default_template()``),
    for each polarisation in ``polarisations`` (the template must hold their
    annotation, calibration and noise files; its measurement TIFFs are not read).

    ``sigma0``: None for ``default_sigma0``; a callable ``f(pol, line, sample)``; or a
    mapping ``pol -> f(line, sample)``. It is called on blocks of lines with full
    2-D integer arrays (template swath line, sample) and must return linear sigma0
    (finite, >= 0) of the same shape; it must be pointwise.

    Speckle: ``numpy.random.Generator(PCG64(SeedSequence([seed, pol, burst])))``
    per polarisation and template burst index (``pol`` as its ASCII code, e.g.
    VV -> 0x5656), drawn row by row, so results are reproducible and a burst's
    pixels do not depend on the other bursts kept. The date shift does not change
    the speckle: products of several dates with one seed are fully coherent; use
    different seeds for decorrelated dates.

    Hooks for the scene simulator (``simulate.radar``): ``pixel_source`` replaces the
    speckle generator (it yields the complex CInt16-valued blocks and gives the truth);
    ``annotation_edit(pol, root, crop)`` edits each cropped annotation (template
    dates; e.g. a shifted orbit and the geolocation grid that goes with it) before the
    GCPs are taken from it and the dates are shifted.

    Writes ``out_dir/NAME.SAFE`` or, with ``as_zip``, ``out_dir/NAME.zip`` holding
    the ``NAME.SAFE`` folder as its single top-level entry (ZIP_STORED, so members
    are seekable, as ESA zips). An existing product of the same name is replaced.
    """
    if add_noise:
        raise NotImplementedError("thermal noise is not simulated yet (add_noise=True)")
    template = Path(template) if template is not None else default_template()
    if not (template / "manifest.safe").is_file():
        raise FileNotFoundError(f"template product not found (no manifest.safe): {template}")
    swath = swath.upper()
    pols = tuple(p.upper() for p in polarisations)
    if not pols or len(set(pols)) != len(pols):
        raise ValueError(f"polarisations must be distinct and non-empty: {polarisations!r}")
    date_shift_days = int(date_shift_days)
    if date_shift_days % REPEAT_CYCLE_DAYS:
        raise ValueError(
            f"date_shift_days={date_shift_days} is not a multiple of the {REPEAT_CYCLE_DAYS}-day "
            "repeat cycle: one satellite flies the same relative orbit only every 12 days")
    orbit_shift = date_shift_days // REPEAT_CYCLE_DAYS * ORBITS_PER_CYCLE

    tfiles = _template_files(template)
    for pol in pols:
        have = tfiles.get((swath, pol), {})
        missing = [k for k in ("annotation", "calibration", "noise") if k not in have or not have[k].is_file()]
        if "measurement" not in have.get("hrefs", {}):
            missing.append("measurement (manifest entry)")
        if missing:
            avail = sorted(f"{s}/{p}" for (s, p), f in tfiles.items()
                           if all(k in f and f[k].is_file() for k in ("annotation", "calibration", "noise")))
            raise ValueError(f"template has no {', '.join(missing)} file for {swath}/{pol}; available: {avail}")

    # ---- parse the template XML of every polarisation
    ann = {p: etree.fromstring(tfiles[(swath, p)]["annotation"].read_bytes()) for p in pols}
    cal = {p: etree.fromstring(tfiles[(swath, p)]["calibration"].read_bytes()) for p in pols}
    noi = {p: etree.fromstring(tfiles[(swath, p)]["noise"].read_bytes()) for p in pols}
    crop = _Crop.from_annotation(ann[pols[0]], first_burst, n_bursts, n_samples)
    for p in pols[1:]:
        other = _Crop.from_annotation(ann[p], first_burst, n_bursts, n_samples)
        if other.burst_times != crop.burst_times or not np.array_equal(other.valid_mask(), crop.valid_mask()):
            raise ValueError(f"template {swath}: {pols[0]} and {p} bursts differ (timing or valid area)")
    valid = crop.valid_mask()

    mission = ann[pols[0]].findtext("adsHeader/missionId").strip()
    orbit = int(ann[pols[0]].findtext("adsHeader/absoluteOrbitNumber")) + orbit_shift
    datatake = int(ann[pols[0]].findtext("adsHeader/missionDataTakeId")) + orbit_shift * DATATAKES_PER_ORBIT
    if orbit < 1 or datatake < 0:
        raise ValueError(f"date_shift_days={date_shift_days} goes before the mission's first orbit")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".simulate-", dir=out_dir))
    try:
        safe = work / "product.SAFE"
        for sub in ("annotation/calibration", "measurement", "support"):
            (safe / sub).mkdir(parents=True)
        start_c = _compact_time(_shift_time(crop.first_line_time, date_shift_days))
        stop_c = _compact_time(_shift_time(crop.last_line_time, date_shift_days))

        truth: dict[str, np.ndarray] = {}
        luts: dict[str, CalibrationLut] = {}
        offsets: dict[str, list[int]] = {}
        files: dict[str, dict[str, str]] = {}
        written: dict[str, tuple[str, str]] = {}  # template href -> (new href, kind)
        for pol in pols:
            tf = tfiles[(swath, pol)]
            stem = (f"{mission.lower()}-{swath.lower()}-slc-{pol.lower()}-{start_c}-{stop_c}-"
                    f"{orbit:06d}-{datatake:06x}-{tf['image_number']}")
            rel = {
                "annotation": f"annotation/{stem}.xml",
                "calibration": f"annotation/calibration/calibration-{stem}.xml",
                "noise": f"annotation/calibration/noise-{stem}.xml",
                "measurement": f"measurement/{stem}.tiff",
            }
            files[pol] = rel
            for kind, href in tf["hrefs"].items():
                written[href] = ("./" + rel[kind], kind)

            gcps = _crop_annotation(ann[pol], crop)
            if annotation_edit is not None:
                annotation_edit(pol, ann[pol], crop)
                gcps = _grid_gcps(ann[pol])
            luts[pol] = _crop_calibration(cal[pol], crop)
            _crop_noise(noi[pol], crop)

            truth[pol] = np.zeros((crop.n_lines, crop.n_samples), dtype=np.float32)
            strip_offsets = _write_measurement(
                safe / rel["measurement"], crop, gcps,
                _pixel_blocks(pol, crop, luts[pol], valid, sigma0, seed, truth[pol])
                if pixel_source is None else pixel_source.blocks(pol, crop, luts[pol], valid))
            if pixel_source is not None:
                truth[pol] = pixel_source.sigma0_truth(pol)
            offsets[pol] = [int(strip_offsets[k * crop.lines_per_burst]) for k in range(crop.n_bursts)]
            for b, off in zip(ann[pol].findall("swathTiming/burstList/burst"), offsets[pol]):
                b.find("byteOffset").text = str(off)

            for root, kind in ((ann[pol], "annotation"), (cal[pol], "calibration"), (noi[pol], "noise")):
                _set_header(root, crop, orbit, datatake)
                data = _shift_iso_dates(_serialise(root), date_shift_days)
                (safe / rel[kind]).write_bytes(data)

        for xsd in sorted((template / "support").glob("*.xsd")):
            shutil.copyfile(xsd, safe / "support" / xsd.name)

        manifest = _build_manifest(
            template, safe, written, crop, ann[pols[0]], swath, pols, orbit_shift, datatake,
            date_shift_days)
        manifest_bytes = _shift_product_names(
            _shift_iso_dates(manifest, date_shift_days), date_shift_days, orbit_shift,
            orbit_shift * DATATAKES_PER_ORBIT)
        (safe / "manifest.safe").write_bytes(manifest_bytes)

        crc = binascii.crc_hqx(manifest_bytes, 0xFFFF)
        name = (f"{mission}_IW_SLC__1S{_polarisation_code(pols)}_{start_c.upper()}_{stop_c.upper()}_"
                f"{orbit:06d}_{datatake:06X}_{crc:04X}")
        if as_zip:
            target = out_dir / f"{name}.zip"
            tmp_zip = work / "product.zip"
            _write_zip(safe, tmp_zip, name + ".SAFE", _parse_time(crop.first_line_time, date_shift_days))
            _replace(tmp_zip, target)
        else:
            target = out_dir / f"{name}.SAFE"
            _replace(safe, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    relative_orbit = int(etree.parse(str(template / "manifest.safe")).findtext(
        ".//safe:relativeOrbitNumber", namespaces=esa_safe.SENTINEL1_NAMESPACES))
    return SimulatedProduct(
        path=target, name=name, swath=swath, polarisations=pols, n_bursts=crop.n_bursts,
        lines_per_burst=crop.lines_per_burst, n_samples=crop.n_samples,
        first_burst=crop.first_burst, first_line=crop.line0, seed=seed,
        date_shift_days=date_shift_days, absolute_orbit=orbit, relative_orbit=relative_orbit,
        burst_times=[_shift_time(t, date_shift_days) for t in crop.burst_times],
        byte_offsets=offsets, files=files, sigma0_truth=truth, valid_mask=valid, sigma_lut=luts)


# --------------------------------------------------------------------------------------
# Template and crop


def _template_files(template: Path) -> dict[tuple[str, str], dict]:
    """(swath, pol) -> {kind: Path, "hrefs": {kind: href}, "image_number": "004"}."""
    manifest = etree.parse(str(template / "manifest.safe"))
    out: dict[tuple[str, str], dict] = {}
    for obj in manifest.iter("dataObject"):
        kind = _KIND_BY_REP.get(obj.get("repID", ""))
        loc = obj.find(".//fileLocation")
        if kind is None or loc is None:
            continue
        href = loc.get("href")
        try:
            _, swath, pol, _ = esa_safe.parse_annotation_filename(href)
        except ValueError:
            continue
        entry = out.setdefault((swath.upper(), pol.upper()), {"hrefs": {}})
        entry[kind] = template / os.path.normpath(href)
        entry["hrefs"][kind] = href
        entry["image_number"] = Path(href).stem.rsplit("-", 1)[-1]
    return out


@dataclasses.dataclass
class _Crop:
    """The kept bursts and samples, from the template annotation."""

    first_burst: int
    n_bursts: int
    lines_per_burst: int
    n_samples: int
    azimuth_time_interval: float
    burst_times: list[str]  # kept bursts' first line times (template strings)
    first_valid: np.ndarray  # (n_bursts, lpb) after range crop (-1 = invalid line)
    last_valid: np.ndarray
    all_burst_times: list[str]  # every template burst

    @classmethod
    def from_annotation(cls, root, first_burst: int, n_bursts: int, n_samples: int) -> "_Crop":
        lpb = int(root.findtext("swathTiming/linesPerBurst"))
        spb = int(root.findtext("swathTiming/samplesPerBurst"))
        bursts = root.findall("swathTiming/burstList/burst")
        if n_bursts < 1 or first_burst < 0 or first_burst + n_bursts > len(bursts):
            raise ValueError(f"bursts {first_burst}..{first_burst + n_bursts - 1} not in the template "
                             f"swath ({len(bursts)} bursts)")
        if not 1 <= n_samples <= spb:
            raise ValueError(f"n_samples={n_samples} must be in 1..{spb}")
        kept = bursts[first_burst:first_burst + n_bursts]
        fv = np.array([b.findtext("firstValidSample").split() for b in kept], dtype=np.int64)
        lv = np.array([b.findtext("lastValidSample").split() for b in kept], dtype=np.int64)
        fv, lv = _clip_valid(fv, lv, n_samples)
        return cls(
            first_burst=first_burst, n_bursts=n_bursts, lines_per_burst=lpb, n_samples=n_samples,
            azimuth_time_interval=float(root.findtext("imageAnnotation/imageInformation/azimuthTimeInterval")),
            burst_times=[b.findtext("azimuthTime").strip() for b in kept],
            first_valid=fv, last_valid=lv,
            all_burst_times=[b.findtext("azimuthTime").strip() for b in bursts])

    @property
    def line0(self) -> int:
        return self.first_burst * self.lines_per_burst

    @property
    def n_lines(self) -> int:
        return self.n_bursts * self.lines_per_burst

    @property
    def first_line_time(self) -> str:
        return self.burst_times[0]

    @property
    def last_line_time(self) -> str:
        return _fmt_time(self.line_time(self.line0 + self.n_lines - 1))

    def line_time(self, line: int) -> np.datetime64:
        """Zero-Doppler time of a template swath line (each burst has its own start)."""
        k = min(max(line // self.lines_per_burst, 0), len(self.all_burst_times) - 1)
        dt_ns = (line - k * self.lines_per_burst) * self.azimuth_time_interval * 1e9
        return np.datetime64(self.all_burst_times[k], "ns") + np.timedelta64(int(round(dt_ns)), "ns")

    def valid_mask(self) -> np.ndarray:
        """(n_lines, n_samples) bool: inside [firstValidSample, lastValidSample]."""
        s = np.arange(self.n_samples)
        fv = self.first_valid.reshape(-1, 1)
        lv = self.last_valid.reshape(-1, 1)
        return (fv >= 0) & (s >= fv) & (s <= lv)


def _clip_valid(fv: np.ndarray, lv: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip valid sample ranges to the range crop: lastValidSample <= n_samples - 1;
    a line whose first valid sample is beyond the crop becomes invalid (-1, -1)."""
    fv = fv.copy()
    lv = lv.copy()
    gone = (fv >= 0) & (fv > n_samples - 1)
    fv[gone] = -1
    lv[gone] = -1
    ok = fv >= 0
    lv[ok] = np.minimum(lv[ok], n_samples - 1)
    return fv, lv


def _bracket(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Mask of the values in [lo, hi] plus the nearest one at or below ``lo`` and the
    nearest one at or above ``hi``: the sparse vectors that cover [lo, hi]."""
    v = np.asarray(values)
    keep = (v >= lo) & (v <= hi)
    if (v <= lo).any():
        keep |= v == v[v <= lo].max()
    if (v >= hi).any():
        keep |= v == v[v >= hi].min()
    return keep


def _pixel_keep(pixels: np.ndarray, n_samples: int) -> np.ndarray:
    """Indices of the pixels <= n_samples - 1 plus the first one beyond (LUT cover)."""
    idx = np.flatnonzero(pixels <= n_samples - 1)
    beyond = np.flatnonzero(pixels > n_samples - 1)
    if beyond.size:
        idx = np.append(idx, beyond[0])
    return idx


class PixelSource:
    """What ``simulate_product`` asks of an external pixel generator."""

    def blocks(self, pol: str, crop: "_Crop", lut: CalibrationLut, valid: np.ndarray):
        """Yield (first product line, complex64 block of CInt16 values) covering the product."""
        raise NotImplementedError

    def sigma0_truth(self, pol: str) -> np.ndarray:
        """True linear sigma0 (product lines x samples) of what ``blocks`` produced."""
        raise NotImplementedError


def _grid_gcps(root) -> list[GroundControlPoint]:
    """GCPs from the (cropped, possibly edited) geolocation grid."""
    return [GroundControlPoint(row=float(p.findtext("line")), col=float(p.findtext("pixel")),
                               x=float(p.findtext("longitude")), y=float(p.findtext("latitude")),
                               z=float(p.findtext("height")))
            for p in root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")]


def _crop_list_text(el, idx: np.ndarray) -> None:
    """Keep the tokens ``idx`` of a whitespace-separated list element (exact text)."""
    tokens = el.text.split()
    el.text = " ".join(tokens[i] for i in idx)
    el.set("count", str(len(idx)))


def _crop_annotation(root, crop: _Crop) -> list[GroundControlPoint]:
    """Crop the product annotation in place; return the kept grid points as GCPs."""
    info = root.find("imageAnnotation/imageInformation")
    info.find("productFirstLineUtcTime").text = crop.first_line_time
    info.find("productLastLineUtcTime").text = crop.last_line_time
    info.find("numberOfLines").text = str(crop.n_lines)
    info.find("numberOfSamples").text = str(crop.n_samples)

    timing = root.find("swathTiming")
    timing.find("samplesPerBurst").text = str(crop.n_samples)
    blist = timing.find("burstList")
    bursts = blist.findall("burst")
    for i, b in enumerate(bursts):
        if not crop.first_burst <= i < crop.first_burst + crop.n_bursts:
            blist.remove(b)
    for b, fv, lv in zip(blist.findall("burst"), crop.first_valid, crop.last_valid):
        b.find("firstValidSample").text = " ".join(map(str, fv))
        b.find("lastValidSample").text = " ".join(map(str, lv))
    blist.set("count", str(crop.n_bursts))

    # Geolocation grid: rows from the one at the first kept line through the first
    # row whose (nominal) azimuth time reaches the last kept line; columns up to the
    # first beyond the range crop. ESA's values are kept exactly.
    glist = root.find("geolocationGrid/geolocationGridPointList")
    points = glist.findall("geolocationGridPoint")
    line = np.array([int(p.findtext("line")) for p in points])
    pixel = np.array([int(p.findtext("pixel")) for p in points])
    rows = np.unique(line)
    row_times = np.array([crop.line_time(int(r)) for r in rows])
    last_line = crop.line0 + crop.n_lines - 1
    t_last = crop.line_time(last_line)
    i0 = int(np.flatnonzero(rows <= crop.line0).max()) if (rows <= crop.line0).any() else 0
    later = np.flatnonzero((row_times >= t_last) & (rows >= last_line))
    i1 = int(later[0]) if later.size else rows.size - 1
    keep_rows = rows[i0:i1 + 1]
    cols = np.unique(pixel)
    keep_cols = cols[_pixel_keep(cols, crop.n_samples)]
    n_kept = 0
    for p, ln, px in zip(points, line, pixel):
        if ln in keep_rows and px in keep_cols:
            p.find("line").text = str(int(ln) - crop.line0)
            n_kept += 1
        else:
            glist.remove(p)
    glist.set("count", str(n_kept))
    return _grid_gcps(root)


def _crop_calibration(root, crop: _Crop) -> CalibrationLut:
    """Crop the calibration vectors in place; return the sigmaNought LUT kept."""
    vlist = root.find("calibrationVectorList")
    vectors = vlist.findall("calibrationVector")
    lines = np.array([int(v.findtext("line")) for v in vectors])
    keep = _bracket(lines, crop.line0, crop.line0 + crop.n_lines - 1)
    kept_lines, kept_pixels, values = [], None, []
    for v, ln, k in zip(vectors, lines, keep):
        if not k:
            vlist.remove(v)
            continue
        v.find("line").text = str(int(ln) - crop.line0)
        pixels = np.array(v.findtext("pixel").split(), dtype=np.int64)
        idx = _pixel_keep(pixels, crop.n_samples)
        for name in ("pixel", "sigmaNought", "betaNought", "gamma", "dn"):
            _crop_list_text(v.find(name), idx)
        kept_lines.append(int(ln) - crop.line0)
        kept_pixels = pixels[idx]
        values.append(np.array(v.findtext("sigmaNought").split(), dtype=np.float64))
    vlist.set("count", str(len(kept_lines)))
    lut = CalibrationLut("sigma0", np.array(kept_lines), np.asarray(kept_pixels), np.array(values, dtype=np.float64))
    if lut.lines[0] > 0 or lut.lines[-1] < crop.n_lines - 1 or lut.pixels[-1] < crop.n_samples - 1:
        raise ValueError("template calibration LUT does not cover the cropped product")
    return lut


def _crop_noise(root, crop: _Crop) -> None:
    """Crop noiseRange and noiseAzimuth vectors in place (same rules as calibration)."""
    last_line = crop.line0 + crop.n_lines - 1
    rlist = root.find("noiseRangeVectorList")
    if rlist is not None:
        vectors = rlist.findall("noiseRangeVector")
        lines = np.array([int(v.findtext("line")) for v in vectors])
        keep = _bracket(lines, crop.line0, last_line)
        for v, ln, k in zip(vectors, lines, keep):
            if not k:
                rlist.remove(v)
                continue
            v.find("line").text = str(int(ln) - crop.line0)
            idx = _pixel_keep(np.array(v.findtext("pixel").split(), dtype=np.int64), crop.n_samples)
            for name in ("pixel", "noiseRangeLut"):
                _crop_list_text(v.find(name), idx)
        rlist.set("count", str(int(keep.sum())))
    alist = root.find("noiseAzimuthVectorList")
    if alist is not None:
        n_kept = 0
        for v in alist.findall("noiseAzimuthVector"):
            fal, lal = int(v.findtext("firstAzimuthLine")), int(v.findtext("lastAzimuthLine"))
            frs, lrs = int(v.findtext("firstRangeSample")), int(v.findtext("lastRangeSample"))
            if lal < crop.line0 or fal > last_line or frs > crop.n_samples - 1:
                alist.remove(v)
                continue
            lines = np.array(v.findtext("line").split(), dtype=np.int64)
            idx = np.flatnonzero(_bracket(lines, crop.line0, last_line))
            _crop_list_text(v.find("noiseAzimuthLut"), idx)
            v.find("line").text = " ".join(str(int(x) - crop.line0) for x in lines[idx])
            v.find("line").set("count", str(idx.size))
            v.find("firstAzimuthLine").text = str(max(fal, crop.line0) - crop.line0)
            v.find("lastAzimuthLine").text = str(min(lal, last_line) - crop.line0)
            v.find("lastRangeSample").text = str(min(lrs, crop.n_samples - 1))
            n_kept += 1
        alist.set("count", str(n_kept))


def _set_header(root, crop: _Crop, orbit: int, datatake: int) -> None:
    """adsHeader of annotation, calibration and noise files: crop times, orbit, datatake."""
    hdr = root.find("adsHeader")
    hdr.find("startTime").text = crop.first_line_time
    hdr.find("stopTime").text = crop.last_line_time
    hdr.find("absoluteOrbitNumber").text = str(orbit)
    hdr.find("missionDataTakeId").text = str(datatake)


# --------------------------------------------------------------------------------------
# Pixels and measurement TIFF


def _sigma0_function(spec: Sigma0Spec, pol: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if spec is None:
        return lambda line, sample: default_sigma0(pol, line, sample)
    if isinstance(spec, Mapping):
        if pol not in spec:
            raise ValueError(f"sigma0 mapping has no entry for {pol}")
        return spec[pol]
    return lambda line, sample: spec(pol, line, sample)


def _pixel_blocks(pol: str, crop: _Crop, lut: CalibrationLut, valid: np.ndarray, sigma0: Sigma0Spec,
                  seed: int, truth: np.ndarray):
    """Yield (first product line, complex64 CInt16-valued block); fill ``truth``.

    Blocks of whole lines within one burst (about 1 M pixels), so memory stays a
    few blocks whatever the product size.
    """
    f = _sigma0_function(sigma0, pol)
    samples = np.arange(crop.n_samples)
    lut_rows = lut.rows_at_pixels(samples)  # (L, S): LUT vectors interpolated in pixel once
    # ~1 M pixels per block: temporaries of a few MB stay in the allocator's heap
    # (large ones are mmap'ed and page-faulted afresh each time: 3x slower here).
    block = max(1, min(crop.lines_per_burst, 2**20 // crop.n_samples))
    pol_code = int.from_bytes(pol.encode("ascii"), "big")
    for k in range(crop.n_bursts):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            [int(seed), pol_code, crop.first_burst + k])))
        for a in range(0, crop.lines_per_burst, block):
            b = min(a + block, crop.lines_per_burst)
            lines = k * crop.lines_per_burst + np.arange(a, b)
            swath_lines, smp = np.meshgrid(lines + crop.line0, samples, indexing="ij")
            s0 = np.asarray(f(swath_lines, smp), dtype=np.float64)
            if s0.shape != swath_lines.shape:
                s0 = np.broadcast_to(s0, swath_lines.shape)
            if not np.all(np.isfinite(s0)) or (s0 < 0).any():
                raise ValueError(f"sigma0 for {pol} must be finite and >= 0")
            s0 = np.where(valid[lines], s0, 0.0)
            truth[lines] = s0
            amp = (np.sqrt(0.5 * s0) * lut.blend_rows(lut_rows, lines)).astype(np.float32)
            n = rng.standard_normal((b - a, 2 * crop.n_samples), dtype=np.float32)
            n.reshape(b - a, crop.n_samples, 2)[...] *= amp[:, :, None]  # (re, im) pairs
            np.rint(n, out=n)
            np.clip(n, -32768, 32767, out=n)
            yield int(lines[0]), n.view(np.complex64)


def _write_measurement(path: Path, crop: _Crop, gcps: list[GroundControlPoint], blocks) -> np.ndarray:
    """Write the CInt16 measurement GeoTIFF from (line, block) pieces; return its
    strip offsets after checking the layout a burst reader relies on.

    Layout as ESA's: classic little-endian TIFF, uncompressed, one row per strip,
    strips contiguous and in row order after the header, SampleFormat 5 (complex
    int) with 32 bits per sample, GCPs (ModelTiepointTag) from the geolocation grid
    in EPSG:4326. So burst k is ONE byte range starting at StripOffsets[k * lpb].
    """
    profile = dict(driver="GTiff", width=crop.n_samples, height=crop.n_lines, count=1,
                   dtype="complex_int16", gcps=gcps, crs="EPSG:4326", tiled=False,
                   blockysize=1, compress="NONE", interleave="band", BIGTIFF="NO")
    with rasterio.Env(GDAL_PAM_ENABLED="NO"):
        with rasterio.open(path, "w", **profile) as dst:
            for row0, data in blocks:
                dst.write(data, 1, window=Window(0, row0, crop.n_samples, data.shape[0]))
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        counts = np.asarray(page.databytecounts, dtype=np.int64)
        ok = (tif.byteorder == "<" and not tif.is_bigtiff and page.compression == 1
              and page.rowsperstrip == 1 and offsets.size == crop.n_lines
              and page.tags["SampleFormat"].value == 5 and page.tags["BitsPerSample"].value == 32
              and bool(np.all(counts == crop.n_samples * 4))
              and bool(np.all(offsets[1:] == offsets[:-1] + counts[:-1])))
    if not ok:
        raise RuntimeError(f"{path}: GDAL did not write one contiguous CInt16 row per strip")
    return offsets


# --------------------------------------------------------------------------------------
# Manifest, names, zip


def _build_manifest(template: Path, safe: Path, written: dict[str, tuple[str, str]], crop: _Crop,
                    ann_root, swath: str, pols: tuple[str, ...], orbit_shift: int, datatake: int,
                    date_shift_days: int) -> bytes:
    """The template manifest with only the written files (new names, sizes, MD5)
    and the crop's acquisition period, orbit, datatake and footprint.

    Returned with template dates: the caller shifts every date afterwards.
    """
    ns = dict(esa_safe.SENTINEL1_NAMESPACES, xfdu="urn:ccsds:schema:xfdu:1")
    root = etree.parse(str(template / "manifest.safe")).getroot()

    id_map: dict[str, str] = {}  # template dataObject ID -> new ID
    removed: set[str] = set()
    section = root.find("dataObjectSection")
    for obj in section.findall("dataObject"):
        loc = obj.find(".//fileLocation")
        href = loc.get("href") if loc is not None else None
        if href not in written:
            removed.add(obj.get("ID"))
            section.remove(obj)
            continue
        new_href, kind = written[href]
        stem = Path(new_href).stem  # "noise-s1b-iw1-..." -> ID "noises1biw1..."
        if kind in ("calibration", "noise"):
            stem = stem.split("-", 1)[1]
        new_id = _ID_PREFIX[kind] + stem.replace("-", "")
        id_map[obj.get("ID")] = new_id
        obj.set("ID", new_id)
        loc.set("href", new_href)
        data = (safe / new_href).read_bytes() if kind != "measurement" else None
        stream = obj.find("byteStream")
        stream.set("size", str((safe / new_href).stat().st_size))
        stream.find("checksum").text = hashlib.md5(data).hexdigest() if data is not None else _md5_file(safe / new_href)

    def new_ids(text: str) -> str:  # "<ID>Annotation ..." lists of metadataObject IDs
        out = []
        for token in text.split():
            base = token.removesuffix("Annotation")
            out.append(id_map[base] + "Annotation" if token != base and base in id_map else token)
        return " ".join(out) + " "

    pkg = root.find("informationPackageMap")
    for unit in list(pkg.iter("{urn:ccsds:schema:xfdu:1}contentUnit")):
        ptr = unit.find("dataObjectPointer")
        if ptr is None:
            continue
        oid = ptr.get("dataObjectID")
        if oid in removed:
            unit.getparent().remove(unit)
            continue
        ptr.set("dataObjectID", id_map.get(oid, oid))
        if unit.get("dmdID"):
            unit.set("dmdID", new_ids(unit.get("dmdID")))
    meta = root.find("metadataSection")
    for mo in meta.findall("metadataObject"):
        ptr = mo.find("dataObjectPointer")
        if ptr is None:
            continue
        oid = ptr.get("dataObjectID")
        if oid in removed:
            meta.remove(mo)
            continue
        ptr.set("dataObjectID", id_map.get(oid, oid))
        mo.set("ID", id_map.get(oid, oid) + "Annotation")

    # Only the written swath and polarisations are described.
    mode = root.find(".//s1sarl1:instrumentMode", ns)
    for sw in mode.findall("s1sarl1:swath", ns):
        if sw.text.strip().upper() != swath:
            mode.remove(sw)
    for el in root.findall(".//s1sarl1:transmitterReceiverPolarisation", ns):
        if el.text.strip().upper() not in pols:
            el.getparent().remove(el)
    for el in root.findall(".//safe:orbitNumber", ns):
        el.text = str(int(el.text) + orbit_shift)
    for el in root.findall(".//safe:cycleNumber", ns):
        el.text = str(int(el.text) + date_shift_days // REPEAT_CYCLE_DAYS)
    root.find(".//s1sarl1:missionDataTakeID", ns).text = str(datatake)

    period = root.find(".//safe:acquisitionPeriod", ns)
    period.find("safe:startTime", ns).text = crop.first_line_time
    period.find("safe:stopTime", ns).text = crop.last_line_time
    anx = np.datetime64(root.findtext(".//s1:ascendingNodeTime", namespaces=ns).strip(), "ns")
    for tag, t in (("startTimeANX", crop.first_line_time), ("stopTimeANX", crop.last_line_time)):
        el = period.find(f".//s1:{tag}", ns)
        if el is not None:
            el.text = f"{(np.datetime64(t, 'ns') - anx) / np.timedelta64(1, 'ms'):.6e}"
    coords = root.find(".//safe:footPrint/gml:coordinates", ns)
    if coords is not None:
        coords.text = _footprint(ann_root)
    return _serialise(root)


def _footprint(ann_root) -> str:
    """Corners of the kept geolocation grid as ``lat,lon`` pairs in the ESA order
    (last line near, last line far, first line far, first line near)."""
    pts = ann_root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    line = np.array([int(p.findtext("line")) for p in pts])
    pixel = np.array([int(p.findtext("pixel")) for p in pts])
    lat = np.array([float(p.findtext("latitude")) for p in pts])
    lon = np.array([float(p.findtext("longitude")) for p in pts])
    out = []
    for ln, px in ((line.max(), pixel.min()), (line.max(), pixel.max()),
                   (line.min(), pixel.max()), (line.min(), pixel.min())):
        i = int(np.flatnonzero((line == ln) & (pixel == px))[0])
        out.append(f"{lat[i]:.6f},{lon[i]:.6f}")
    return " ".join(out)


def _polarisation_code(pols: tuple[str, ...]) -> str:
    """Product name polarisation code (S1 Product Specification): DV, DH, SV, SH, or
    the single cross-pol channel (VH, HV)."""
    s = set(pols)
    for code, combo in (("DV", {"VV", "VH"}), ("DH", {"HH", "HV"}), ("SV", {"VV"}), ("SH", {"HH"})):
        if s == combo:
            return code
    if len(pols) == 1:
        return pols[0]
    raise ValueError(f"unsupported polarisation combination {pols}")


def _write_zip(safe: Path, target: Path, top: str, when: np.datetime64) -> None:
    """Zip the SAFE folder as ``top/...`` (ZIP_STORED, fixed timestamps: byte-identical
    on re-runs), directory entries included as in ESA zips."""
    stamp = _dt.datetime.fromisoformat(str(when.astype("datetime64[s]")))
    date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in [safe, *sorted(safe.rglob("*"))]:
            rel = path.relative_to(safe).as_posix()
            arc = top if rel == "." else f"{top}/{rel}"
            if path.is_dir():
                info = zipfile.ZipInfo(arc + "/", date_time)
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(arc, date_time)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o100644 << 16
            size = path.stat().st_size
            with open(path, "rb") as src, zf.open(info, "w", force_zip64=size >= 2**31) as dst:
                shutil.copyfileobj(src, dst, 16 * 2**20)


def _replace(src: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    os.replace(src, target)


def _md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(16 * 2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def _serialise(root) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(
        root, encoding="UTF-8", xml_declaration=False) + b"\n"


# --------------------------------------------------------------------------------------
# Times


_ISO_DATE = re.compile(rb"(\d{4})-(\d{2})-(\d{2})(?=T\d{2}:\d{2}:\d{2})")
_PRODUCT_NAME = re.compile(
    rb"(S1[ABCD]_\w+?_)(\d{8})(T\d{6}_)(\d{8})(T\d{6}_)(\d{6})_([0-9A-F]{6})(_[0-9A-F]{4})")


def _shift_iso_dates(data: bytes, days: int) -> bytes:
    """Move every ISO-8601 date-time (``YYYY-MM-DDThh:mm:ss``) by whole days."""
    if not days:
        return data

    def shift(m: re.Match) -> bytes:
        d = _dt.date(int(m[1]), int(m[2]), int(m[3])) + _dt.timedelta(days=days)
        return d.isoformat().encode()

    return _ISO_DATE.sub(shift, data)


def _shift_product_names(data: bytes, days: int, orbit_shift: int, datatake_shift: int) -> bytes:
    """Move dates, absolute orbit and datatake in S1 product names (the manifest's
    processing history names its Level-0 and intermediate products)."""
    if not days:
        return data

    def shift(m: re.Match) -> bytes:
        d1 = (_dt.datetime.strptime(m[2].decode(), "%Y%m%d") + _dt.timedelta(days=days)).strftime("%Y%m%d")
        d2 = (_dt.datetime.strptime(m[4].decode(), "%Y%m%d") + _dt.timedelta(days=days)).strftime("%Y%m%d")
        orbit = int(m[6]) + orbit_shift
        datatake = int(m[7], 16) + datatake_shift
        return (m[1] + d1.encode() + m[3] + d2.encode() + m[5]
                + f"{orbit:06d}_{datatake:06X}".encode() + m[8])

    return _PRODUCT_NAME.sub(shift, data)


def _parse_time(iso: str, days: int = 0) -> np.datetime64:
    return np.datetime64(iso, "ns") + np.timedelta64(days, "D")


def _shift_time(iso: str, days: int) -> str:
    return _fmt_time(_parse_time(iso, days))


def _fmt_time(t: np.datetime64) -> str:
    """ISO time with microseconds, rounded to the nearest microsecond."""
    t = np.datetime64(t, "ns") + np.timedelta64(500, "ns")
    return str(np.datetime_as_string(t.astype("datetime64[us]"), unit="us"))


def _compact_time(iso: str) -> str:
    """``2021-04-01T05:26:24.209990`` -> ``20210401t052624`` (file-name form)."""
    return iso[:19].replace("-", "").replace(":", "").replace("T", "t")
