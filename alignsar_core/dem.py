"""Digital elevation models for the pipeline: reading any GeoTIFF / COG onto a lon/lat grid.

Coregistration (geometric, DEM-assisted: Sansosti et al. 2006, IEEE TGRS 44(2)),
radarcoding and the simulator all need terrain heights around a burst. This module
reads them:

* :func:`read_dem`: any GeoTIFF/COG DEM (any CRS, local path or fsspec URL) reprojected
  and cropped onto a regular lon/lat grid (:class:`GeoGrid`) with GDAL's warper;
* :func:`read_dem_for_footprint`: the same for a burst footprint plus a margin, refusing
  (:class:`DemError`) a DEM that does not cover it, with the file, the DEM's bounds and
  the needed bounds in the message.

Conventions:

* Horizontal: WGS84 longitude / latitude in degrees (EPSG:4326). A :class:`GeoGrid` is
  north-up and pixel-is-area: row 0 is the northern edge and pixel (i, j) has its
  centre at ``(west + (j + 0.5) dlon, north - (i + 0.5) dlat)``.
* Heights in a :class:`Dem` are ELLIPSOIDAL heights above the WGS84 ellipsoid (EPSG:4979),
  metres: SAR geometry (rdr2geo / geo2rdr) works on the ellipsoid. Geoid (orthometric)
  heights, as in Copernicus DEM (EGM2008) or SRTM (EGM96), are converted with
  ``h = H + N`` (N the geoid undulation) only with a geoid model available offline;
  otherwise :class:`GeoidUnavailableError` is raised rather than returning heights
  wrong by tens of metres.
* Object storage: ``s3://...`` (and any fsspec URL) is read through an fsspec file
  system given to rasterio as its ``opener`` (GDAL reads the blocks it needs through
  Python, so a COG is read by range requests). ``storage_options=None`` takes the
  endpoint and keys of ``alignsar_core.settings.get_settings().storage_options_for(url)``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np
import rasterio
import rasterio.windows
import shapely
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT

from .geometry import WGS84_A, WGS84_E2

__all__ = [
    "Dem",
    "DemError",
    "GeoGrid",
    "GeoidUnavailableError",
    "dem_bounds_lonlat",
    "footprint_bounds",
    "metres_per_degree",
    "read_dem",
    "read_dem_for_footprint",
    "write_dem",
]

#: Default margin (m) of :func:`read_dem_for_footprint` around a burst footprint.
#: The annotation footprint is the ground position at the geolocation grid's heights;
#: terrain moves a pixel's ground position by about h / tan(incidence) across track
#: (3 km of relief at 30 deg: 5 km), so the margin covers that plus interpolation.
DEFAULT_FOOTPRINT_MARGIN_M = 5000.0


class DemError(ValueError):
    """A DEM cannot serve the request (does not cover the area, holds no-data, no CRS)."""


class GeoidUnavailableError(ValueError):
    """Geoid heights were given but no geoid model can be used offline."""


# --------------------------------------------------------------------------------------
# Grid


def _radii(lat_deg: float) -> tuple[float, float]:
    """Meridional (M) and prime-vertical (N) radii of curvature of WGS84 at a latitude:
    M = a (1 - e^2) / W^3, N = a / W, W = sqrt(1 - e^2 sin^2 lat) (NIMA TR8350.2)."""
    s2 = math.sin(math.radians(lat_deg)) ** 2
    w = math.sqrt(1.0 - WGS84_E2 * s2)
    return WGS84_A * (1.0 - WGS84_E2) / w ** 3, WGS84_A / w


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    """(metres per degree of latitude, metres per degree of longitude) at ``lat_deg``:
    (pi/180) M and (pi/180) N cos(lat) with the WGS84 radii of :func:`_radii`."""
    m, n = _radii(lat_deg)
    return math.radians(1.0) * m, math.radians(1.0) * n * math.cos(math.radians(lat_deg))


@dataclasses.dataclass(frozen=True)
class GeoGrid:
    """A regular north-up lon/lat grid (EPSG:4326, pixel-is-area; row 0 at ``north``)."""

    west: float
    south: float
    east: float
    north: float
    ny: int
    nx: int

    def __post_init__(self):
        if not (self.east > self.west and self.north > self.south):
            raise ValueError("grid bounds must satisfy west < east and south < north")
        if self.ny < 2 or self.nx < 2:
            raise ValueError("grid needs at least 2 x 2 pixels")

    crs = "EPSG:4326"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.west, self.south, self.east, self.north)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.ny, self.nx)

    @property
    def dlon(self) -> float:
        return (self.east - self.west) / self.nx

    @property
    def dlat(self) -> float:
        return (self.north - self.south) / self.ny

    @property
    def transform(self) -> Affine:
        return Affine(self.dlon, 0.0, self.west, 0.0, -self.dlat, self.north)

    @property
    def lon(self) -> np.ndarray:
        """Pixel-centre longitudes (nx,), degrees."""
        return self.west + (np.arange(self.nx) + 0.5) * self.dlon

    @property
    def lat(self) -> np.ndarray:
        """Pixel-centre latitudes (ny,), degrees, north to south."""
        return self.north - (np.arange(self.ny) + 0.5) * self.dlat

    def spacing_m(self) -> tuple[float, float]:
        """Pixel size (north-south, east-west) in metres at the central latitude."""
        m_lat, m_lon = metres_per_degree(0.5 * (self.south + self.north))
        return self.dlat * m_lat, self.dlon * m_lon

    def contains(self, lon, lat) -> np.ndarray:
        lon, lat = np.asarray(lon), np.asarray(lat)
        return (lon >= self.west) & (lon <= self.east) & (lat >= self.south) & (lat <= self.north)

    def fractional_index(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) in pixel-centre coordinates: pixel (i, j)'s centre is (i, j)."""
        col = (np.asarray(lon, dtype=np.float64) - self.west) / self.dlon - 0.5
        row = (self.north - np.asarray(lat, dtype=np.float64)) / self.dlat - 0.5
        return row, col

    def nearest_index(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of the pixel holding each point (clamped to the grid)."""
        row, col = self.fractional_index(lon, lat)
        r = np.clip(np.floor(row + 0.5), 0, self.ny - 1).astype(np.intp)
        c = np.clip(np.floor(col + 0.5), 0, self.nx - 1).astype(np.intp)
        return r, c

    def bilinear(self, array: np.ndarray, lon, lat) -> np.ndarray:
        """Bilinear interpolation of ``array`` (ny, nx), given at pixel centres, at
        (lon, lat); outside the outermost centres the edge value is held. Float64."""
        row, col = self.fractional_index(lon, lat)
        return _bilinear(array, row, col)

    @classmethod
    def from_bounds_resolution(cls, bounds: Sequence[float], resolution_m: float) -> GeoGrid:
        """Grid starting at (west, north) with square-ish pixels of ``resolution_m`` metres
        at the central latitude; east / south are moved out to whole pixels."""
        west, south, east, north = map(float, bounds)
        m_lat, m_lon = metres_per_degree(0.5 * (south + north))
        dlat, dlon = resolution_m / m_lat, resolution_m / m_lon
        nx = max(2, math.ceil((east - west) / dlon - 1e-9))
        ny = max(2, math.ceil((north - south) / dlat - 1e-9))
        return cls(west, north - ny * dlat, west + nx * dlon, north, ny, nx)

    @classmethod
    def from_footprint(cls, footprint, margin_m: float = 2000.0,
                       resolution_m: float = 30.0) -> GeoGrid:
        """Grid covering a lon/lat footprint (shapely geometry, (lon, lat) ring or
        (w, s, e, n)) plus a margin in metres on every side."""
        return cls.from_bounds_resolution(footprint_bounds(footprint, margin_m), resolution_m)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GeoGrid:
        return cls(float(d["west"]), float(d["south"]), float(d["east"]), float(d["north"]),
                   int(d["ny"]), int(d["nx"]))


def _bounds_of(footprint) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a shapely geometry, a sequence of (lon, lat) points
    (e.g. ``BurstInfo.footprint``) or four numbers (w, s, e, n)."""
    if isinstance(footprint, shapely.Geometry):
        return tuple(float(v) for v in footprint.bounds)
    a = np.asarray(footprint, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 2 and a.shape[0] >= 1:
        if np.ptp(a[:, 0]) > 180.0:
            raise ValueError("footprint crosses the antimeridian (longitudes span more than 180 deg); "
                             "split it at +-180 deg first")
        return (float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 0].max()), float(a[:, 1].max()))
    if a.shape != (4,):
        raise ValueError(f"footprint must be a shapely geometry, (lon, lat) points or (w, s, e, n); "
                         f"got an array of shape {a.shape}")
    w, s, e, n = map(float, a)
    return w, s, e, n


def footprint_bounds(footprint, margin_m: float = 0.0) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of a footprint (shapely geometry, (lon, lat)
    points or (w, s, e, n)) widened by ``margin_m`` metres on every side, converted to
    degrees with :func:`metres_per_degree` at the central latitude (and, for longitude,
    at the latitude farthest from the equator, so the margin is at least ``margin_m``
    everywhere)."""
    w, s, e, n = _bounds_of(footprint)
    if not (e >= w and n >= s):
        raise ValueError(f"footprint bounds {(w, s, e, n)} are not (west, south, east, north)")
    if margin_m:
        m_lat, _ = metres_per_degree(0.5 * (s + n))
        _, m_lon = metres_per_degree(max(abs(s), abs(n)))
        w, s, e, n = (w - margin_m / m_lon, s - margin_m / m_lat, e + margin_m / m_lon, n + margin_m / m_lat)
    return w, max(s, -90.0), e, min(n, 90.0)


def _bilinear(array: np.ndarray, row, col) -> np.ndarray:
    """Bilinear interpolation at fractional (row, col), edge values held outside:
    (1-fr)(1-fc) a[r0,c0] + (1-fr) fc a[r0,c0+1] + fr (1-fc) a[r0+1,c0] + fr fc a[r0+1,c0+1].

    One fused numba pass (the radar simulator and terrain geometry sample the DEM tens
    of millions of times per burst; numpy would make ten temporaries per call)."""
    row = np.asarray(row, dtype=np.float64)
    col = np.asarray(col, dtype=np.float64)
    shape = np.broadcast_shapes(row.shape, col.shape)
    r = np.ascontiguousarray(np.broadcast_to(row, shape)).reshape(-1)
    c = np.ascontiguousarray(np.broadcast_to(col, shape)).reshape(-1)
    a = np.ascontiguousarray(array)
    if a.shape[0] < 2 or a.shape[1] < 2:
        a = np.pad(a, ((0, max(0, 2 - a.shape[0])), (0, max(0, 2 - a.shape[1]))), mode="edge")
    out = np.empty(r.size, dtype=np.float64)
    _bilinear_kernel(a, r, c, out)
    return out.reshape(shape)


@numba.njit(parallel=True, cache=True)
def _bilinear_kernel(a, row, col, out):
    ny, nx = a.shape
    for k in numba.prange(row.size):
        if np.isnan(row[k]) or np.isnan(col[k]):
            out[k] = np.nan
            continue
        rr = min(max(row[k], 0.0), ny - 1.0)
        cc = min(max(col[k], 0.0), nx - 1.0)
        r0 = min(int(rr), ny - 2)
        c0 = min(int(cc), nx - 2)
        fr = rr - r0
        fc = cc - c0
        top = a[r0, c0] * (1.0 - fc) + a[r0, c0 + 1] * fc
        bottom = a[r0 + 1, c0] * (1.0 - fc) + a[r0 + 1, c0 + 1] * fc
        out[k] = top * (1.0 - fr) + bottom * fr


# --------------------------------------------------------------------------------------
# DEM


@dataclasses.dataclass(eq=False)
class Dem:
    """Heights (ny, nx) float32 in metres above the WGS84 ELLIPSOID on a ``GeoGrid``.

    ``source``: where it was read from (empty for synthetic DEMs)."""

    grid: GeoGrid
    height: np.ndarray
    source: str = ""

    def __post_init__(self):
        self.height = np.ascontiguousarray(self.height, dtype=np.float32)
        if self.height.shape != self.grid.shape:
            raise ValueError(f"height shape {self.height.shape} != grid shape {self.grid.shape}")

    def interp(self, lon, lat) -> np.ndarray:
        """Bilinear height (m, ellipsoidal, float64) at (lon, lat)."""
        return self.grid.bilinear(self.height, lon, lat)

    def write(self, path: str | os.PathLike) -> Path:
        return write_dem(self, path)


def write_dem(dem: Dem, path: str | os.PathLike) -> Path:
    """Write a DEM as a float32 GeoTIFF (EPSG:4326, deflate + floating-point predictor,
    lossless), band unit 'metre', tagged VERTICAL_REFERENCE=ellipsoid (WGS84)."""
    path = Path(path)
    profile = dict(driver="GTiff", width=dem.grid.nx, height=dem.grid.ny, count=1,
                   dtype="float32", crs="EPSG:4326", transform=dem.grid.transform,
                   compress="deflate", predictor=3, tiled=True, blockxsize=256, blockysize=256)
    if dem.grid.nx < 256 or dem.grid.ny < 256:
        profile.update(tiled=False)
        profile.pop("blockxsize")
        profile.pop("blockysize")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dem.height, 1)
        dst.units = ("metre",)
        dst.set_band_description(1, "height above the WGS84 ellipsoid")
        dst.update_tags(VERTICAL_REFERENCE="ellipsoid", VERTICAL_DATUM="WGS84 ellipsoid (EPSG:4979)",
                        UNITS="metre", AREA_OR_POINT="Area")
    return path


_GEOID_VERTICAL_CRS = {"EGM2008": 3855, "EGM96": 5773}


def _storage_options(url: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``storage_options`` if given, else the pipeline settings' options for ``url``
    (S3 endpoint, keys and path-style addressing for s3:// URLs)."""
    if storage_options is not None:
        return dict(storage_options)
    from .settings import get_settings

    return get_settings().storage_options_for(url)


def _open_raster(url_or_path, storage_options: Mapping[str, Any] | None):
    """rasterio dataset for a local path or any fsspec URL (s3://, memory://, ...).

    URLs are opened through their fsspec file system as rasterio's ``opener`` (GDAL
    reads through Python file objects: range requests on object storage), with
    ``storage_options`` or, when None, the settings' options for the URL."""
    s = os.fspath(url_or_path)
    if "://" in s and not s.startswith("file://"):
        import fsspec

        fs, p = fsspec.core.url_to_fs(s, **_storage_options(s, storage_options))
        if not fs.exists(p):
            raise FileNotFoundError(f"{s}: no such DEM file")
        return rasterio.open(p, opener=fs)
    if s.startswith("file://"):
        s = s[len("file://"):]
    return rasterio.open(s)


def _vertical_of(src) -> str | None:
    """'ellipsoid' / 'geoid' from our own tag or the raster's (compound / 3-D) CRS."""
    tag = src.tags().get("VERTICAL_REFERENCE")
    if tag in ("ellipsoid", "geoid"):
        return tag
    if src.crs is None:
        return None
    from pyproj import CRS

    crs = CRS.from_wkt(src.crs.to_wkt())
    if crs.is_compound:
        return "geoid"  # a vertical CRS with a gravity-related datum (EGM96, EGM2008, ...)
    if crs.is_geographic and len(crs.axis_info) == 3:
        return "ellipsoid"  # geographic 3-D, e.g. EPSG:4979
    return None


def _warp_to_grid(src, grid: GeoGrid, resampling: Resampling) -> np.ndarray:
    """The raster's band 1 reprojected onto ``grid`` (GDAL warper), NaN where no data."""
    if src.crs is None:
        raise DemError(f"{src.name}: raster has no CRS; cannot place it on a lon/lat grid")
    # tolerance 0.01 pixel for GDAL's approximate coordinate transformer (default 0.125:
    # metres of position, decimetres of height on slopes; 0 fails in WarpedVRT)
    with WarpedVRT(src, crs="EPSG:4326", transform=grid.transform, width=grid.nx,
                   height=grid.ny, nodata=np.nan, dtype="float32", resampling=resampling,
                   tolerance=0.01) as vrt:
        return vrt.read(1)


def _geoid_undulation(grid: GeoGrid, model: str, geoid_grid, storage_options) -> np.ndarray:
    """Geoid undulation N (m) at the grid's pixel centres, so that h = H + N."""
    if geoid_grid is not None:
        with _open_raster(geoid_grid, storage_options) as src:
            n = _warp_to_grid(src, grid, Resampling.bilinear)
        if np.isnan(n).any():
            raise DemError(f"geoid grid {geoid_grid} does not cover the DEM bounds {grid.bounds}")
        return n
    from pyproj.transformer import TransformerGroup

    code = _GEOID_VERTICAL_CRS.get(model.upper())
    if code is None:
        raise ValueError(f"unknown geoid model {model!r}; one of {sorted(_GEOID_VERTICAL_CRS)}")
    with warnings.catch_warnings():  # pyproj warns of the missing grid; we raise below
        warnings.simplefilter("ignore", UserWarning)
        group = TransformerGroup(f"EPSG:4326+{code}", "EPSG:4979", always_xy=True)
    best = group.transformers[0] if group.transformers else None
    if not group.best_available or best is None or "ballpark" in best.description.lower():
        grids = sorted({g.short_name for op in group.unavailable_operations for g in op.grids})
        raise GeoidUnavailableError(
            f"the DEM holds geoid ({model}) heights, but no {model} geoid model is available "
            f"offline (PROJ grids {grids or 'none'} are not installed and no geoid_grid= was "
            "given). Converting needs the undulation N (tens of metres; about +47 m in northern "
            "Italy), and PROJ would otherwise fall back to a 'ballpark' transformation that "
            "silently sets N = 0. Nothing can be downloaded at run time, so this refuses. "
            "Either pass geoid_grid=<GeoTIFF of N in metres>, install the PROJ grid into "
            "PROJ_DATA, or pass vertical='ellipsoid' if the heights are already ellipsoidal.")
    lon2, lat2 = np.meshgrid(grid.lon, grid.lat)
    _, _, h = best.transform(lon2, lat2, np.zeros_like(lon2))
    return np.asarray(h, dtype=np.float32)


def _fmt_bounds(b: Sequence[float]) -> str:
    return "(W {:.5f}, S {:.5f}, E {:.5f}, N {:.5f})".format(*b)


def _dem_polygon_lonlat(src) -> shapely.Geometry:
    """The raster's valid extent as a lon/lat polygon: its bounding rectangle in its own
    CRS, densified (64 points a side) and transformed to EPSG:4326, so a projected DEM's
    curved edges are followed rather than its lon/lat envelope."""
    from rasterio.warp import transform as warp_transform

    if src.crs is None:
        raise DemError(f"{src.name}: raster has no CRS; cannot tell what area it covers")
    left, bottom, right, top = src.bounds
    t = np.linspace(0.0, 1.0, 65)[:-1]
    xs = np.concatenate([left + (right - left) * t, np.full(t.size, right),
                         right - (right - left) * t, np.full(t.size, left)])
    ys = np.concatenate([np.full(t.size, top), top - (top - bottom) * t,
                         np.full(t.size, bottom), bottom + (top - bottom) * t])
    lon, lat = warp_transform(src.crs, "EPSG:4326", xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))


def dem_bounds_lonlat(url_or_path, storage_options: Mapping[str, Any] | None = None) -> tuple[float, ...]:
    """(west, south, east, north) lon/lat envelope of a DEM file's extent (any CRS)."""
    with _open_raster(url_or_path, storage_options) as src:
        return tuple(float(v) for v in _dem_polygon_lonlat(src).bounds)


def _read_src(src, name: str, bounds: Sequence[float] | None, shape, resolution_m, vertical,
              geoid_model, geoid_grid, storage_options, resampling: str) -> Dem:
    """Read an open raster onto a lon/lat grid (body of :func:`read_dem`)."""
    if vertical not in (None, "ellipsoid", "geoid"):
        raise ValueError(f"vertical must be 'ellipsoid' or 'geoid', not {vertical!r}")
    vert = vertical or _vertical_of(src)
    if vert is None:
        raise ValueError(
            f"{name}: cannot tell whether the heights are ellipsoidal or geoid "
            "(orthometric); pass vertical='ellipsoid' or vertical='geoid' (Copernicus DEM "
            "and SRTM hold geoid heights: EGM2008 / EGM96)")
    src_epsg = src.crs.to_epsg() if src.crs is not None else None
    exact = (bounds is None and shape is None and resolution_m is None
             and src_epsg in (4326, 4979) and src.transform.b == 0 and src.transform.d == 0
             and src.transform.e < 0)
    if exact:
        w, s, e, n = src.bounds
        grid = GeoGrid(w, s, e, n, src.height, src.width)
        h = src.read(1, masked=True).astype(np.float32).filled(np.nan)
    else:
        if bounds is None:
            if src.crs is None:
                raise DemError(f"{name}: raster has no CRS; cannot place it on a lon/lat grid")
            from rasterio.warp import transform_bounds

            bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        if shape is not None:
            grid = GeoGrid(*map(float, bounds), int(shape[0]), int(shape[1]))
        else:
            if resolution_m is None:
                resolution_m = _source_resolution_m(src)
            grid = GeoGrid.from_bounds_resolution(bounds, resolution_m)
        h = _warp_to_grid(src, grid, Resampling[resampling])
    bad = np.isnan(h)
    if bad.any():
        rows, cols = np.nonzero(bad)
        hole = (grid.west + cols.min() * grid.dlon, grid.north - (rows.max() + 1) * grid.dlat,
                grid.west + (cols.max() + 1) * grid.dlon, grid.north - rows.min() * grid.dlat)
        raise DemError(f"{name}: the DEM does not cover the requested bounds {_fmt_bounds(grid.bounds)} "
                       f"({100 * bad.mean():.2f} % of the output pixels have no data, within "
                       f"{_fmt_bounds(hole)}: outside the DEM or no-data voids)")
    if vert == "geoid":
        h = h + _geoid_undulation(grid, geoid_model, geoid_grid, storage_options)
    return Dem(grid, h, source=name)


def read_dem(url_or_path, bounds: Sequence[float] | None = None, *,
             shape: tuple[int, int] | None = None, resolution_m: float | None = None,
             vertical: str | None = None, geoid_model: str = "EGM2008",
             geoid_grid=None, storage_options: Mapping[str, Any] | None = None,
             resampling: str = "bilinear") -> Dem:
    """Read any GeoTIFF DEM (any CRS, local path or fsspec URL) onto a lon/lat grid.

    The raster is reprojected / cropped to ``bounds`` (west, south, east, north in
    degrees) with GDAL's warper (``WarpedVRT``, bilinear by default), reading only the
    source blocks it needs. The output grid is ``shape`` pixels over ``bounds``, or
    ``resolution_m`` pixels (``GeoGrid.from_bounds_resolution``), or by default the
    source's own pixel size in metres. ``bounds=None`` reads an EPSG:4326 raster on its
    own grid exactly (no resampling), or any other raster over its full extent.

    ``vertical`` says what the heights are: ``'ellipsoid'`` (above WGS84) or ``'geoid'``
    (orthometric, above ``geoid_model``: EGM2008 for Copernicus DEM GLO-30/90, EGM96 for
    SRTM). When omitted it is taken from our own VERTICAL_REFERENCE tag or the raster's
    CRS (compound with a vertical CRS: geoid; geographic 3-D: ellipsoid), and the call
    fails if neither says. Geoid heights are converted with ``h = H + N`` where the
    undulation N comes from ``geoid_grid`` (a GeoTIFF of N in metres, any CRS) or from
    PROJ's grid for ``geoid_model`` if it is installed locally. No grid can be downloaded
    at run time, so without one this raises ``GeoidUnavailableError`` rather than
    returning heights that are wrong by tens of metres.

    Pixels of the output not covered by valid source data raise :class:`DemError` (a
    ``ValueError``) naming the requested bounds and where the data is missing.
    ``storage_options=None``: the settings' options for the URL (module docstring).

    Accuracy: at output pixels as fine as the source's or finer, bilinear reprojection
    reproduces a smooth surface to millimetres. Coarser output makes GDAL widen the
    resampling kernel (anti-aliasing); its discrete weights are not centred exactly,
    which shifts samples by up to ~0.1 source pixel (a few cm of height on a 5 % slope
    for a 30 m source). Prefer ``resolution_m`` <= the source pixel size.
    """
    name = os.fspath(url_or_path)
    with _open_raster(url_or_path, storage_options) as src:
        return _read_src(src, name, bounds, shape, resolution_m, vertical, geoid_model,
                         geoid_grid, storage_options, resampling)


def read_dem_for_footprint(url_or_path, footprint, *, margin_m: float = DEFAULT_FOOTPRINT_MARGIN_M,
                           resolution_m: float | None = None, vertical: str | None = None,
                           geoid_model: str = "EGM2008", geoid_grid=None,
                           storage_options: Mapping[str, Any] | None = None,
                           resampling: str = "bilinear") -> Dem:
    """The DEM around a burst: ``footprint`` plus ``margin_m`` metres, on a lon/lat grid.

    ``footprint``: a shapely (lon/lat) geometry, a ring of (lon, lat) points such as
    ``BurstInfo.footprint``, or (west, south, east, north) in degrees. The needed area
    is its bounding box widened by ``margin_m`` on every side (:func:`footprint_bounds`;
    default :data:`DEFAULT_FOOTPRINT_MARGIN_M`, for the terrain's displacement of ground
    positions across track). ``url_or_path``: a GeoTIFF/COG in any CRS, local or on
    object storage (``s3://``: ``storage_options`` or the pipeline settings' endpoint and
    keys). Output pixel size ``resolution_m`` (default: the source's); heights converted
    to the WGS84 ellipsoid as in :func:`read_dem` (``vertical``, ``geoid_model``,
    ``geoid_grid``).

    Before reading any pixel the DEM's own extent (its bounding rectangle in its CRS,
    densified and transformed to lon/lat) must cover the needed box (its pixel centres);
    otherwise :class:`DemError` names the file, the DEM's lon/lat bounds and the needed
    bounds. No-data voids inside the DEM are refused the same way after reading.
    """
    name = os.fspath(url_or_path)
    need = footprint_bounds(footprint, margin_m)
    with _open_raster(url_or_path, storage_options) as src:
        if resolution_m is None:
            resolution_m = _source_resolution_m(src)
        grid = GeoGrid.from_bounds_resolution(need, resolution_m)
        have = _dem_polygon_lonlat(src)
        centres = shapely.box(grid.west + 0.5 * grid.dlon, grid.south + 0.5 * grid.dlat,
                              grid.east - 0.5 * grid.dlon, grid.north - 0.5 * grid.dlat)
        if not have.covers(centres):
            missing = centres.difference(have)
            raise DemError(
                f"DEM {name} does not cover the burst: the DEM covers {_fmt_bounds(have.bounds)} "
                f"(lon/lat envelope of its {src.crs} extent), the burst footprint plus "
                f"{margin_m:g} m needs {_fmt_bounds(need)}; missing "
                f"{100 * missing.area / centres.area:.1f} % of that area, within "
                f"{_fmt_bounds(missing.bounds)}. Use a DEM (or mosaic / VRT) covering the burst.")
        src_epsg = src.crs.to_epsg() if src.crs is not None else None
        if (src_epsg in (4326, 4979) and src.transform.b == 0 and src.transform.d == 0
                and src.transform.e < 0 and resolution_m == _source_resolution_m(src)):
            return _read_window(src, name, need, vertical, geoid_model, geoid_grid, storage_options)
        return _read_src(src, name, grid.bounds, grid.shape, None, vertical, geoid_model,
                         geoid_grid, storage_options, resampling)


def _read_window(src, name: str, need: Sequence[float], vertical, geoid_model, geoid_grid,
                 storage_options) -> Dem:
    """A lon/lat DEM's own pixels covering ``need`` (whole pixels, rounded outwards): no
    resampling, so heights are exactly the file's (what the simulator's truth used)."""
    from rasterio.windows import Window, from_bounds

    win = from_bounds(*need, transform=src.transform)
    r0, c0 = max(int(np.floor(win.row_off)) - 1, 0), max(int(np.floor(win.col_off)) - 1, 0)
    r1 = min(int(np.ceil(win.row_off + win.height)) + 1, src.height)
    c1 = min(int(np.ceil(win.col_off + win.width)) + 1, src.width)
    window = Window(c0, r0, c1 - c0, r1 - r0)
    w, s, e, n = rasterio.windows.bounds(window, src.transform)
    grid = GeoGrid(w, s, e, n, r1 - r0, c1 - c0)
    h = src.read(1, window=window, masked=True).astype(np.float32).filled(np.nan)
    if np.isnan(h).any():
        raise DemError(f"{name}: no-data voids inside the burst's DEM window {_fmt_bounds(grid.bounds)} "
                       f"({100 * np.isnan(h).mean():.2f} % of its pixels)")
    vert = vertical or _vertical_of(src)
    if vert is None:
        raise ValueError(f"{name}: cannot tell whether the heights are ellipsoidal or geoid; pass vertical=")
    if vert == "geoid":
        h = h + _geoid_undulation(grid, geoid_model, geoid_grid, storage_options)
    return Dem(grid, h, source=name)


def _source_resolution_m(src) -> float:
    """The source raster's finer pixel side in metres (degrees converted at mid-latitude)."""
    rx, ry = abs(src.transform.a), abs(src.transform.e)
    if src.crs is not None and src.crs.is_geographic:
        lat = 0.5 * (src.bounds.bottom + src.bounds.top)
        m_lat, m_lon = metres_per_degree(lat)
        return min(rx * m_lon, ry * m_lat)
    return min(rx, ry)
