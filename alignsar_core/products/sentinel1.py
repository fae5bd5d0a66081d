"""Sentinel-1 IW SLC reader: SAFE folders and zip products, on any fsspec filesystem.

Metadata (manifest, calibration, noise, orbit, ...) is read with xarray-sentinel,
which parses the ESA XML through an fsspec filesystem, so it works the same on a
local folder, inside a zip, or in object storage (``s3://``), including a zip in
object storage (fsspec ``zip`` over ``s3``).

Pixels are read by our own code, on purpose: xarray-sentinel hands the measurement
TIFF to rasterio as a URL (its ``open_rasterio_dataarray`` notes fsspec file objects
are no longer supported), which cannot reach a TIFF inside a zip in object storage
and goes through GDAL's own S3 client, not the configured fsspec one. Sentinel-1
SLC measurement TIFFs are uncompressed with one image row per strip, so a burst is
ONE contiguous byte range (the annotation's ``byteOffset``); we read it with a
single ranged GET and view the CInt16 pairs as complex numbers. This is the I/O
floor for a burst: nothing is read twice and nothing outside the burst is read.
TIFFs that are compressed or not row-contiguous (e.g. re-packed products) fall
back to tifffile decoding of the burst's strips.
"""

from __future__ import annotations

import dataclasses
import struct
import zipfile
import posixpath
import xml.etree.ElementTree as ET
from typing import Any

import fsspec
import numpy as np
import tifffile
import xarray as xr
from xarray_sentinel import esa_safe, sentinel1

from .model import BurstInfo, compute_burst_id


class ProductError(RuntimeError):
    """A product cannot be read: the message names the product and what is wrong."""

    def __init__(self, product_url: str, problem: str):
        self.product_url = product_url
        self.problem = problem
        super().__init__(f"{product_url}: {problem}")

    def __reduce__(self):  # picklable across Dask workers
        return (type(self), (self.product_url, self.problem))


@dataclasses.dataclass
class OpenedProduct:
    """A product's filesystem, SAFE root inside it, and its file groups."""

    url: str
    fs: fsspec.AbstractFileSystem
    safe_path: str  # path of the .SAFE folder within ``fs``
    name: str  # SAFE name without extension
    attrs: dict[str, Any]  # manifest-level metadata (xarray-sentinel)
    groups: dict[str, list[str]]  # e.g. "IW1/VV" -> [measurement, annotation]
    missing: dict[str, str] = dataclasses.field(default_factory=dict)  # group -> why
    # for zip products: the filesystem and path of the zip object itself
    container: tuple[fsspec.AbstractFileSystem, str] | None = None

    def swath_pols(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for g in self.groups:
            parts = g.split("/")
            if len(parts) == 2:
                out.setdefault(parts[0], []).append(parts[1])
        return {s: sorted(p, key=_pol_order) for s, p in sorted(out.items())}

    def open_group(self, group: str) -> xr.Dataset:
        """Open an xarray-sentinel metadata group (e.g. ``IW1/VV/calibration``), loaded
        and kept: metadata groups are small, and parsing one against the XSD takes
        ~0.2 s."""
        cache = self.__dict__.setdefault("_groups_cache", {})
        if group not in cache:
            cache[group] = xr.open_dataset(
                posixpath.join(self.safe_path, "manifest.safe"),
                engine="sentinel-1",
                group=group,
                fs=self.fs,
            ).load()
        return cache[group]

    def annotation(self, swath: str, pol: str) -> "Annotation":
        path = self.groups[f"{swath}/{pol}"][1]
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError as exc:
            raise ProductError(self.url, f"annotation file missing: {path}") from exc
        return Annotation.parse(data, source=f"{self.url} ({swath}/{pol} annotation)")

    def measurement_path(self, swath: str, pol: str) -> str:
        return self.groups[f"{swath}/{pol}"][0]

    def byte_source(self, path: str) -> tuple[fsspec.AbstractFileSystem, str, int]:
        """(filesystem, path, offset) where the bytes of ``path`` can be range-read.

        For a zip product whose member is stored uncompressed (as in ESA zips) this is
        the zip object itself at the member's data offset, so a burst read is one
        ranged GET of the zip in object storage. (Python 3.11's zipfile emulates
        seeking in a member by reading and discarding everything before it.)
        """
        if self.container is None:
            return self.fs, path, 0
        info = self.fs.zip.getinfo(path)
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{path} is compressed inside the zip")
        outer_fs, outer_path = self.container
        header = outer_fs.cat_file(outer_path, start=info.header_offset, end=info.header_offset + 30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise ProductError(self.url, f"corrupt zip: bad local header for {path}")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        return outer_fs, outer_path, info.header_offset + 30 + name_len + extra_len


def _pol_order(pol: str) -> tuple[int, str]:
    # co-pol first (VV, HH), then cross-pol: the usual order for dual-pol stacks
    return (0 if pol[0] == pol[1] else 1, pol)


def open_product(
    url: str,
    storage_options: dict[str, Any] | None = None,
    *,
    metadata_only: bool = False,
    allow_partial: bool = False,
) -> OpenedProduct:
    """Open a Sentinel-1 product (``.SAFE`` folder or ``.zip``) at any fsspec URL.

    ``metadata_only`` checks only the annotation files (for ``alignsar inspect``);
    ``allow_partial`` keeps the swath/polarisations whose files exist and lists the
    others in ``OpenedProduct.missing`` instead of refusing the product.

    Raises ProductError with the product URL and the problem for anything that
    makes the product unreadable: missing URL, unreadable zip, no manifest, a
    manifest that does not list the annotation or measurement files, denied access.
    """
    storage_options = dict(storage_options or {})
    url = url.rstrip("/")
    try:
        container = None
        if url.lower().endswith(".zip"):
            fs, safe_path, container = _open_zip(url, storage_options)
        else:
            fs, _, paths = fsspec.get_fs_token_paths(url, storage_options=storage_options)
            safe_path = paths[0]
            if fs.isfile(posixpath.join(safe_path, "manifest.safe")):
                pass
            elif not fs.exists(safe_path):
                raise ProductError(url, "does not exist")
            else:
                raise ProductError(url, "no manifest.safe in this folder (not a SAFE product)")
        manifest = posixpath.join(safe_path, "manifest.safe")
        with fs.open(manifest, "rb") as f:
            attrs, product_files = esa_safe.parse_manifest_sentinel1(f)
        groups = sentinel1.find_available_groups(
            product_files, safe_path, attrs["product_type"], fs=fs
        )
    except ProductError:
        raise
    except PermissionError as exc:
        raise ProductError(url, f"access denied by the object store ({exc})") from exc
    except FileNotFoundError as exc:
        raise ProductError(url, f"not found ({exc})") from exc
    except Exception as exc:  # zip, XML and manifest parsing errors
        raise ProductError(url, f"unreadable product: {type(exc).__name__}: {exc}") from exc

    name = posixpath.basename(safe_path).removesuffix(".SAFE")
    if attrs.get("product_type") != "SLC":
        raise ProductError(url, f"product type {attrs.get('product_type')!r} is not SLC")
    pol_groups = {g: v for g, v in groups.items() if g.count("/") == 1}
    if not pol_groups:
        raise ProductError(url, "manifest lists no swath/polarisation measurement")
    existing = set(fs.find(safe_path))
    missing: dict[str, str] = {}
    for g, files in sorted(pol_groups.items()):
        needed = [(files[1] if len(files) > 1 else None, "annotation")]
        if not metadata_only:
            needed.append((files[0], "measurement"))
        for f, kind in needed:
            if f is None or not f.endswith((".xml", ".tiff", ".tif")):
                missing[g] = f"{kind} file not listed in the manifest"
            elif f not in existing and not fs.exists(f):
                missing[g] = f"{kind} file missing: {posixpath.relpath(f, safe_path)}"
    if missing and (not allow_partial or len(missing) == len(pol_groups)):
        detail = "; ".join(f"{g}: {why}" for g, why in missing.items())
        raise ProductError(url, f"incomplete product ({detail})")
    for g in missing:
        for sub in [k for k in groups if k == g or k.startswith(g + "/")]:
            del groups[sub]
    return OpenedProduct(url=url, fs=fs, safe_path=safe_path, name=name, attrs=attrs,
                         groups=groups, missing=missing, container=container)


def _open_zip(url: str, storage_options: dict[str, Any]):
    outer, _, outer_paths = fsspec.get_fs_token_paths(url, storage_options=storage_options)
    path = outer_paths[0]
    if not outer.exists(path):
        raise ProductError(url, "does not exist")
    # ZIP_STORED members (as in ESA products) are seekable: a burst read is then a
    # ranged read of the zip object itself.
    try:
        fs = fsspec.filesystem("zip", fo=outer.open(path, "rb", block_size=2**20))
    except Exception as exc:
        raise ProductError(url, f"not a readable zip file ({type(exc).__name__}: {exc})") from exc
    tops = [p for p in fs.ls("", detail=False) if p.rstrip("/").endswith(".SAFE")]
    if len(tops) != 1:
        raise ProductError(url, f"zip must hold exactly one .SAFE folder, found {tops}")
    return fs, tops[0].rstrip("/"), (outer, path)


# --------------------------------------------------------------------------------------
# Annotation


@dataclasses.dataclass
class AnnotatedBurst:
    index: int
    azimuth_time: str
    azimuth_anx_time: float
    byte_offset: int
    first_valid_sample: np.ndarray
    last_valid_sample: np.ndarray
    burst_id: int | None


@dataclasses.dataclass
class Annotation:
    """The parts of a swath/polarisation annotation the pipeline needs.

    Parsed with ElementTree: xarray-sentinel exposes the burst timing only as a
    cropped measurement dataset, not the burst list with byte offsets and valid
    sample ranges that a streaming reader needs.
    """

    mission: str
    mode: str
    swath: str
    polarisation: str
    pass_direction: str
    absolute_orbit: int
    first_line_time: str
    number_of_lines: int
    number_of_samples: int
    lines_per_burst: int
    samples_per_burst: int
    azimuth_time_interval: float
    slant_range_time: float
    range_sampling_rate: float
    radar_frequency: float
    range_pixel_spacing: float
    azimuth_pixel_spacing: float
    azimuth_steering_rate: float  # deg/s (TOPS antenna steering)
    bursts: list[AnnotatedBurst]
    grid: dict[str, np.ndarray]  # geolocation grid: line, pixel, latitude, longitude, ...
    # ((azimuth processing bandwidth / line rate, window coefficient), (range bandwidth /
    # sampling rate, window coefficient)): the spectrum the SLC fills (resampling, simulation)
    processing_bands: tuple[tuple[float, float], tuple[float, float]] | None = None

    @classmethod
    def parse(cls, data: bytes, source: str = "annotation") -> "Annotation":
        try:
            root = ET.fromstring(data)
        except ET.ParseError as exc:
            raise ValueError(f"{source}: not valid XML ({exc})") from exc

        def txt(path: str) -> str:
            el = root.find(path)
            if el is None or el.text is None:
                raise ValueError(f"{source}: missing element {path}")
            return el.text.strip()

        bursts = []
        for i, b in enumerate(root.findall("swathTiming/burstList/burst")):
            bid = b.find("burstId")
            bursts.append(AnnotatedBurst(
                index=i,
                azimuth_time=b.findtext("azimuthTime").strip(),
                azimuth_anx_time=float(b.findtext("azimuthAnxTime")),
                byte_offset=int(b.findtext("byteOffset")),
                first_valid_sample=np.array(b.findtext("firstValidSample").split(), dtype=np.int32),
                last_valid_sample=np.array(b.findtext("lastValidSample").split(), dtype=np.int32),
                burst_id=int(bid.text) if bid is not None and bid.text else None,
            ))
        if not bursts:
            raise ValueError(f"{source}: no bursts in swathTiming/burstList (not a TOPS SLC?)")
        pts = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
        grid = {
            k: np.array([float(p.findtext(k)) for p in pts])
            for k in ("line", "pixel", "latitude", "longitude", "height", "incidenceAngle",
                      "slantRangeTime")
        }
        return cls(
            mission=txt("adsHeader/missionId"),
            mode=txt("adsHeader/mode"),
            swath=txt("adsHeader/swath"),
            polarisation=txt("adsHeader/polarisation"),
            pass_direction=txt("generalAnnotation/productInformation/pass").upper(),
            absolute_orbit=int(txt("adsHeader/absoluteOrbitNumber")),
            first_line_time=txt("imageAnnotation/imageInformation/productFirstLineUtcTime"),
            number_of_lines=int(txt("imageAnnotation/imageInformation/numberOfLines")),
            number_of_samples=int(txt("imageAnnotation/imageInformation/numberOfSamples")),
            lines_per_burst=int(txt("swathTiming/linesPerBurst")),
            samples_per_burst=int(txt("swathTiming/samplesPerBurst")),
            azimuth_time_interval=float(txt("imageAnnotation/imageInformation/azimuthTimeInterval")),
            slant_range_time=float(txt("imageAnnotation/imageInformation/slantRangeTime")),
            range_sampling_rate=float(txt("generalAnnotation/productInformation/rangeSamplingRate")),
            radar_frequency=float(txt("generalAnnotation/productInformation/radarFrequency")),
            range_pixel_spacing=float(txt("imageAnnotation/imageInformation/rangePixelSpacing")),
            azimuth_pixel_spacing=float(txt("imageAnnotation/imageInformation/azimuthPixelSpacing")),
            azimuth_steering_rate=float(txt("generalAnnotation/productInformation/azimuthSteeringRate")),
            bursts=bursts,
            grid=grid,
            processing_bands=_processing_bands(root),
        )

    def burst_footprint(self, index: int) -> tuple[tuple[float, float], ...]:
        """Closed (lon, lat) ring of the burst from ESA's geolocation grid rows at
        the burst's first and last line (nearest grid rows outside the burst)."""
        l0 = index * self.lines_per_burst
        l1 = l0 + self.lines_per_burst - 1
        rows = np.unique(self.grid["line"])
        top = rows[rows <= l0].max() if (rows <= l0).any() else rows.min()
        bot = rows[rows >= l1].min() if (rows >= l1).any() else rows.max()
        ring = []
        for row, order in ((top, 1), (bot, -1)):
            sel = self.grid["line"] == row
            idx = np.argsort(self.grid["pixel"][sel])[::order]
            for lon, lat in zip(self.grid["longitude"][sel][idx], self.grid["latitude"][sel][idx]):
                ring.append((round(float(lon), 7), round(float(lat), 7)))
        ring.append(ring[0])
        return tuple(ring)

    def burst_incidence_mid(self, index: int) -> float:
        l0 = index * self.lines_per_burst
        sel = (self.grid["line"] >= l0) & (self.grid["line"] <= l0 + self.lines_per_burst)
        return float(np.mean(self.grid["incidenceAngle"][sel]))


def _processing_bands(root) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """``Annotation.processing_bands`` from imageAnnotation/processingInformation (None if absent)."""
    base = "imageAnnotation/processingInformation/swathProcParamsList/swathProcParams/"
    az, rg = root.find(base + "azimuthProcessing"), root.find(base + "rangeProcessing")
    prf = root.findtext("imageAnnotation/imageInformation/azimuthFrequency")
    fs = root.findtext("generalAnnotation/productInformation/rangeSamplingRate")
    if az is None or rg is None or prf is None or fs is None:
        return None
    return ((float(az.findtext("processingBandwidth")) / float(prf), float(az.findtext("windowCoefficient"))),
            (float(rg.findtext("processingBandwidth")) / float(fs), float(rg.findtext("windowCoefficient"))))


def _burst_valid_window(b: AnnotatedBurst, samples: int) -> tuple[int, int, int, int]:
    valid = np.flatnonzero(b.first_valid_sample >= 0)
    if valid.size == 0:
        return 0, -1, 0, -1
    first_s = int(b.first_valid_sample[valid].max())
    last_s = int(min(b.last_valid_sample[valid].min(), samples - 1))
    return int(valid[0]), int(valid[-1]), first_s, last_s


def _time_add(iso: str, seconds: float) -> str:
    t = np.datetime64(iso, "ns") + np.timedelta64(int(round(seconds * 1e9)), "ns")
    return str(np.datetime_as_string(t, unit="us"))


def list_bursts(product: OpenedProduct) -> list[BurstInfo]:
    """One BurstInfo per (swath, burst index), covering all polarisations of the swath.

    The relative burst id is taken from the annotation (IPF >= 3.40) or computed from
    the ESA burst ID map definition (see ``compute_burst_id``).
    """
    attrs = product.attrs
    out: list[BurstInfo] = []
    for swath, pols in product.swath_pols().items():
        ann = product.annotation(swath, pols[0])
        for p in pols[1:]:
            other = product.annotation(swath, p)
            if len(other.bursts) != len(ann.bursts):
                raise ProductError(product.url, f"{swath}: {pols[0]} has {len(ann.bursts)} bursts but {p} has {len(other.bursts)}")
        for b in ann.bursts:
            bid = b.burst_id
            source = "annotation"
            if bid is None:
                bid = compute_burst_id(b.azimuth_anx_time, ann.lines_per_burst,
                                       ann.azimuth_time_interval, int(attrs["relative_orbit_number"]))
                source = "computed"
            vl0, vl1, vs0, vs1 = _burst_valid_window(b, ann.samples_per_burst)
            out.append(BurstInfo(
                product_id=product.name,
                product_url=product.url,
                mission=ann.mission,
                mode=ann.mode,
                swath=swath,
                polarisations=tuple(pols),
                burst_index=b.index,
                burst_id=int(bid),
                burst_id_source=source,
                relative_orbit=int(attrs["relative_orbit_number"]),
                absolute_orbit=int(attrs["orbit_number"]),
                pass_direction=ann.pass_direction,
                first_line_time=b.azimuth_time,
                last_line_time=_time_add(b.azimuth_time, (ann.lines_per_burst - 1) * ann.azimuth_time_interval),
                azimuth_anx_time=b.azimuth_anx_time,
                lines=ann.lines_per_burst,
                samples=ann.samples_per_burst,
                line_offset=b.index * ann.lines_per_burst,
                valid_first_line=vl0,
                valid_last_line=vl1,
                valid_first_sample=vs0,
                valid_last_sample=vs1,
                azimuth_time_interval=ann.azimuth_time_interval,
                slant_range_time=ann.slant_range_time,
                range_sampling_rate=ann.range_sampling_rate,
                radar_frequency=ann.radar_frequency,
                range_pixel_spacing=ann.range_pixel_spacing,
                azimuth_pixel_spacing=ann.azimuth_pixel_spacing,
                incidence_angle_mid=ann.burst_incidence_mid(b.index),
                footprint=ann.burst_footprint(b.index),
                ipf_version=str(attrs.get("ipf_version", "")),
            ))
    return out


# --------------------------------------------------------------------------------------
# Pixels


@dataclasses.dataclass(frozen=True)
class TiffLayout:
    """Where each image row of a measurement TIFF lies in the file."""

    width: int
    height: int
    contiguous_rows: bool  # uncompressed, row-ordered strips back to back
    row_offsets: np.ndarray  # byte offset of each strip
    row_bytes: np.ndarray
    rows_per_strip: int
    compression: int
    file_size: int

    def row_end(self, row: int) -> int:
        """Byte just past the strip holding ``row``."""
        s = row // self.rows_per_strip
        return int(self.row_offsets[s] + self.row_bytes[s])


def tiff_layout(fs: fsspec.AbstractFileSystem, path: str) -> TiffLayout:
    """Read only the TIFF header and strip tables (a few hundred kB at most)."""
    with fs.open(path, "rb", block_size=2**20, cache_type="readahead") as f:
        file_size = int(f.size)
        with tifffile.TiffFile(f) as tif:
            page = tif.pages[0]
            offsets = np.asarray(page.dataoffsets, dtype=np.int64)
            counts = np.asarray(page.databytecounts, dtype=np.int64)
            height, width = page.shape[:2]
            bps = 4  # CInt16: two int16 per pixel
            contiguous = (
                int(page.compression) == 1
                and page.rowsperstrip >= 1
                and bool(np.all(offsets[1:] == offsets[:-1] + counts[:-1]))
                and bool(np.all(counts[:-1] == page.rowsperstrip * width * bps))
            )
            return TiffLayout(width=width, height=height, contiguous_rows=contiguous,
                              row_offsets=offsets, row_bytes=counts,
                              rows_per_strip=int(page.rowsperstrip),
                              compression=int(page.compression), file_size=file_size)


def read_burst_lines(
    product: OpenedProduct,
    burst: BurstInfo,
    pol: str,
    line_start: int = 0,
    line_stop: int | None = None,
    layout: TiffLayout | None = None,
) -> np.ndarray:
    """Read lines [line_start, line_stop) of one burst and polarisation as complex64."""
    pairs = read_burst_pairs(product, burst, pol, line_start, line_stop, layout)
    if pairs.dtype == np.float32:
        return pairs.view(np.complex64)
    out = np.empty((pairs.shape[0], pairs.shape[1] // 2), dtype=np.complex64)
    out.view(np.float32)[...] = pairs
    return out


def read_burst_pairs(
    product: OpenedProduct,
    burst: BurstInfo,
    pol: str,
    line_start: int = 0,
    line_stop: int | None = None,
    layout: TiffLayout | None = None,
) -> np.ndarray:
    """Lines [line_start, line_stop) of a burst as interleaved (re, im) pairs.

    Shape (lines, 2 * samples): int16 straight from the file on the fast path (one
    ranged read of contiguous rows, no conversion, half the memory of complex64),
    float32 when strips had to be decoded with tifffile. Kernels take either.
    """
    line_stop = burst.lines if line_stop is None else line_stop
    path = product.measurement_path(burst.swath, pol)
    layout = layout or tiff_layout(product.fs, path)
    if layout.width != burst.samples:
        raise ProductError(product.url, f"{burst.swath}/{pol}: TIFF width {layout.width} != samplesPerBurst {burst.samples}")
    r0 = burst.line_offset + line_start
    r1 = burst.line_offset + line_stop
    if r1 > layout.height:
        raise ProductError(product.url, f"{burst.swath}/{pol}: burst {burst.burst_index} lines {r0}:{r1} beyond TIFF height {layout.height} (truncated file?)")
    n = r1 - r0
    if layout.contiguous_rows:
        start = int(layout.row_offsets[r0 // layout.rows_per_strip]) + (r0 % layout.rows_per_strip) * layout.width * 4
        nbytes = n * layout.width * 4
        try:
            src_fs, src_path, base = product.byte_source(path)
        except ValueError:  # compressed zip member: read through the zip filesystem
            src_fs, src_path, base = product.fs, path, 0
        raw = src_fs.cat_file(src_path, start=base + start, end=base + start + nbytes)
        if len(raw) != nbytes:
            raise ProductError(product.url, f"{burst.swath}/{pol}: short read ({len(raw)} of {nbytes} bytes; truncated measurement?)")
        return np.frombuffer(raw, dtype="<i2").reshape(n, 2 * layout.width)
    with product.fs.open(path, "rb", block_size=2**22) as f:
        with tifffile.TiffFile(f) as tif:
            data = _decode_rows(tif, r0, r1)
    return np.ascontiguousarray(data, dtype=np.complex64).view(np.float32)


def _decode_rows(tif: tifffile.TiffFile, r0: int, r1: int) -> np.ndarray:
    """Decode rows r0..r1 of a strip TIFF with tifffile (any compression it knows)."""
    page = tif.pages[0]
    rps = page.rowsperstrip
    s0, s1 = r0 // rps, (r1 - 1) // rps + 1
    fh = tif.filehandle
    rows = []
    for s in range(s0, s1):  # loop over strips (rows), not pixels
        fh.seek(page.dataoffsets[s])
        seg = fh.read(page.databytecounts[s])
        decoded, _, shape = page.decode(seg, s)
        rows.append(np.asarray(decoded).reshape(-1, page.shape[1]))
    block = np.concatenate(rows, axis=0)
    skip = r0 - s0 * rps
    out = block[skip: skip + (r1 - r0)]
    if np.iscomplexobj(out):
        return out
    # integer (re, im) records: tifffile gives a structured or (..., 2) int array
    pairs = np.asarray(out).view("<i2").reshape(out.shape[0], -1).astype(np.float32)
    return pairs.view(np.complex64)
