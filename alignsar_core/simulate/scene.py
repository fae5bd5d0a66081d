"""The ground side of the simulator: a known world (terrain, land cover, deformation,
atmosphere, point targets, change events) that the radar simulator observes.

Everything here is independent of radar geometry. The radar simulator computes the
ground point (lon, lat, height) of each radar pixel and asks the scene what is there on
each acquisition date (``Scene.sample``); it projects displacements and delays on its
own line of sight.

Conventions (read before using the numbers):

* Horizontal: geographic WGS84 longitude / latitude in degrees (EPSG:4326). The scene
  grid is a regular lon/lat raster, north-up, pixel-is-area; array row 0 is the northern
  edge; pixel (i, j) has its centre at ``(west + (j + 0.5) dlon, north - (i + 0.5) dlat)``.
* Heights are ELLIPSOIDAL heights above the WGS84 ellipsoid (EPSG:4979), metres. Not
  geoid (orthometric) heights: SAR geometry (rdr2geo / geo2rdr) works on the ellipsoid.
  ``read_dem`` converts geoid heights only with a geoid model that is available offline
  and refuses otherwise (see there).
* Backscatter: sigma0 (radar cross section per unit ground area) in linear units
  (m^2/m^2); dB = 10 log10(linear). Values are for the class at a mid-swath IW
  incidence (about 35-40 degrees); no local-incidence dependence is applied here.
* Deformation: displacement of the ground in metres, east / north / up (a local ENU
  frame at the point), relative to the first acquisition (date index 0, displacement 0
  there). Project on the line of sight with the unit vector of your geometry.
* Atmosphere: ONE-WAY ZENITH delay in metres (excess path length of a vertical ray),
  turbulent + height-stratified part, with zero mean turbulence over the scene. The
  slant one-way delay is approximately ``delay / cos(incidence)`` (flat-layer mapping
  function); the two-way range excess is twice that. The absolute hydrostatic delay
  (about 2.3 m at sea level, nearly the same on every date) is NOT included.
* Dates: date indices 0..n-1; ``Scene.acquisition_days[d]`` is the time of date ``d`` in
  days after date 0; ``Scene.start_date`` the calendar date of date 0 (only used for the
  day of year of seasonal terms).
* Land-cover class codes follow ESA WorldCover (Zanaga et al. 2022, ESA WorldCover 10 m
  2021 v200 product user manual): 10 tree cover, 40 cropland, 50 built-up, 60 bare /
  sparse vegetation, 80 permanent water bodies. Using a real product's codes lets the
  simulated truth stand in for a radarcoded WorldCover layer (category 3).

The file layout written by ``Scene.save`` (and read back exactly by ``Scene.load``)::

    dem.tif          float32 GeoTIFF, EPSG:4326, ellipsoidal heights in metres
    landcover.gpkg   layer 'landcover': cell_id, class_code, class_name, sigma0_vv_db,
                     sigma0_vh_db, geometry (EPSG:4326)
    targets.csv      point targets (id, kind, lon, lat, heights, RCS, date_index)
    scene.json       grid, class table, deformation, atmosphere (seeds and parameters),
                     change events, acquisition days, units
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import rasterio
import rasterio.features
import scipy.fft
import scipy.ndimage
import shapely
from rasterio.transform import Affine

from ..dem import (  # noqa: F401  (re-exported: the DEM reader moved to alignsar_core.dem)
    Dem,
    DemError,
    GeoGrid,
    GeoidUnavailableError,
    _bilinear,
    _bounds_of,
    metres_per_degree,
    read_dem,
    read_dem_for_footprint,
    write_dem,
)

__all__ = [
    "AtmosphereModel",
    "ChangeEvent",
    "DEFAULT_CLASSES",
    "Dem",
    "DeformationModel",
    "GeoGrid",
    "GeoidUnavailableError",
    "LandCover",
    "LandCoverClass",
    "SAMPLE_UNITS",
    "Scene",
    "SubsidenceBowl",
    "TARGET_DTYPE",
    "atmospheric_phase_screen",
    "flatten_water",
    "make_default_scene",
    "power_law_field",
    "random_landcover",
    "random_point_targets",
    "read_dem",
    "read_landcover",
    "ship_rcs_dbsm",
    "synthetic_dem",
    "temporal_coherence_model",
    "trihedral_rcs_dbsm",
    "write_dem",
    "write_landcover",
]

#: WGS84 ellipsoid (NIMA TR8350.2).
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
#: Sentinel-1 C-band radar wavelength (5.405 GHz carrier, annotation radarFrequency).
S1_WAVELENGTH_M = 299792458.0 / 5.405e9
#: Days per year for rates and seasonal terms (Julian year).
DAYS_PER_YEAR = 365.25
SCENE_FORMAT_VERSION = 1

#: Units of every layer returned by ``Scene.sample`` (and ``Scene.to_dataset``).
SAMPLE_UNITS: dict[str, str] = {
    "class_code": "1 (ESA WorldCover code)",
    "cell_id": "1 (land-cover polygon index, -1 outside every polygon)",
    "height": "m (above the WGS84 ellipsoid)",
    "sigma0_vv": "m2 m-2 (linear)",
    "sigma0_vh": "m2 m-2 (linear)",
    "displacement_east": "m (since date 0)",
    "displacement_north": "m (since date 0)",
    "displacement_up": "m (since date 0)",
    "atmospheric_delay": "m (one-way zenith excess path)",
}


# --------------------------------------------------------------------------------------
# Land-cover classes


@dataclasses.dataclass(frozen=True)
class LandCoverClass:
    """One land-cover class: backscatter, temporal coherence and polarimetric behaviour.

    Backscatter: ``sigma0_vv`` / ``sigma0_vh`` are linear annual-mean sigma0 at mid-swath
    IW incidence. ``seasonal_amplitude_*_db`` add ``A cos(2 pi (doy - seasonal_peak_doy)
    / 365.25)`` dB on each date (crop phenology: VH follows biomass, VV less so; Veloso et
    al. 2017, Remote Sensing of Environment 199, 415-426).

    Temporal coherence (``temporal_coherence_model``): ``gamma(dt) = (gamma0 - gamma_inf)
    exp(-dt / tau_days) + gamma_inf`` (Rocca 2007, IEEE TGRS 45(10); Parizzi et al. 2009,
    FRINGE; the same form is fitted per pixel to Sentinel-1 12-day-multiple stacks
    worldwide by Kellndorfer et al. 2022, Scientific Data 9, 73). ``gamma0`` is the
    coherence of two distinct acquisitions at zero time separation (1 - gamma0: the
    instantaneous loss, e.g. thermal/volume), ``gamma_inf`` the persistent part. Physical
    range: ``0 <= gamma_inf <= gamma0 <= 1``, ``tau_days > 0``. This matches the
    parameters of ``simulate.speckle.correlated_speckle`` (note that function's
    ``temporal_coherence`` returns 1 for a date with itself, dt = 0; this model returns
    gamma0 there).

    Polarimetry (dual-pol VV/VH): ``rho_vv_vh`` is the complex correlation
    ``E[S_vv S_vh*] / sqrt(E|S_vv|^2 E|S_vh|^2)``, the normalised off-diagonal element of
    the 2x2 covariance matrix C2 (Lee & Pottier 2009, ch. 3). For reflection-symmetric
    media (random volumes, rough surfaces, anything statistically symmetric about the
    incidence plane) the co-/cross-polar correlation vanishes (Nghiem et al. 1992,
    "Symmetry properties in polarimetric remote sensing", Radio Science 27(5)), so 0 is
    the default. Built-up areas with walls oblique to the flight track break the
    symmetry; measured |rho| there is typically a few tenths. ``|rho| <= 1`` keeps C2
    positive semi-definite. ``mechanism`` names the dominant scattering mechanism
    (surface / volume / double-bounce), for documentation and labels.
    """

    code: int
    name: str
    sigma0_vv: float
    sigma0_vh: float
    gamma0: float
    gamma_inf: float
    tau_days: float
    rho_vv_vh: complex = 0j
    mechanism: str = "surface"
    seasonal_amplitude_vv_db: float = 0.0
    seasonal_amplitude_vh_db: float = 0.0
    seasonal_peak_doy: float = 200.0

    def __post_init__(self):
        if not (0 <= int(self.code) <= 255):
            raise ValueError(f"class code must be 0..255, got {self.code}")
        if not (self.sigma0_vv > 0 and self.sigma0_vh > 0):
            raise ValueError(f"{self.name}: sigma0 must be positive (linear units)")
        if not (0.0 <= self.gamma_inf <= self.gamma0 <= 1.0):
            raise ValueError(f"{self.name}: need 0 <= gamma_inf <= gamma0 <= 1")
        if not self.tau_days > 0:
            raise ValueError(f"{self.name}: tau_days must be positive")
        if abs(complex(self.rho_vv_vh)) > 1.0:
            raise ValueError(f"{self.name}: |rho_vv_vh| must be <= 1")

    @property
    def sigma0_vv_db(self) -> float:
        return 10.0 * math.log10(self.sigma0_vv)

    @property
    def sigma0_vh_db(self) -> float:
        return 10.0 * math.log10(self.sigma0_vh)

    @property
    def vh_vv_ratio_db(self) -> float:
        return self.sigma0_vh_db - self.sigma0_vv_db

    def coherence(self, dt_days) -> np.ndarray:
        """``temporal_coherence_model`` with this class's parameters."""
        return temporal_coherence_model(dt_days, self.gamma0, self.gamma_inf, self.tau_days)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        rho = complex(self.rho_vv_vh)
        d["rho_vv_vh"] = [rho.real, rho.imag]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LandCoverClass:
        d = dict(d)
        re, im = d.pop("rho_vv_vh", (0.0, 0.0))
        return cls(rho_vv_vh=complex(re, im), **d)


def _db(x: float) -> float:
    return 10.0 ** (x / 10.0)


#: Default classes (ESA WorldCover codes). Backscatter: representative C-band VV/VH
#: values at 30-45 degrees incidence, within the ranges reported for Sentinel-1 IW by
#: class (Ulaby & Dobson 1989, "Handbook of Radar Scattering Statistics for Terrain";
#: Abdikan et al. 2016, ISPRS Archives XLI-B7, "Land cover mapping using Sentinel-1 SAR
#: data"; Veloso et al. 2017 for crops; Twele et al. 2016, Int. J. Remote Sens. 37(13),
#: for open water below about -18 dB VV). VH/VV ratios: about -6 dB for volume scattering
#: (forest), -7 dB crops, -8 to -9 dB for surfaces and built-up areas.
#: Coherence: exponential model parameters giving 12-day coherences of about 0 (water),
#: 0.2 (forest), 0.45 (crops), 0.8 (bare), 0.9 (built-up), in line with the class means
#: of Jacob et al. 2020 (IEEE JSTARS 13, 535-552) and the decay constants of Kellndorfer
#: et al. 2022 (forest: days; crops: weeks; urban and rock: long, high gamma_inf).
DEFAULT_CLASSES: dict[int, LandCoverClass] = {
    c.code: c
    for c in (
        LandCoverClass(10, "forest", _db(-7.0), _db(-13.0), gamma0=0.50, gamma_inf=0.05,
                       tau_days=10.0, rho_vv_vh=0j, mechanism="volume"),
        LandCoverClass(40, "cropland", _db(-10.0), _db(-17.0), gamma0=0.70, gamma_inf=0.15,
                       tau_days=20.0, rho_vv_vh=0j, mechanism="surface+volume",
                       seasonal_amplitude_vv_db=1.0, seasonal_amplitude_vh_db=3.0,
                       seasonal_peak_doy=200.0),
        LandCoverClass(50, "urban", _db(0.0), _db(-9.0), gamma0=0.95, gamma_inf=0.85,
                       tau_days=60.0, rho_vv_vh=0.2 + 0j, mechanism="double-bounce"),
        LandCoverClass(60, "bare_soil", _db(-12.0), _db(-21.0), gamma0=0.85, gamma_inf=0.40,
                       tau_days=60.0, rho_vv_vh=0j, mechanism="surface"),
        LandCoverClass(80, "water", _db(-20.0), _db(-27.0), gamma0=0.0, gamma_inf=0.0,
                       tau_days=1.0, rho_vv_vh=0j, mechanism="specular surface"),
    )
}
WATER, FOREST, CROPLAND, URBAN, BARE = 80, 10, 40, 50, 60


def temporal_coherence_model(dt_days, gamma0, gamma_inf, tau_days) -> np.ndarray:
    """Exponential temporal decorrelation ``gamma(dt) = (gamma0 - gamma_inf) exp(-|dt| /
    tau) + gamma_inf`` (Rocca 2007, "Modeling interferogram stacks", IEEE TGRS 45(10);
    Parizzi et al. 2009; Kellndorfer et al. 2022, Sci. Data 9, 73).

    Closed form: ``gamma(0) = gamma0``, ``gamma(dt -> inf) = gamma_inf``. All arguments
    broadcast; dimensionless result (float64).
    """
    dt = np.abs(np.asarray(dt_days, dtype=np.float64))
    g0 = np.asarray(gamma0, dtype=np.float64)
    gi = np.asarray(gamma_inf, dtype=np.float64)
    return (g0 - gi) * np.exp(-dt / np.asarray(tau_days, dtype=np.float64)) + gi


# --------------------------------------------------------------------------------------
# Power-law random fields (terrain, turbulence)


def power_law_field(shape: tuple[int, int], spacing_m: tuple[float, float], beta: float,
                    rng: np.random.Generator, oversample: float = 1.0) -> np.ndarray:
    """Gaussian random field with isotropic 2-D power spectral density ``P(k) ~ |k|^-beta``.

    Spectral synthesis (Voss 1985, in "Fundamental Algorithms for Computer Graphics";
    Turcotte 1997, "Fractals and Chaos in Geology and Geophysics", ch. 7): the 2-D FFT of
    white Gaussian noise is multiplied by ``|k|^(-beta/2)`` (k in cycles per metre from
    the physical pixel spacing, so the field is isotropic on the ground even where
    degrees of longitude and latitude differ), the DC term is zeroed and the inverse FFT
    taken. With ``oversample == 1`` the field is periodic and its expected periodogram is
    exactly the power law; ``oversample > 1`` synthesises a larger periodic field and
    returns its top-left ``shape`` corner, which removes the periodic wrap (opposite
    edges uncorrelated) at the cost of a small leakage. Unnormalised, float32.
    """
    ny, nx = shape
    big_y = scipy.fft.next_fast_len(max(ny, math.ceil(ny * oversample)), real=True)
    big_x = scipy.fft.next_fast_len(max(nx, math.ceil(nx * oversample)), real=True)
    if oversample == 1.0:  # periodic: exactly the requested shape
        big_y, big_x = ny, nx
    dy, dx = spacing_m
    ky = np.fft.fftfreq(big_y, d=dy).astype(np.float32)
    kx = np.fft.rfftfreq(big_x, d=dx).astype(np.float32)
    amp = ky[:, None] ** 2 + kx[None, :] ** 2  # |k|^2, then in place |k|^(-beta/2)
    amp[0, 0] = 1.0
    np.power(amp, np.float32(-beta / 4.0), out=amp)
    amp[0, 0] = 0.0
    noise = rng.standard_normal((big_y, big_x), dtype=np.float32)
    spec = scipy.fft.rfft2(noise, workers=-1)
    del noise
    spec *= amp
    del amp
    field = scipy.fft.irfft2(spec, s=(big_y, big_x), workers=-1)
    return np.ascontiguousarray(field[:ny, :nx], dtype=np.float32)


def _rng(*keys: int) -> np.random.Generator:
    """Independent, reproducible stream for a tuple of integer keys (NumPy SeedSequence)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) & 0xFFFFFFFFFFFFFFFF for k in keys]))


# --------------------------------------------------------------------------------------
# DEM


# Dem, read_dem, write_dem and the geoid handling live in alignsar_core.dem (imported above):
# the DEM is read by coregistration and radarcoding too, not only by the simulator.


def synthetic_dem(bounds: Sequence[float], shape: tuple[int, int], seed: int, *,
                  relief_m: float = 1500.0, base_height_m: float = 100.0,
                  beta: float = 3.2, oversample: float = 1.5) -> Dem:
    """Fractal terrain on a lon/lat grid: heights above the WGS84 ellipsoid, metres.

    Model: a Gaussian random surface with 2-D power spectrum ``P(k) ~ k^-beta`` (spectral
    synthesis, ``power_law_field``, periodic). Natural topography follows such a power law
    with ``beta`` about 3 to 3.5, i.e. fractal dimension ``D = (8 - beta) / 2`` of 2.25 to
    2.5 (Huang & Turcotte 1989, JGR 94(B6), 7491-7495; Turcotte 1997, ch. 7). The field
    is then mapped linearly onto ``[base_height_m, base_height_m + relief_m]`` (minimum
    and maximum of the grid), which keeps the spectral slope. Default ``beta = 3.2``.
    ``oversample`` (default 1.5): synthesised on that many times the extent and cropped,
    so the terrain does not wrap around (1: periodic, slope exact; cost grows as its
    square: about 1.6 s and 0.9 GB peak for 24 M pixels at 1.5).
    """
    grid = GeoGrid(*map(float, bounds), int(shape[0]), int(shape[1]))
    f = power_law_field(grid.shape, grid.spacing_m(), beta, _rng(seed, 0xDE0), oversample=oversample)
    lo, hi = float(f.min()), float(f.max())
    h = base_height_m + relief_m * (f - lo) / (hi - lo)
    return Dem(grid, h.astype(np.float32))


# --------------------------------------------------------------------------------------
# Land cover


@dataclasses.dataclass(eq=False)
class LandCover:
    """Land-cover polygons (lon/lat, EPSG:4326); polygon ``i`` is cell id ``i``.

    ``sigma0_vv_db`` / ``sigma0_vh_db`` are the per-polygon annual-mean backscatter (the
    class value plus a per-field offset: fields of one class differ in roughness,
    moisture, crop type), in dB.
    """

    geometry: np.ndarray  # object array of shapely (Multi)Polygons
    class_code: np.ndarray  # int16
    sigma0_vv_db: np.ndarray  # float64
    sigma0_vh_db: np.ndarray  # float64

    def __post_init__(self):
        self.geometry = np.asarray(self.geometry, dtype=object)
        self.class_code = np.asarray(self.class_code, dtype=np.int16)
        self.sigma0_vv_db = np.asarray(self.sigma0_vv_db, dtype=np.float64)
        self.sigma0_vh_db = np.asarray(self.sigma0_vh_db, dtype=np.float64)
        n = len(self.geometry)
        if not (len(self.class_code) == len(self.sigma0_vv_db) == len(self.sigma0_vh_db) == n):
            raise ValueError("land-cover columns differ in length")

    def __len__(self) -> int:
        return len(self.geometry)

    def rasterize(self, grid: GeoGrid) -> np.ndarray:
        """Cell id of the polygon holding each pixel centre (-1 where none), int32
        (``rasterio.features.rasterize``; later polygons win on overlaps)."""
        if len(self) == 0:
            return np.full(grid.shape, -1, dtype=np.int32)
        return rasterio.features.rasterize(
            zip(self.geometry, range(len(self))), out_shape=grid.shape, transform=grid.transform,
            fill=-1, dtype="int32", all_touched=False)

    def write(self, path: str | os.PathLike, classes: Mapping[int, LandCoverClass] | None = None) -> Path:
        return write_landcover(self, path, classes)


def random_landcover(bounds: Sequence[float], seed: int, n_polygons: int = 500, *,
                     dem: Dem | None = None,
                     classes: Mapping[int, LandCoverClass] | None = None,
                     water_fraction: float = 0.05, bare_fraction: float = 0.06,
                     field_sigma_db: float = 1.0) -> LandCover:
    """A plausible land-cover map: Voronoi cells of random points, classes by a DEM rule.

    Cells: ``shapely.voronoi_polygons`` of ``n_polygons`` uniform points, computed in a
    locally isometric frame (longitude scaled by cos(latitude)) and clipped to the
    bounds. Classes (ESA WorldCover codes), from each cell's height quantile ``q`` (rank
    of the DEM height at its seed point; uniform random without a DEM):

    * water (80): the lowest ``water_fraction`` of cells (lakes and rivers lie in the
      lowest ground, and neighbouring low cells merge into larger water bodies);
    * bare soil / rock (60): the highest ``bare_fraction`` (above the tree line);
    * otherwise, with ``u`` the quantile within the remaining band, drawn with relative
      weights cropland ``1.5 (1 - u)^2``, urban ``0.3 (1 - u)^2``, forest ``0.1 + u``:
      towns and fields in the valleys, forest on the slopes.

    Per-field backscatter offsets: ``sigma0_vv_db = class + o1``, ``sigma0_vh_db = class +
    o1 + o2`` with ``o1 ~ N(0, field_sigma_db)``, ``o2 ~ N(0, field_sigma_db / 2)``.
    """
    classes = DEFAULT_CLASSES if classes is None else classes
    for code in (WATER, BARE, CROPLAND, URBAN, FOREST):
        if code not in classes:
            raise ValueError(f"random_landcover needs class code {code} in the class table")
    rng = _rng(seed, 0x1C)
    west, south, east, north = map(float, bounds)
    scale = math.cos(math.radians(0.5 * (south + north)))
    lon = rng.uniform(west, east, n_polygons)
    lat = rng.uniform(south, north, n_polygons)
    pts = shapely.multipoints(np.column_stack([lon * scale, lat]))
    frame = shapely.box(west * scale, south, east * scale, north)
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame, ordered=True))
    cells = shapely.intersection(cells, frame)
    cells = shapely.transform(cells, lambda xy: xy / np.array([scale, 1.0]))
    if len(cells) != n_polygons:  # duplicate points (practically never): re-derive seeds
        seeds = shapely.get_coordinates(shapely.point_on_surface(cells))
        lon, lat = seeds[:, 0], seeds[:, 1]
    n = len(cells)

    if dem is not None:
        h = dem.interp(lon, lat)
        q = np.empty(n)
        q[np.argsort(h, kind="stable")] = (np.arange(n) + 0.5) / n
    else:
        q = rng.uniform(0.0, 1.0, n)
    code = np.empty(n, dtype=np.int16)
    water = q < water_fraction
    bare = q >= 1.0 - bare_fraction
    u = np.clip((q - water_fraction) / max(1e-12, 1.0 - water_fraction - bare_fraction), 0, 1)
    w = np.stack([1.5 * (1 - u) ** 2, 0.3 * (1 - u) ** 2, 0.1 + u])
    cum = np.cumsum(w / w.sum(axis=0), axis=0)
    pick = (rng.uniform(0.0, 1.0, n)[None, :] > cum).sum(axis=0)
    code[:] = np.array([CROPLAND, URBAN, FOREST], dtype=np.int16)[np.minimum(pick, 2)]
    code[water] = WATER
    code[bare] = BARE

    o1 = rng.normal(0.0, field_sigma_db, n)
    o2 = rng.normal(0.0, field_sigma_db / 2.0, n)
    vv = np.array([classes[int(c)].sigma0_vv_db for c in code]) + o1
    vh = np.array([classes[int(c)].sigma0_vh_db for c in code]) + o1 + o2
    return LandCover(cells, code, vv, vh)


def write_landcover(landcover: LandCover, path: str | os.PathLike,
                    classes: Mapping[int, LandCoverClass] | None = None) -> Path:
    """Write land cover as a GeoPackage (pyogrio): layer 'landcover', EPSG:4326, columns
    cell_id (int32), class_code (int16), class_name, sigma0_vv_db, sigma0_vh_db (dB)."""
    classes = DEFAULT_CLASSES if classes is None else classes
    path = Path(path)
    if path.exists():
        path.unlink()
    geoms = landcover.geometry
    types = set(shapely.get_type_id(geoms).tolist()) if len(geoms) else {3}
    geometry_type = "Polygon" if types <= {3} else "MultiPolygon" if types <= {6} else "Unknown"
    names = np.array([classes[int(c)].name if int(c) in classes else "" for c in landcover.class_code],
                     dtype=object)
    pyogrio.raw.write(
        path, geometry=shapely.to_wkb(geoms, output_dimension=2),
        field_data=[np.arange(len(geoms), dtype=np.int32), landcover.class_code, names,
                    landcover.sigma0_vv_db, landcover.sigma0_vh_db],
        fields=["cell_id", "class_code", "class_name", "sigma0_vv_db", "sigma0_vh_db"],
        layer="landcover", driver="GPKG", geometry_type=geometry_type, crs="EPSG:4326",
        layer_metadata={"sigma0_units": "dB (10 log10 of linear sigma0)",
                        "class_codes": "ESA WorldCover"})
    return path


def read_landcover(path: str | os.PathLike, *, layer: str | None = "landcover",
                   classes: Mapping[int, LandCoverClass] | None = None,
                   storage_options: Mapping[str, Any] | None = None) -> LandCover:
    """Read land-cover polygons from any vector file pyogrio reads (GeoPackage...).

    Needs a ``class_code`` column; ``sigma0_vv_db`` / ``sigma0_vh_db`` default to the class
    values of ``classes``; rows are ordered by ``cell_id`` when present; geometries in
    another CRS are transformed to EPSG:4326 (pyproj, always_xy).
    """
    classes = DEFAULT_CLASSES if classes is None else classes
    src = os.fspath(path)
    if "://" in src and not src.startswith("file://"):
        import fsspec

        with fsspec.open(src, "rb", **dict(storage_options or {})) as f:
            data = f.read()
        meta, _, wkb, fields = pyogrio.raw.read(data, layer=layer)
    else:
        meta, _, wkb, fields = pyogrio.raw.read(src.removeprefix("file://"), layer=layer)
    cols = {name: fields[i] for i, name in enumerate(meta["fields"])}
    if "class_code" not in cols:
        raise ValueError(f"{path}: no 'class_code' column (have {list(cols)})")
    geoms = shapely.from_wkb(wkb)
    crs = meta.get("crs")
    if crs and crs.upper() not in ("EPSG:4326", "OGC:CRS84"):
        from pyproj import Transformer

        t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    code = np.asarray(cols["class_code"]).astype(np.int16)
    unknown = sorted(set(code.tolist()) - set(classes))
    if unknown:
        raise ValueError(f"{path}: class codes {unknown} are not in the class table")
    vv = cols.get("sigma0_vv_db")
    vh = cols.get("sigma0_vh_db")
    if vv is None:
        vv = np.array([classes[int(c)].sigma0_vv_db for c in code])
    if vh is None:
        vh = np.array([classes[int(c)].sigma0_vh_db for c in code])
    order = np.argsort(cols["cell_id"], kind="stable") if "cell_id" in cols else np.arange(len(code))
    return LandCover(geoms[order], code[order], np.asarray(vv, dtype=np.float64)[order],
                     np.asarray(vh, dtype=np.float64)[order])


def flatten_water(dem: Dem, cell_raster: np.ndarray, cell_class: np.ndarray,
                  water_code: int = WATER) -> int:
    """Make water bodies flat, as in real DEMs (Copernicus DEM flattens lakes): every
    8-connected water region of the grid takes the minimum height found in it
    (``scipy.ndimage.label`` + ``minimum``). Modifies ``dem.height``; returns the number
    of water bodies."""
    cls = np.where(cell_raster >= 0, cell_class[np.maximum(cell_raster, 0)], -1)
    water = cls == water_code
    labels, n = scipy.ndimage.label(water, structure=np.ones((3, 3), dtype=bool))
    if n:
        level = scipy.ndimage.minimum(dem.height, labels=labels, index=np.arange(1, n + 1))
        dem.height[water] = np.asarray(level, dtype=np.float32)[labels[water] - 1]
    return int(n)


# --------------------------------------------------------------------------------------
# Deformation


@dataclasses.dataclass(frozen=True)
class SubsidenceBowl:
    """A Gaussian subsidence (or uplift) bowl with Knothe-Budryk horizontal motion.

    Vertical: ``up(r, t) = U(t) exp(-pi r^2 / R^2)`` with ``R = radius_m`` the radius of
    main influence (Knothe 1957, "Observations of surface movements under influence of
    mining and their theoretical interpretation"; the Gaussian influence function of
    mining-subsidence engineering, Kratzsch 2012, "Mining Subsidence Engineering").
    ``U(t) = rate_mm_per_yr / 1000 * t / 365.25 + A (cos(2 pi (doy(t) - peak) / 365.25)
    - cos(2 pi (doy(0) - peak) / 365.25))`` metres with ``A = seasonal_amplitude_mm / 1000``
    (``seasonal_peak_doy``: day of year of the maximum uplift of the seasonal term, e.g.
    aquifer recharge); U(0) = 0, so displacements are relative to date 0.
    ``rate_mm_per_yr < 0`` is subsidence.

    Horizontal (Budryk-Knothe: horizontal displacement proportional to the slope of the
    vertical profile, ``u_r = -B d(up)/dr`` with ``B = R / sqrt(2 pi)``):
    ``u_r = sqrt(2 pi) (r / R) up(r, t)`` radially (towards the centre for subsidence,
    outwards for uplift), at most ``exp(-1/2) |U| ~ 0.61 |U|`` at ``r = R / sqrt(2 pi)``.
    ``horizontal=False`` gives purely vertical motion. Distances use a local tangent
    plane at the centre (WGS84 radii of curvature): fine for bowls of tens of km.
    """

    lon: float
    lat: float
    radius_m: float
    rate_mm_per_yr: float
    seasonal_amplitude_mm: float = 0.0
    seasonal_peak_doy: float = 100.0
    horizontal: bool = True

    def amplitude(self, t_days, start_doy: float = 0.0) -> np.ndarray:
        """U(t): vertical displacement of the centre since date 0, metres."""
        t = np.asarray(t_days, dtype=np.float64)
        u = self.rate_mm_per_yr * 1e-3 * t / DAYS_PER_YEAR
        if self.seasonal_amplitude_mm:
            w = 2.0 * np.pi / DAYS_PER_YEAR
            u = u + self.seasonal_amplitude_mm * 1e-3 * (
                np.cos(w * (start_doy + t - self.seasonal_peak_doy))
                - np.cos(w * (start_doy - self.seasonal_peak_doy)))
        return u

    def displacement(self, lon, lat, t_days, start_doy: float = 0.0):
        """(east, north, up) displacement in metres at (lon, lat) and time ``t_days``
        after date 0 (``t_days`` scalar or broadcasting with lon/lat)."""
        m_lat, m_lon = metres_per_degree(self.lat)
        dx = (np.asarray(lon, dtype=np.float64) - self.lon) * m_lon
        dy = (np.asarray(lat, dtype=np.float64) - self.lat) * m_lat
        g = np.exp(-np.pi * (dx * dx + dy * dy) / self.radius_m ** 2)
        up = self.amplitude(t_days, start_doy) * g
        if not self.horizontal:
            z = np.zeros_like(up)
            return z, z.copy(), up
        k = math.sqrt(2.0 * math.pi) / self.radius_m  # u_r / r = sqrt(2 pi) up / R
        return k * up * dx, k * up * dy, up


@dataclasses.dataclass
class DeformationModel:
    """Sum of ``SubsidenceBowl`` sources: ground displacement (east, north, up) in metres
    relative to date 0, LOS-agnostic (the radar simulator projects it on its LOS)."""

    bowls: list[SubsidenceBowl] = dataclasses.field(default_factory=list)

    def displacement(self, lon, lat, t_days, start_doy: float = 0.0):
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        shape = np.broadcast_shapes(lon.shape, lat.shape, np.shape(t_days))
        e, n, u = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        for b in self.bowls:  # loop over sources, vectorised over points
            de, dn, du = b.displacement(lon, lat, t_days, start_doy)
            e += de
            n += dn
            u += du
        return e, n, u

    def to_dict(self) -> dict[str, Any]:
        return {"bowls": [dataclasses.asdict(b) for b in self.bowls]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeformationModel:
        return cls([SubsidenceBowl(**b) for b in d.get("bowls", [])])


# --------------------------------------------------------------------------------------
# Atmosphere


def atmospheric_phase_screen(shape: tuple[int, int], seed: int, date_index: int, *,
                             spacing_m: tuple[float, float] = (200.0, 200.0),
                             std_m: float = 0.01, beta: float = 8.0 / 3.0,
                             oversample: float = 2.0) -> np.ndarray:
    """Turbulent tropospheric delay of one date: one-way ZENITH delay in metres, float32.

    Model: a Gaussian random field with 2-D power spectrum ``P(k) ~ k^-beta``, ``beta =
    8/3`` by default: Kolmogorov turbulence in a layer thin compared with the horizontal
    scale, the regime that dominates InSAR atmospheric signal from a few km to tens of km
    (Hanssen 2001, "Radar Interferometry: Data Interpretation and Error Analysis", sect.
    4.7 and 4.8; Williams, Bock & Fang 1998, JGR 103(B11)). Synthesised by FFT
    (``power_law_field``) on ``oversample`` times the area, so opposite edges are not
    correlated, cropped, then set to zero mean and standard deviation exactly ``std_m``
    over the screen (default 1 cm: typical spread of wet delay over a 100 km scene).

    Dates are independent: the noise of each (seed, date_index) comes from its own NumPy
    ``SeedSequence([seed, date_index])`` stream. ``spacing_m``: pixel size (north-south,
    east-west) in metres, so the turbulence is isotropic on the ground.
    """
    field = power_law_field(shape, spacing_m, beta, _rng(seed, date_index, 0xA7),
                            oversample=oversample).astype(np.float64)
    field -= field.mean()
    sd = field.std()
    if sd > 0:
        field *= std_m / sd
    return field.astype(np.float32)


@dataclasses.dataclass
class AtmosphereModel:
    """Per-date tropospheric delay: turbulent screen + height-stratified term.

    ``delay(lon, lat, h, d) = screen_d(lon, lat) + k_d h`` metres of one-way zenith delay,
    with ``screen_d = atmospheric_phase_screen(seed, d)`` on a grid of ``resolution_m``
    over the scene (bilinear between nodes) and ``k_d = stratified_k_mean +
    stratified_k_std * z_d``, ``z_d ~ N(0, 1)`` from its own stream per date. The
    stratified term is the date-to-date change of the delay-height relation (Doin et al.
    2009, J. Appl. Geophys. 69, "Corrections of stratified tropospheric delays in SAR
    interferometry"; Jolivet et al. 2011): the default ``stratified_k_std = 1e-5`` m/m is
    1 cm of one-way delay per km of height. The mean absolute delay-height gradient
    (mostly hydrostatic, nearly the same on every date) is left out by default
    (``stratified_k_mean = 0``), consistent with leaving out the absolute delay.
    """

    seed: int = 0
    turbulence_std_m: float = 0.01
    beta: float = 8.0 / 3.0
    resolution_m: float = 200.0
    oversample: float = 2.0
    stratified_k_mean: float = 0.0
    stratified_k_std: float = 1e-5

    def screen_grid(self, grid: GeoGrid) -> GeoGrid:
        return GeoGrid.from_bounds_resolution(grid.bounds, self.resolution_m)

    def screen(self, grid: GeoGrid, date_index: int) -> tuple[GeoGrid, np.ndarray]:
        """(screen grid, turbulent zenith delay in metres) for one date over ``grid``."""
        g = self.screen_grid(grid)
        aps = atmospheric_phase_screen(g.shape, self.seed, date_index, spacing_m=g.spacing_m(),
                                       std_m=self.turbulence_std_m, beta=self.beta,
                                       oversample=self.oversample)
        return g, aps

    def stratified_coefficient(self, date_index: int) -> float:
        """k_d: one-way zenith delay per metre of ellipsoidal height on date d (m/m)."""
        z = _rng(self.seed, date_index, 0x57).standard_normal()
        return float(self.stratified_k_mean + self.stratified_k_std * z)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AtmosphereModel:
        return cls(**d)


# --------------------------------------------------------------------------------------
# Point targets

#: One row per point target. ``date_index`` -1: present on every date (corner
#: reflectors); otherwise only on that date (ships move). ``height_m`` is ellipsoidal:
#: DEM height at the point plus ``height_above_dem_m`` (phase centre).
TARGET_DTYPE = np.dtype([
    ("id", "i4"), ("kind", "U24"), ("lon", "f8"), ("lat", "f8"),
    ("height_above_dem_m", "f8"), ("height_m", "f8"), ("rcs_dbsm", "f8"), ("date_index", "i4"),
])


def trihedral_rcs_dbsm(leg_m: float, wavelength_m: float = S1_WAVELENGTH_M) -> float:
    """Peak RCS of a triangular trihedral corner reflector, ``sigma = 4 pi a^4 / (3
    lambda^2)`` with ``a`` the inner leg length (Ruck et al. 1970, "Radar Cross Section
    Handbook"; Doerry 2008, Sandia SAND2008-0396). 1 m legs at C-band: about 31 dBm^2."""
    return 10.0 * math.log10(4.0 * math.pi * leg_m ** 4 / (3.0 * wavelength_m ** 2))


def ship_rcs_dbsm(displacement_kt, frequency_hz: float = 5.405e9) -> np.ndarray:
    """Ship RCS from Skolnik's empirical formula ``sigma = 52 f^(1/2) D^(3/2)`` m^2, f in
    MHz, D the displacement in kilotons (Skolnik 1974, IEEE Trans. AES-10(2), 292).
    Derived for low grazing angles; used here as a plausible size-to-RCS scaling."""
    d = np.asarray(displacement_kt, dtype=np.float64)
    return 10.0 * np.log10(52.0 * math.sqrt(frequency_hz / 1e6) * d ** 1.5)


def _random_points_in(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random (lon, lat) inside a geometry (rejection, vectorised)."""
    if n == 0 or geom.is_empty:
        return np.empty((0, 2))
    w, s, e, nn = geom.bounds
    out = np.empty((0, 2))
    for _ in range(100):  # rejection rounds, each vectorised
        ratio = shapely.box(w, s, e, nn).area / max(geom.area, 1e-300)
        m = int(min(2_000_000, max(64, 4 * (n - len(out)) * ratio)))
        p = np.column_stack([rng.uniform(w, e, m), rng.uniform(s, nn, m)])
        out = np.vstack([out, p[shapely.contains_xy(geom, p[:, 0], p[:, 1])]])
        if len(out) >= n:
            return out[:n]
    raise RuntimeError("could not place random points inside the geometry")


def random_point_targets(landcover: LandCover, dem: Dem, seed: int, *, n_dates: int = 1,
                         n_reflectors: int = 4, ships_per_date: int = 3,
                         reflector_leg_m: tuple[float, float] = (0.8, 1.5),
                         ship_displacement_kt: tuple[float, float] = (0.05, 5.0),
                         region=None, shore_buffer_m: float = 100.0) -> np.ndarray:
    """Corner reflectors on open land and ships on water, as a ``TARGET_DTYPE`` array.

    Corner reflectors (present on every date, ``date_index = -1``): uniformly inside bare
    soil or cropland cells (open, flat-ish sites), leg length uniform in
    ``reflector_leg_m``, RCS ``trihedral_rcs_dbsm`` (27.5 to 38.4 dBm^2 for 0.8 to 1.5 m),
    phase centre 0.5 m above the DEM. Ships (one date each): ``ships_per_date`` per date
    uniformly inside the water polygons shrunk by ``shore_buffer_m``, displacement
    log-uniform in ``ship_displacement_kt``, RCS ``ship_rcs_dbsm``, phase centre 5 m
    above the (flat) water surface. ``region`` (shapely, lon/lat) restricts placement,
    e.g. to the radar footprint.
    """
    rng = _rng(seed, 0x7A)
    geoms, code = landcover.geometry, landcover.class_code
    rows = []
    land = shapely.union_all(geoms[np.isin(code, [BARE, CROPLAND])]) if len(geoms) else shapely.Polygon()
    water = shapely.union_all(geoms[code == WATER]) if len(geoms) else shapely.Polygon()
    if region is not None:
        land, water = shapely.intersection(land, region), shapely.intersection(water, region)
    m_lat, _ = metres_per_degree(dem.grid.lat.mean())
    water_in = shapely.buffer(water, -shore_buffer_m / m_lat) if not water.is_empty else water
    if water_in.is_empty:
        water_in = water
    p = _random_points_in(land, n_reflectors, rng)
    legs = rng.uniform(*reflector_leg_m, len(p))
    for (lo, la), a in zip(p, legs):
        rows.append(("corner_reflector", lo, la, 0.5, trihedral_rcs_dbsm(a), -1))
    if not water_in.is_empty:
        for d in range(n_dates):
            p = _random_points_in(water_in, ships_per_date, rng)
            disp = np.exp(rng.uniform(*np.log(ship_displacement_kt), len(p)))
            for (lo, la), rcs in zip(p, ship_rcs_dbsm(disp)):
                rows.append(("ship", lo, la, 5.0, float(rcs), d))
    t = np.zeros(len(rows), dtype=TARGET_DTYPE)
    if rows:
        t["id"] = np.arange(len(rows))
        t["kind"] = [r[0] for r in rows]
        t["lon"] = [r[1] for r in rows]
        t["lat"] = [r[2] for r in rows]
        t["height_above_dem_m"] = [r[3] for r in rows]
        t["rcs_dbsm"] = [r[4] for r in rows]
        t["date_index"] = [r[5] for r in rows]
        t["height_m"] = dem.interp(t["lon"], t["lat"]) + t["height_above_dem_m"]
    return t


def _write_targets(targets: np.ndarray, path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TARGET_DTYPE.names)
        for row in targets:
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else str(v) for v in row.tolist()])


def _read_targets(path: Path) -> np.ndarray:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    t = np.zeros(len(rows), dtype=TARGET_DTYPE)
    for name in TARGET_DTYPE.names:
        kind = TARGET_DTYPE[name].kind
        conv = int if kind == "i" else float if kind == "f" else str
        t[name] = [conv(r[name]) for r in rows]
    return t


# --------------------------------------------------------------------------------------
# Change events


@dataclasses.dataclass(frozen=True)
class ChangeEvent:
    """From ``date_index`` on (that date included), the ground inside a land-cover cell
    (``cell_id``) or inside a polygon (``polygon``, lon/lat) has class ``new_class_code``
    (e.g. a flooded field: cropland -> water; a clear-cut: forest -> bare soil). Exactly
    one of ``cell_id`` / ``polygon`` is given. Events apply in order of date, then of the
    scene's list, later ones winning."""

    date_index: int
    new_class_code: int
    cell_id: int | None = None
    polygon: Any = None
    label: str = ""

    def __post_init__(self):
        if (self.cell_id is None) == (self.polygon is None):
            raise ValueError("a ChangeEvent needs exactly one of cell_id or polygon")

    def to_dict(self) -> dict[str, Any]:
        return {"date_index": int(self.date_index), "new_class_code": int(self.new_class_code),
                "cell_id": None if self.cell_id is None else int(self.cell_id),
                "polygon_wkb_hex": None if self.polygon is None else shapely.to_wkb(self.polygon, hex=True),
                "polygon_wkt": None if self.polygon is None else shapely.to_wkt(self.polygon, rounding_precision=7),
                "label": self.label}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChangeEvent:
        poly = d.get("polygon_wkb_hex")
        return cls(int(d["date_index"]), int(d["new_class_code"]),
                   None if d.get("cell_id") is None else int(d["cell_id"]),
                   None if poly is None else shapely.from_wkb(poly), d.get("label", ""))


# --------------------------------------------------------------------------------------
# Scene


@dataclasses.dataclass(eq=False)
class Scene:
    """The simulated world: DEM, land cover, deformation, atmosphere, targets, changes.

    Query with ``sample(lon, lat, date_index)`` (vectorised over points) and
    ``coherence(class_code, dt_days)``. Land cover is rasterised once onto the DEM grid
    (cell id per pixel, nearest-pixel look-up), so class boundaries are resolved to one
    DEM pixel; choose ``resolution_m`` accordingly.
    """

    dem: Dem
    landcover: LandCover
    classes: dict[int, LandCoverClass] = dataclasses.field(default_factory=lambda: dict(DEFAULT_CLASSES))
    deformation: DeformationModel = dataclasses.field(default_factory=DeformationModel)
    atmosphere: AtmosphereModel = dataclasses.field(default_factory=AtmosphereModel)
    targets: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=TARGET_DTYPE))
    events: list[ChangeEvent] = dataclasses.field(default_factory=list)
    acquisition_days: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(1))
    start_date: str = "2021-04-01"
    background_class: int = BARE
    seed: int | None = None
    footprint: Any = None  # the radar footprint the scene was built for (lon/lat), if any

    def __post_init__(self):
        self.acquisition_days = np.asarray(self.acquisition_days, dtype=np.float64).reshape(-1)
        self.targets = np.asarray(self.targets, dtype=TARGET_DTYPE)
        codes = set(self.classes)
        missing = (set(self.landcover.class_code.tolist()) | {e.new_class_code for e in self.events}
                   | {self.background_class}) - codes
        if missing:
            raise ValueError(f"class codes {sorted(missing)} are used but not in the class table")
        for e in self.events:
            if not 0 <= e.date_index < self.n_dates:
                raise ValueError(f"change event date_index {e.date_index} outside 0..{self.n_dates - 1}")
            if e.cell_id is not None and not 0 <= e.cell_id < len(self.landcover):
                raise ValueError(f"change event cell_id {e.cell_id} is not a land-cover cell")
        self._build()

    # ---- caches (derived, never saved)
    def _build(self) -> None:
        cells = self.landcover.rasterize(self.grid)
        n = len(self.landcover)
        self._cells = cells.astype(np.int16) if n < 32767 else cells
        tab = {}
        for name in ("sigma0_vv_db", "sigma0_vh_db", "gamma0", "gamma_inf", "tau_days",
                     "seasonal_amplitude_vv_db", "seasonal_amplitude_vh_db", "seasonal_peak_doy"):
            a = np.full(256, np.nan)
            for c, k in self.classes.items():
                a[c] = getattr(k, name)
            tab[name] = a
        rho = np.full(256, np.nan + 0j)
        for c, k in self.classes.items():
            rho[c] = complex(k.rho_vv_vh)
        tab["rho_vv_vh"] = rho
        self._table = tab
        # per cell (index n: "no cell" -> background class, nominal backscatter)
        bg = self.classes[self.background_class]
        self._cell_class = np.append(self.landcover.class_code, np.int16(self.background_class)).astype(np.int16)
        self._cell_vv_db = np.append(self.landcover.sigma0_vv_db, bg.sigma0_vv_db)
        self._cell_vh_db = np.append(self.landcover.sigma0_vh_db, bg.sigma0_vh_db)
        self._event_masks: dict[int, tuple[int, int, np.ndarray]] = {}
        for i, e in enumerate(self.events):
            if e.polygon is not None:
                self._event_masks[i] = self._rasterize_window(e.polygon)
        self._aps: dict[int, tuple[GeoGrid, np.ndarray]] = {}

    def _rasterize_window(self, geom) -> tuple[int, int, np.ndarray]:
        g = self.grid
        w, s, e, n = geom.bounds
        c0 = max(0, int(math.floor((w - g.west) / g.dlon)))
        c1 = min(g.nx, int(math.ceil((e - g.west) / g.dlon)) + 1)
        r0 = max(0, int(math.floor((g.north - n) / g.dlat)))
        r1 = min(g.ny, int(math.ceil((g.north - s) / g.dlat)) + 1)
        if c1 <= c0 or r1 <= r0:
            return 0, 0, np.zeros((0, 0), dtype=bool)
        t = g.transform @ Affine.translation(c0, r0)
        m = rasterio.features.rasterize([(geom, 1)], out_shape=(r1 - r0, c1 - c0), transform=t,
                                        fill=0, dtype="uint8").astype(bool)
        return r0, c0, m

    # ---- basic properties
    @property
    def grid(self) -> GeoGrid:
        return self.dem.grid

    @property
    def n_dates(self) -> int:
        return int(self.acquisition_days.size)

    @property
    def start_doy(self) -> float:
        """Day of year of date 0 (1 = 1 January), from ``start_date``."""
        return float(_dt.date.fromisoformat(self.start_date[:10]).timetuple().tm_yday)

    def _check_date(self, date_index: int) -> int:
        d = int(date_index)
        if not 0 <= d < self.n_dates:
            raise IndexError(f"date_index {date_index} outside 0..{self.n_dates - 1}")
        return d

    # ---- queries
    def _locate(self, lon, lat, outside: str):
        lon = np.asarray(lon, dtype=np.float64).ravel()
        lat = np.asarray(lat, dtype=np.float64).ravel()
        if lon.shape != lat.shape:
            raise ValueError("lon and lat must have the same shape")
        if outside not in ("raise", "clip"):
            raise ValueError("outside must be 'raise' or 'clip'")
        if outside == "raise":
            out = ~self.grid.contains(lon, lat)
            if out.any():
                raise ValueError(f"{int(out.sum())} of {out.size} points lie outside the scene "
                                 f"bounds {self.grid.bounds}; pass outside='clip' to hold edge values")
        r, c = self.grid.nearest_index(lon, lat)
        return lon, lat, r, c

    def _classes_at(self, r, c, date_index: int) -> tuple[np.ndarray, np.ndarray]:
        """(class code, cell id) for grid pixels (r, c) on a date, events applied."""
        cell = self._cells[r, c].astype(np.int32)
        idx = np.where(cell < 0, len(self.landcover), cell)
        cls = self._cell_class[idx]
        order = sorted(range(len(self.events)), key=lambda i: (self.events[i].date_index, i))
        for i in order:  # loop over events (few), vectorised over points
            e = self.events[i]
            if e.date_index > date_index:
                break
            if e.cell_id is not None:
                sel = cell == e.cell_id
            else:
                r0, c0, m = self._event_masks[i]
                rr, cc = r - r0, c - c0
                inside = (rr >= 0) & (rr < m.shape[0]) & (cc >= 0) & (cc < m.shape[1])
                sel = np.zeros(r.shape, dtype=bool)
                sel[inside] = m[rr[inside], cc[inside]]
            cls[sel] = e.new_class_code
        return cls, cell

    def class_at(self, lon, lat, date_index: int, *, outside: str = "raise") -> np.ndarray:
        """Class code (ESA WorldCover, int16) at each point on a date (events applied)."""
        d = self._check_date(date_index)
        shape = np.shape(lon)
        _, _, r, c = self._locate(lon, lat, outside)
        return self._classes_at(r, c, d)[0].reshape(shape)

    def atmospheric_delay(self, lon, lat, height, date_index: int) -> np.ndarray:
        """One-way zenith tropospheric delay (m): turbulent screen (bilinear) + k_d h."""
        d = self._check_date(date_index)
        if d not in self._aps:
            self._aps[d] = self.atmosphere.screen(self.grid, d)
        g, aps = self._aps[d]
        return g.bilinear(aps, lon, lat) + self.atmosphere.stratified_coefficient(d) * np.asarray(height)

    def sample(self, lon, lat, date_index: int, *, outside: str = "raise") -> dict[str, np.ndarray]:
        """Everything the radar simulator needs at ground points on one date.

        Returns arrays shaped like ``lon`` (units in ``SAMPLE_UNITS``):
        ``class_code`` (int16, after the change events up to this date), ``cell_id``
        (int32), ``height`` (bilinear DEM, m above the WGS84 ellipsoid, float64),
        ``sigma0_vv`` / ``sigma0_vh`` (linear float32: the cell's own value where the
        point still has its cell's class, the class's nominal value where a change event
        gave it another class; times the class's seasonal factor of the date),
        ``displacement_east`` / ``_north`` / ``_up`` (m since date 0, float64) and
        ``atmospheric_delay`` (one-way zenith, m, float64). Points outside the scene
        bounds raise, or with ``outside='clip'`` take the nearest edge values.
        """
        d = self._check_date(date_index)
        shape = np.shape(lon)
        lon, lat, r, c = self._locate(lon, lat, outside)
        out = self._backscatter(r, c, d)
        height = self.grid.bilinear(self.dem.height, lon, lat)
        east, north, up = self.deformation.displacement(lon, lat, self.acquisition_days[d], self.start_doy)
        out.update(height=height, displacement_east=east, displacement_north=north, displacement_up=up,
                   atmospheric_delay=self.atmospheric_delay(lon, lat, height, d))
        return {k: v.reshape(shape) for k, v in out.items()}

    def backscatter(self, lon, lat, date_index: int, *, outside: str = "raise") -> dict[str, np.ndarray]:
        """The land-cover part of ``sample`` alone: ``class_code``, ``cell_id``,
        ``sigma0_vv``, ``sigma0_vh`` (what varies at the land-cover resolution; the
        smooth deformation and atmosphere can be sampled on a coarser grid)."""
        d = self._check_date(date_index)
        shape = np.shape(lon)
        _, _, r, c = self._locate(lon, lat, outside)
        return {k: v.reshape(shape) for k, v in self._backscatter(r, c, d).items()}

    def _backscatter(self, r, c, d: int) -> dict[str, np.ndarray]:
        cls, cell = self._classes_at(r, c, d)
        base = self._cell_class[np.where(cell < 0, len(self.landcover), cell)]
        same = cls == base
        t = self._table
        idx = np.where(cell < 0, len(self.landcover), cell)
        vv_db = np.where(same, self._cell_vv_db[idx], t["sigma0_vv_db"][cls])
        vh_db = np.where(same, self._cell_vh_db[idx], t["sigma0_vh_db"][cls])
        doy = self.start_doy + self.acquisition_days[d]
        season = np.cos(2.0 * np.pi * (doy - t["seasonal_peak_doy"]) / DAYS_PER_YEAR)  # (256,)
        vv_db = vv_db + (t["seasonal_amplitude_vv_db"] * season)[cls]
        vh_db = vh_db + (t["seasonal_amplitude_vh_db"] * season)[cls]
        return {"class_code": cls, "cell_id": cell,
                "sigma0_vv": (10.0 ** (vv_db / 10.0)).astype(np.float32),
                "sigma0_vh": (10.0 ** (vh_db / 10.0)).astype(np.float32)}

    def coherence(self, class_code, dt_days) -> np.ndarray:
        """Temporal coherence of each class for time separations ``dt_days`` (broadcast):
        ``temporal_coherence_model`` with the class parameters (gamma0 at dt = 0)."""
        t = self._table
        code = np.asarray(class_code, dtype=np.intp)
        if np.isnan(t["gamma0"][code]).any():
            raise ValueError("unknown class code")
        return temporal_coherence_model(dt_days, t["gamma0"][code], t["gamma_inf"][code], t["tau_days"][code])

    def class_parameters(self, class_code) -> dict[str, np.ndarray]:
        """Per-point coherence / polarimetric parameters (for ``speckle.correlated_speckle``):
        gamma0, gamma_inf, tau_days (days), rho_vv_vh (complex)."""
        code = np.asarray(class_code, dtype=np.intp)
        return {k: self._table[k][code] for k in ("gamma0", "gamma_inf", "tau_days", "rho_vv_vh")}

    def targets_on(self, date_index: int) -> np.ndarray:
        """Point targets present on a date (reflectors always, ships on their date)."""
        d = self._check_date(date_index)
        return self.targets[(self.targets["date_index"] == -1) | (self.targets["date_index"] == d)]

    def to_dataset(self, date_index: int):
        """All sampled layers on the scene grid as an ``xarray.Dataset`` with units, for
        quick looks (memory: about 60 bytes per grid pixel)."""
        import xarray as xr

        g = self.grid
        lon2, lat2 = np.meshgrid(g.lon, g.lat)
        s = self.sample(lon2, lat2, date_index)
        ds = xr.Dataset(coords={"lat": ("lat", g.lat, {"units": "degrees_north"}),
                                "lon": ("lon", g.lon, {"units": "degrees_east"})})
        for k, v in s.items():
            ds[k] = (("lat", "lon"), v, {"units": SAMPLE_UNITS[k]})
        ds.attrs.update(crs="EPSG:4326", date_index=int(date_index),
                        days_since_date0=float(self.acquisition_days[date_index]),
                        source="alignsar_core.simulate.scene")
        return ds

    def write_dem(self, path: str | os.PathLike) -> Path:
        return write_dem(self.dem, path)

    # ---- persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": SCENE_FORMAT_VERSION,
            "grid": self.grid.to_dict(),
            "classes": [c.to_dict() for c in self.classes.values()],
            "deformation": self.deformation.to_dict(),
            "atmosphere": self.atmosphere.to_dict(),
            "events": [e.to_dict() for e in self.events],
            "acquisition_days": self.acquisition_days.tolist(),
            "start_date": self.start_date,
            "background_class": int(self.background_class),
            "seed": self.seed,
            "footprint_wkb_hex": None if self.footprint is None else shapely.to_wkb(self.footprint, hex=True),
            "units": dict(SAMPLE_UNITS, dem="m above the WGS84 ellipsoid",
                          sigma0_db="dB", rcs_dbsm="dBm2", rate_mm_per_yr="mm/yr",
                          tau_days="d", acquisition_days="d since date 0"),
            "files": {"dem": "dem.tif", "landcover": "landcover.gpkg", "targets": "targets.csv"},
        }

    def save(self, directory: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> str:
        """Write dem.tif, landcover.gpkg, targets.csv and scene.json into ``directory``
        (a local folder or an fsspec URL such as s3://bucket/truth/scene)."""
        s = os.fspath(directory)
        if "://" in s and not s.startswith("file://"):
            import fsspec

            fs, root = fsspec.core.url_to_fs(s, **dict(storage_options or {}))
            with tempfile.TemporaryDirectory(prefix="alignsar-scene-") as tmp:
                self._save_local(Path(tmp))
                fs.makedirs(root, exist_ok=True)
                for f in sorted(Path(tmp).iterdir()):
                    fs.put_file(str(f), f"{root.rstrip('/')}/{f.name}")
            return s
        path = Path(s.removeprefix("file://"))
        path.mkdir(parents=True, exist_ok=True)
        self._save_local(path)
        return str(path)

    def _save_local(self, path: Path) -> None:
        write_dem(self.dem, path / "dem.tif")
        write_landcover(self.landcover, path / "landcover.gpkg", self.classes)
        _write_targets(self.targets, path / "targets.csv")
        (path / "scene.json").write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, directory: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> Scene:
        """Restore a scene written by ``save`` (local folder or fsspec URL), exactly:
        the same arrays, polygons, parameters and therefore the same ``sample`` output
        (atmospheric screens are regenerated from their seeds)."""
        s = os.fspath(directory)
        if "://" in s and not s.startswith("file://"):
            import fsspec

            fs, root = fsspec.core.url_to_fs(s, **dict(storage_options or {}))
            with tempfile.TemporaryDirectory(prefix="alignsar-scene-") as tmp:
                for name in ("scene.json", "dem.tif", "landcover.gpkg", "targets.csv"):
                    fs.get_file(f"{root.rstrip('/')}/{name}", os.path.join(tmp, name))
                return cls._load_local(Path(tmp))
        return cls._load_local(Path(s.removeprefix("file://")))

    @classmethod
    def _load_local(cls, path: Path) -> Scene:
        meta = json.loads((path / "scene.json").read_text())
        if meta.get("format_version") != SCENE_FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported scene format {meta.get('format_version')}")
        grid = GeoGrid.from_dict(meta["grid"])
        with rasterio.open(path / "dem.tif") as src:
            height = src.read(1)
        dem = Dem(grid, height)
        classes = {c["code"]: LandCoverClass.from_dict(c) for c in meta["classes"]}
        fp = meta.get("footprint_wkb_hex")
        return cls(
            dem=dem,
            landcover=read_landcover(path / "landcover.gpkg", classes=classes),
            classes=classes,
            deformation=DeformationModel.from_dict(meta["deformation"]),
            atmosphere=AtmosphereModel.from_dict(meta["atmosphere"]),
            targets=_read_targets(path / "targets.csv"),
            events=[ChangeEvent.from_dict(e) for e in meta["events"]],
            acquisition_days=np.asarray(meta["acquisition_days"], dtype=np.float64),
            start_date=meta["start_date"],
            background_class=int(meta["background_class"]),
            seed=meta.get("seed"),
            footprint=None if fp is None else shapely.from_wkb(fp),
        )


# --------------------------------------------------------------------------------------
# Default scene


def make_default_scene(footprint, n_dates: int, seed: int, *, resolution_m: float = 30.0,
                       margin_m: float = 2000.0, repeat_days: float = 12.0,
                       n_polygons: int | None = None, relief_m: float = 1500.0,
                       base_height_m: float = 100.0, start_date: str = "2021-04-01",
                       dem: Dem | None = None,
                       classes: Mapping[int, LandCoverClass] | None = None) -> Scene:
    """A complete scene for a radar footprint (shapely polygon in lon/lat, or bounds).

    * Grid: the footprint's bounds plus ``margin_m``, pixels of ``resolution_m`` (30 m
      default, the Copernicus GLO-30 posting); or ``dem``'s own grid when a DEM is given
      (e.g. from ``read_dem``).
    * DEM: ``synthetic_dem`` (beta 3.2, ``base_height_m`` .. ``base_height_m + relief_m``),
      then water bodies flattened (``flatten_water``).
    * Land cover: ``random_landcover`` with ``n_polygons`` cells (default: one per ~8 km^2,
      50 to 20000).
    * Deformation: a subsidence bowl under a town (-30 mm/yr, radius 3 km, 5 mm seasonal,
      peak uplift day 100) and a broad slow one (-8 mm/yr, radius 8 km), both centred
      inside the footprint.
    * Atmosphere: ``AtmosphereModel`` defaults (1 cm turbulence, 1 cm/km stratification).
    * Targets: 4 corner reflectors, 3 ships per date, inside the footprint.
    * Change events (when ``n_dates >= 2``): the lowest cropland cell in the footprint is
      flooded (-> water) from date ``n_dates // 2``; a ~1.5 km clear-cut (polygon) in a
      forest cell (-> bare soil) from date ``max(1, 2 n_dates // 3)``.
    * Dates every ``repeat_days`` (12: the Sentinel-1 repeat cycle) from ``start_date``.

    Every random part has its own stream derived from ``seed``, so the scene is a pure
    function of the arguments.
    """
    if n_dates < 1:
        raise ValueError("n_dates must be >= 1")
    classes = dict(DEFAULT_CLASSES if classes is None else classes)
    region = footprint if isinstance(footprint, shapely.Geometry) else shapely.box(*_bounds_of(footprint))
    seeds = [int(s) for s in np.random.SeedSequence(int(seed)).generate_state(6)]
    if dem is None:
        grid = GeoGrid.from_footprint(region, margin_m, resolution_m)
        dem = synthetic_dem(grid.bounds, grid.shape, seeds[0], relief_m=relief_m,
                            base_height_m=base_height_m)
    else:
        dem = Dem(dem.grid, dem.height.copy())
    grid = dem.grid
    if n_polygons is None:
        m_lat, m_lon = metres_per_degree(0.5 * (grid.south + grid.north))
        area_km2 = (grid.east - grid.west) * m_lon * (grid.north - grid.south) * m_lat / 1e6
        n_polygons = int(np.clip(area_km2 / 8.0, 50, 20000))
    lc = random_landcover(grid.bounds, seeds[1], n_polygons, dem=dem, classes=classes)
    rng = _rng(seeds[2], 0xDEF)

    # cells whose representative point lies in the footprint
    rep = shapely.get_coordinates(shapely.point_on_surface(lc.geometry))
    in_fp = shapely.contains_xy(region, rep[:, 0], rep[:, 1])

    def pick(code_, key=None):
        ids = np.flatnonzero(in_fp & (lc.class_code == code_))
        if ids.size == 0:
            return None
        if key is not None:
            return int(ids[np.argmin(key[ids])])
        return int(rng.choice(ids))

    bowls = []
    town = pick(URBAN)
    if town is not None:
        c = shapely.centroid(lc.geometry[town])
        lon0, lat0 = c.x, c.y
    else:
        lon0, lat0 = _random_points_in(region, 1, rng)[0]
    bowls.append(SubsidenceBowl(float(lon0), float(lat0), 3000.0, -30.0, seasonal_amplitude_mm=5.0,
                                seasonal_peak_doy=100.0))
    lon1, lat1 = _random_points_in(region, 1, rng)[0]
    bowls.append(SubsidenceBowl(float(lon1), float(lat1), 8000.0, -8.0))

    events: list[ChangeEvent] = []
    if n_dates >= 2:
        crop_h = dem.interp(rep[:, 0], rep[:, 1])
        flood = pick(CROPLAND, key=crop_h)
        if flood is not None:
            events.append(ChangeEvent(n_dates // 2, WATER, cell_id=flood, label="flooded field"))
        forest = pick(FOREST)
        if forest is not None:
            fx, fy = rep[forest]
            m_lat, m_lon = metres_per_degree(fy)
            cut = shapely.intersection(
                shapely.box(fx - 750 / m_lon, fy - 750 / m_lat, fx + 750 / m_lon, fy + 750 / m_lat),
                lc.geometry[forest])
            events.append(ChangeEvent(max(1, (2 * n_dates) // 3), BARE, polygon=cut,
                                      label="forest clear-cut"))

    scene = Scene(dem=dem, landcover=lc, classes=classes, deformation=DeformationModel(bowls),
                  atmosphere=AtmosphereModel(seed=seeds[3]),
                  events=events, acquisition_days=np.arange(n_dates) * float(repeat_days),
                  start_date=start_date, seed=int(seed), footprint=region)
    flatten_water(scene.dem, scene._cells, lc.class_code)
    scene.targets = random_point_targets(lc, scene.dem, seeds[4], n_dates=n_dates, region=region)
    return scene
