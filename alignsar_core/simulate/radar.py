"""The radar side of the scene simulator: a known world seen by Sentinel-1 on many dates.

A ``scene.Scene`` (terrain, land cover, deformation, atmosphere, point targets, change
events) is observed through the geometry of a real product (the template: orbit,
burst timing, Doppler centroid and FM-rate polynomials, steering rate, calibration
and noise LUTs). Each date d flies the template orbit displaced by a perpendicular
baseline B_d and moved along the track by a_d seconds (``orbit.Orbit.shifted``), and
is written as a genuine SAFE product (``product.simulate_product``), 12 d days after
the template. The truth is kept beside the products, in the radar geometry of the
reference date 0 (``TRUTH_VARIABLES``).

Signal model (per burst; lines in azimuth time, pixels in slant range):

1. Scatterers sit on a lattice: the reference (date 0) burst grid plus a margin.
   The ground point G of lattice node (l, p) is where the zero-Doppler plane and
   range sphere of (l, p) cut the DEM (``terrain.TerrainNodes``).
2. On date d the scatterer has the complex reflectivity
       w_d(G) = sqrt(sigma0_d(G)) a_d(G) exp(-j 4 pi / lambda (R_d(G) + delta_d(G)))
                exp(-j ramp_d(x_d(G)))
   a_d: unit circular Gaussian speckle, temporally correlated with the coherence
   of G's land-cover class (``speckle.speckle_on_date``; a change event starts
   an independent series); co- and cross-pol correlated by the class's rho.
   R_d(G): the range from date d's orbit (geo2rdr, zero Doppler): the reference
   (flat-earth) and topographic phase. delta_d: one-way excess path, the
   line-of-sight deformation (-D . l, l the unit vector ground -> satellite, so
   uplift shortens the range) plus the slant tropospheric delay (zenith delay /
   cos(incidence)). x_d(G) = (l, p) + offsets_d: where date d images G.
   ramp_d: the TOPS azimuth ramp of date d (``tops.TopsRamp``): a target's
   focused response is baseband after deramping with the ramp at the output
   pixel, carrying -ramp(x_d(G)) (ESA deramping TN, Miranda 2017).
3. The SAR system response: the lattice field is band-limited with the
   annotation's processing bandwidths and Hamming windows (range 56.5 MHz of
   64.345 MHz, alpha 0.75; azimuth 327 Hz of 486.5 Hz, alpha 0.70): a sum of
   impulse responses, one per scatterer. Point targets are added as exact
   fractional-position impulse responses of energy RCS / pixel area.
4. Date d's image at its own pixel x is that band-limited field at the lattice
   position u with u + offsets_d(u) = x (windowed-sinc interpolation,
   ``resample``; ``taps`` wide), times exp(+j ramp_d(x)) (reramping).
5. Digital numbers DN = A_sigma(x) * field (+ thermal noise of the noise LUT's
   power), rounded to CInt16; zero outside the bursts' valid area (ESA).

So: E|DN|^2 = sigma0 A_sigma^2 (+ N); coregistering date d with the true offsets,
deramping/reramping, gives arg(s_0 s_d*) = 4 pi / lambda (R_d - R_0 + delta_d -
delta_0) + speckle noise, with the sample coherence of the class model times the
range spectral-shift factor of the baseline (``speckle.spectral_shift_coherence``).

Geometry convention: line times are zero-Doppler times (no IPF bistatic shift),
the convention the reader (``geometry.open_swath_geometry``) applies to one-swath
products; the geolocation grid is recomputed on the scene's terrain with each
date's orbit, so grid, GCPs and pixels agree. Terrain between geometry nodes (every
8 lines x 16 samples) is bilinear: ``truth.attrs['node_height_residual_m']`` says
how far that is from the DEM.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft
import shapely

from ..geometry import C_LIGHT, RadarGrid, local_geometry, rdr2geo
from ..orbit import Orbit, seconds_since
from ..products.sentinel1 import list_bursts, open_product
from ..resample import resample
from ..terrain import TerrainNodes, ground_points_at
from ..tops import TopsRamp
from .product import REPEAT_CYCLE_DAYS, PixelSource, SimulatedProduct, default_template, simulate_product
from .scene import Scene, make_default_scene
from .speckle import band_limit, spectral_shift_coherence, speckle_on_date

#: Margin of the scatterer lattice around each burst (lines, samples): room for the
#: interpolation kernel and the offsets of the other dates.
MARGIN_LINES = 32
MARGIN_SAMPLES = 64
#: Geometry nodes every this many lines x samples (exact), bilinear in between.
NODE_STEP = (8, 16)
#: Truth chunks: this many lines (x 4096 samples); the simulator works in such blocks.
TRUTH_CHUNK_LINES = 64
#: Polarisation -> (scene backscatter key, speckle channel).
_POL_CHANNEL = {"VV": ("sigma0_vv", 0), "HH": ("sigma0_vv", 0), "VH": ("sigma0_vh", 1), "HV": ("sigma0_vh", 1)}

#: Variables of the truth store (dims, units, description).
TRUTH_VARIABLES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "latitude": (("line", "sample"), "degrees_north", "WGS84 latitude of the ground point of the reference pixel"),
    "longitude": (("line", "sample"), "degrees_east", "WGS84 longitude of the ground point of the reference pixel"),
    "height": (("line", "sample"), "m", "height above the WGS84 ellipsoid of the ground point (terrain nodes, bilinear)"),
    "incidence_angle": (("line", "sample"), "degree", "incidence angle on the ellipsoid, reference orbit"),
    "class_code": (("date", "line", "sample"), "1", "land-cover class (ESA WorldCover code) on the date, change events applied"),
    "sigma0_vv": (("date", "line", "sample"), "m2 m-2", "true VV (or HH) backscatter coefficient sigma0, linear"),
    "sigma0_vh": (("date", "line", "sample"), "m2 m-2", "true VH (or HV) backscatter coefficient sigma0, linear"),
    "azimuth_offset": (("date", "line", "sample"), "line", "line of the date's image of the reference pixel's ground point minus the reference line"),
    "range_offset": (("date", "line", "sample"), "pixel", "pixel of the date's image of the ground point minus the reference pixel"),
    "range_difference": (("date", "line", "sample"), "m", "slant range from the date's orbit minus from the reference orbit (reference + topographic phase = -4 pi / lambda x this)"),
    "deformation_range": (("date", "line", "sample"), "m", "range change from ground displacement since date 0 (-D . los; negative = towards the satellite)"),
    "atmosphere_range": (("date", "line", "sample"), "m", "one-way slant tropospheric excess path (turbulent + stratified)"),
    "deformation_phase": (("date", "line", "sample"), "rad", "-4 pi / lambda x deformation_range"),
    "atmosphere_phase": (("date", "line", "sample"), "rad", "-4 pi / lambda x atmosphere_range"),
    "temporal_coherence": (("pair", "line", "sample"), "1", "coherence of the scatterers between the pair's dates (class model, 0 across a change event)"),
    "coherence": (("pair", "line", "sample"), "1", "expected interferometric coherence without thermal noise: temporal coherence x range spectral-shift factor of the pair's baseline"),
}


@dataclasses.dataclass(frozen=True)
class Acquisition:
    """One simulated date: days after date 0, perpendicular baseline (m, against
    date 0, at the look angle of mid swath) and along-track shift (s)."""

    date_index: int
    days: float
    perpendicular_baseline_m: float
    along_track_s: float


@dataclasses.dataclass
class SimulatedStack:
    """What ``simulate_stack`` wrote: one product per date, the truth and the scene."""

    products: list[str]  # product paths/URLs, date order
    truth: str  # Zarr store (reference radar geometry)
    scene: str  # folder with the scene (dem.tif, landcover.gpkg, targets.csv, scene.json)
    acquisitions: list[Acquisition]
    simulated: list[SimulatedProduct]  # local details (paths in a temporary folder for remote outputs)
    seconds: float = 0.0


def default_acquisitions(n_dates: int, seed: int, repeat_days: int = REPEAT_CYCLE_DAYS,
                         baseline_sigma_m: float = 50.0, along_track_max_s: float = 1.5e-3) -> list[Acquisition]:
    """Date 0 is the reference (no baseline); later dates get perpendicular baselines
    drawn from N(0, baseline_sigma_m) (Sentinel-1's orbital tube: about 100 m rms) and
    along-track shifts uniform in +-along_track_max_s (burst synchronisation within a
    few ms), reproducible from ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xBA5E]))
    b = np.clip(rng.normal(0.0, baseline_sigma_m, n_dates), -3 * baseline_sigma_m, 3 * baseline_sigma_m)
    a = rng.uniform(-along_track_max_s, along_track_max_s, n_dates)
    b[0] = a[0] = 0.0
    return [Acquisition(d, float(d * repeat_days), float(b[d]), float(a[d])) for d in range(n_dates)]


# --------------------------------------------------------------------------------------
# geometry of the template


class _Template:
    """The template product's swath geometry for the kept bursts."""

    def __init__(self, template: Path, swath: str, pol: str, first_burst: int, n_bursts: int, n_samples: int):
        self.product = open_product(str(template), metadata_only=True, allow_partial=True)
        self.ann = self.product.annotation(swath, pol)
        infos = [b for b in list_bursts(self.product) if b.swath == swath]
        if first_burst + n_bursts > len(infos):
            raise ValueError(f"template {swath} has {len(infos)} bursts; asked for {first_burst}..{first_burst + n_bursts - 1}")
        self.bursts = infos[first_burst:first_burst + n_bursts]
        self.orbit = Orbit.from_product(self.product, swath, pol)
        self.epoch = np.datetime64(self.bursts[0].first_line_time, "ns")
        self.grids = [RadarGrid.from_annotation(self.ann, burst=first_burst + k, epoch=self.epoch)
                      for k in range(n_bursts)]
        self.lines_per_burst = self.ann.lines_per_burst
        self.n_samples = n_samples
        self.wavelength = C_LIGHT / self.ann.radar_frequency
        (self.az_fraction, self.az_coeff), (self.rg_fraction, self.rg_coeff) = self.ann.processing_bands
        # look angle at the middle of the crop (the baseline is perpendicular there)
        g = self.grids[n_bursts // 2]
        lat, lon = rdr2geo(g.lines / 2.0, n_samples / 2.0, 0.0, self.orbit, g)
        self.look_angle_mid = float(local_geometry(lat, lon, 0.0, self.orbit)["look_angle"])


# --------------------------------------------------------------------------------------
# the simulator


@dataclasses.dataclass
class _DateNodes:
    """Node fields of one burst on one date (see ``_StackSimulator.date_nodes``):
    ``fields`` maps azimuth_offset, range_offset, range_difference and their ``*_dh``
    height derivatives to node arrays; ``inverse_*``: lattice position minus date-d
    position at the nodes taken as date-d positions."""

    fields: dict[str, np.ndarray]
    inverse_azimuth: np.ndarray
    inverse_range: np.ndarray
    identity: bool  # the date sees the reference geometry exactly (date 0)
    deformation_range: np.ndarray = None  # -(D . los), m: ground motion since date 0 on the line of sight
    atmosphere_turbulent: np.ndarray = None  # turbulent one-way delay / cos(incidence), m (slant)


class _StackSimulator:
    """Generates the bursts of every date; holds the geometry shared between dates."""

    def __init__(self, tpl: _Template, scene: Scene, acquisitions: list[Acquisition],
                 pols: tuple[str, ...], seed: int, taps: int, workdir: Path, truth: "_TruthStore",
                 progress=None):
        self.tpl, self.scene, self.acqs, self.pols = tpl, scene, acquisitions, pols
        self.seed, self.taps, self.workdir, self.truth = int(seed), int(taps), workdir, truth
        self.progress = progress or (lambda msg: None)
        self.L, self.M = tpl.lines_per_burst, tpl.n_samples
        self.NL = scipy.fft.next_fast_len(self.L + 2 * MARGIN_LINES)
        self.NS = scipy.fft.next_fast_len(self.M + 2 * MARGIN_SAMPLES)
        self.lattice_lines = np.arange(self.NL, dtype=np.float64) - MARGIN_LINES
        self.lattice_samples = np.arange(self.NS, dtype=np.float64) - MARGIN_SAMPLES
        self.days = np.array([a.days for a in acquisitions])
        self.orbits = [tpl.orbit if a.perpendicular_baseline_m == 0 and a.along_track_s == 0 else
                       tpl.orbit.shifted(a.perpendicular_baseline_m, along_track_s=a.along_track_s,
                                         look_angle_deg=tpl.look_angle_mid)
                       for a in acquisitions]
        self._nodes: dict[int, TerrainNodes] = {}
        self._date_nodes: dict[tuple[int, int], _DateNodes] = {}
        self._ramps: dict[tuple[int, int], TopsRamp] = {}
        self.sigma0: dict[str, np.ndarray] = {}  # current date, reference geometry (truth)
        self.height_residual = 0.0

    # ---------------------------------------------------------------- geometry
    def height(self, lon, lat):
        return self.scene.dem.interp(lon, lat)

    def nodes(self, k: int) -> TerrainNodes:
        if k not in self._nodes:
            n = TerrainNodes.compute(self.tpl.orbit, self.tpl.grids[k], self.height, line_step=NODE_STEP[0],
                                     pixel_step=NODE_STEP[1],
                                     line_range=(self.lattice_lines[0], self.lattice_lines[-1]),
                                     pixel_range=(self.lattice_samples[0], self.lattice_samples[-1]))
            self.height_residual = max(self.height_residual, n.height_residual(self.height, seed=k))
            self._nodes[k] = n
        return self._nodes[k]

    def ramp(self, k: int, d: int) -> TopsRamp:
        """TOPS ramp of burst k on date d over the lattice samples (date d's orbit speed:
        what the reader computes from that date's annotation)."""
        if (k, d) not in self._ramps:
            self._ramps[(k, d)] = TopsRamp.from_product(
                self.tpl.product, self.tpl.bursts[k], orbit=self.orbits[d],
                pixels=self.lattice_samples.astype(np.int64))
        return self._ramps[(k, d)]

    def date_nodes(self, k: int, d: int) -> _DateNodes:
        if (k, d) in self._date_nodes:
            return self._date_nodes[(k, d)]
        n = self.nodes(k)
        acq = self.acqs[d]
        if acq.perpendicular_baseline_m == 0 and acq.along_track_s == 0:
            zero = np.zeros(n.shape)
            fields = {name + sfx: zero for name in ("azimuth_offset", "range_offset", "range_difference")
                      for sfx in ("", "_dh")}
            dn = _DateNodes(fields, zero, zero, True)
        else:
            fields = n.seen_from(self.orbits[d], self.tpl.grids[k])
            az, rg = fields["azimuth_offset"], fields["range_offset"]
            # inverse mapping at the nodes taken as date-d positions x: u + off(u) = x,
            # fixed point u <- x - off(u) (offsets change by << 1 pixel per pixel)
            xl, xp = np.meshgrid(n.lines, n.pixels, indexing="ij")
            ul, up = xl.copy(), xp.copy()
            for _ in range(6):
                ul, up = xl - n.interpolate(az, ul, up), xp - n.interpolate(rg, ul, up)
            dn = _DateNodes(fields, ul - xl, up - xp, False)
            worst = max(np.abs(az).max(), np.abs(rg).max())
            if worst > min(MARGIN_LINES, MARGIN_SAMPLES) - self.taps:
                raise ValueError(f"date {d}: offsets of {worst:.1f} pixels exceed the lattice margin; "
                                 "use a smaller baseline or along-track shift")
        # smooth ground motion and turbulent delay at the nodes (km-scale fields)
        sm = self.scene.sample(n.lon, n.lat, d, outside="clip")
        disp = np.stack([sm["displacement_east"], sm["displacement_north"], sm["displacement_up"]])
        dn.deformation_range = -np.sum(disp * n.los, axis=0)  # towards the satellite shortens the range
        turbulent = self.scene.atmospheric_delay(n.lon, n.lat, 0.0, d)
        dn.atmosphere_turbulent = turbulent * self.secant(k)
        self._date_nodes[(k, d)] = dn
        return dn

    def secant(self, k: int) -> np.ndarray:
        """1 / cos(incidence) at the nodes of burst k (flat-layer tropospheric mapping)."""
        return 1.0 / np.cos(np.deg2rad(self.nodes(k).incidence))

    # ---------------------------------------------------------------- pixels
    def burst(self, k: int, d: int) -> dict[str, np.ndarray]:
        """Complex (not yet calibrated) images of burst k on date d, every polarisation,
        on the date's own burst grid (L x M): E|value|^2 = sigma0 (+ targets)."""
        n, dn = self.nodes(k), self.date_nodes(k, d)
        ramp = self.ramp(k, d)
        lam = self.tpl.wavelength
        kb = self.tpl.bursts[k].burst_index
        r0 = self.tpl.grids[k].pixel_to_range(self.lattice_samples)  # exact, linear in pixel
        fields = {p: np.empty((self.NL, self.NS), dtype=np.complex64) for p in self.pols}
        channels = tuple(sorted({_POL_CHANNEL[p][1] for p in self.pols}))
        events = sorted((e for e in self.scene.events if 0 < e.date_index <= d), key=lambda e: e.date_index)
        k_strat = self.scene.atmosphere.stratified_coefficient(d)
        out_rows = slice(MARGIN_LINES, MARGIN_LINES + self.L)
        out_cols = slice(MARGIN_SAMPLES, MARGIN_SAMPLES + self.M)
        dh = np.zeros((self.L, self.M), dtype=np.float32)  # pixel height minus node plane, output grid
        # line blocks aligned with the truth chunks (each chunk written once, whole)
        c = TRUTH_CHUNK_LINES
        local = sorted({0, self.L} | {c * j - k * self.L for j in range(k * self.L // c + 1, (k + 1) * self.L // c + 1)
                                       if 0 < c * j - k * self.L < self.L})
        edges = [0] + [MARGIN_LINES + e for e in local] + [self.NL]
        for bi, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            rows = self.lattice_lines[a:b]
            extra = {"deformation_range": dn.deformation_range, "atmosphere_turbulent": dn.atmosphere_turbulent,
                     "secant": self.secant(k)}
            if d == 0:
                extra["incidence"] = n.incidence
            px = n.pixel_geometry(rows, self.lattice_samples, self.height,
                                  fields={**(dn.fields if not dn.identity else {}), **extra})
            lat, lon = px["latitude"], px["longitude"]
            s = self.scene.backscatter(lon, lat, d, outside="clip")
            zero = np.zeros(lat.shape)
            up = {name: px.get(name, zero) for name in ("azimuth_offset", "range_offset", "range_difference")}
            up["deformation_range"] = px["deformation_range"]
            # slant one-way tropospheric delay: turbulent part (node field, already slant)
            # plus the stratified part k_d h at the pixel's own height, 1 / cos(incidence)
            up["atmosphere_range"] = px["atmosphere_turbulent"] + k_strat * px["height"] * px["secant"]
            cls = s["class_code"]
            start = np.zeros(cls.shape, dtype=np.int16)  # date the current land cover began
            for e in events:
                before = self.scene.class_at(lon, lat, e.date_index - 1, outside="clip")
                after = self.scene.class_at(lon, lat, e.date_index, outside="clip")
                start[before != after] = e.date_index
            par = self.scene.class_parameters(cls)
            rho = par["rho_vv_vh"]
            spk = speckle_on_date(cls.shape, self.days, d, par["gamma0"], par["gamma_inf"], par["tau_days"],
                                  key=(self.seed, kb, bi, 0), channels=channels, rho=rho)
            for s0 in np.unique(start[start > 0]):
                m = start == s0
                fresh = speckle_on_date(cls.shape, self.days[s0:] - self.days[s0], d - int(s0), par["gamma0"],
                                        par["gamma_inf"], par["tau_days"], key=(self.seed, kb, bi, int(s0)),
                                        channels=channels, rho=rho)
                spk[:, m] = fresh[:, m]
            phase = (-4.0 * np.pi / lam) * (r0[None, :] + up["range_difference"] + up["deformation_range"]
                                            + up["atmosphere_range"])
            phase -= ramp.phase_at((rows[:, None] + up["azimuth_offset"]),
                                   self.lattice_samples[None, :] + up["range_offset"])
            rot = np.exp(1j * phase).astype(np.complex64)
            for p in self.pols:
                key, ch = _POL_CHANNEL[p]
                fields[p][a:b] = np.sqrt(s[key]) * spk[channels.index(ch)] * rot
            # truth rows (reference burst lines 0..L-1, samples 0..M-1) in this block
            ia, ib = max(a, out_rows.start), min(b, out_rows.stop)
            if ia < ib:
                r = slice(ia - a, ib - a)
                lines_out = slice(k * self.L + ia - MARGIN_LINES, k * self.L + ib - MARGIN_LINES)
                t = {"class_code": cls, "change_date_index": start, "sigma0_vv": s["sigma0_vv"],
                     "sigma0_vh": s["sigma0_vh"], **up,
                     "deformation_phase": (-4.0 * np.pi / lam) * up["deformation_range"],
                     "atmosphere_phase": (-4.0 * np.pi / lam) * up["atmosphere_range"]}
                for name, arr in t.items():
                    self.truth.write(name, d, lines_out, arr[r, out_cols])
                dh[ia - MARGIN_LINES:ib - MARGIN_LINES] = px["dh"][r, out_cols]
                if d == 0:
                    self.truth.write("latitude", None, lines_out, lat[r, out_cols])
                    self.truth.write("longitude", None, lines_out, lon[r, out_cols])
                    self.truth.write("height", None, lines_out, px["height"][r, out_cols])
                    self.truth.write("incidence_angle", None, lines_out, px["incidence"][r, out_cols])
                for p in self.pols:
                    self.sigma0[p][lines_out] = s[_POL_CHANNEL[p][0]][r, out_cols]
        self.progress(f"date {d} burst {k}: scatterers")
        images = {}
        for p in self.pols:
            f = band_limit(fields.pop(p), self.tpl.az_fraction, self.tpl.az_coeff, self.tpl.rg_fraction,
                           self.tpl.rg_coeff, overwrite=True)
            self._add_targets(f, k, d, p, n, dn, ramp)
            if dn.identity:
                img = np.ascontiguousarray(f[out_rows, out_cols])
            else:
                # inverse offsets: node plane part, minus the height part of the forward
                # offsets at the output pixel (first order; off by off_dh x the height
                # change over the offset, ~1e-4 pixel per 10 m of cliff)
                op = np.arange(self.M, dtype=np.float64)
                inv_az = np.empty((self.L, self.M), np.float32)
                inv_rg = np.empty((self.L, self.M), np.float32)
                for a in range(0, self.L, 128):  # blocks: float64 temporaries stay small
                    ol = np.arange(a, min(a + 128, self.L), dtype=np.float64)
                    rows = slice(a, a + ol.size)
                    inv_az[rows] = (n.upsample(dn.inverse_azimuth, ol, op)
                                    - n.upsample(dn.fields["azimuth_offset_dh"], ol, op) * dh[rows])
                    inv_rg[rows] = (n.upsample(dn.inverse_range, ol, op)
                                    - n.upsample(dn.fields["range_offset_dh"], ol, op) * dh[rows])
                img = resample(f, inv_az, inv_rg, row0=MARGIN_LINES, col0=MARGIN_SAMPLES, taps=self.taps,
                               bands=self.tpl.ann.processing_bands)
                del inv_az, inv_rg
            del f
            for a in range(0, self.L, 256):  # reramp with date d's ramp at its own pixels
                b = min(a + 256, self.L)
                img[a:b] *= np.exp(1j * ramp.phase(np.arange(a, b), out_cols)).astype(np.complex64)
            images[p] = img
        return images

    def _add_targets(self, field: np.ndarray, k: int, d: int, pol: str, n: TerrainNodes, dn: _DateNodes,
                     ramp: TopsRamp) -> None:
        """Point targets as exact band-limited impulse responses at their fractional
        reference lattice position (geo2rdr of the target, reference orbit), energy
        RCS / pixel area (sigma0 units), carrying the phase of the target's own range
        from date d's orbit (geo2rdr), its line-of-sight motion and delay, and
        -ramp_d at its date-d position (as the distributed scatterers)."""
        rows = self._targets(k)
        rows = rows[(rows["date_index"] == -1) | (rows["date_index"] == d)]
        if rows.size == 0:
            return
        from ..geometry import geo2rdr

        lam = self.tpl.wavelength
        t = self.scene.targets[np.searchsorted(self.scene.targets["id"], rows["id"])]
        rc = geo2rdr(t["lat"], t["lon"], t["height_m"], self.orbits[d], self.tpl.grids[k])
        geo = local_geometry(t["lat"], t["lon"], t["height_m"], self.tpl.orbit)
        smp = self.scene.sample(t["lon"], t["lat"], d, outside="clip")
        los = np.stack([geo["los_east"], geo["los_north"], geo["los_up"]])
        disp = np.stack([smp["displacement_east"], smp["displacement_north"], smp["displacement_up"]])
        path = (rc.slant_range - np.sum(disp * los, axis=0)
                + smp["atmospheric_delay"] / np.cos(np.deg2rad(geo["incidence_angle"])))
        phase = (-4.0 * np.pi / lam) * path - ramp.phase_at(rc.line, rc.pixel)
        for i, row in enumerate(rows):
            ul, up = float(row["lattice_line"]), float(row["lattice_pixel"])
            rcs = row["rcs_vv_dbsm"] if _POL_CHANNEL[pol][1] == 0 else row["rcs_vh_dbsm"]
            amp = np.sqrt(10.0 ** (rcs / 10.0) / row["pixel_area_m2"])
            g_az = _impulse(self.NL, ul, self.tpl.az_fraction, self.tpl.az_coeff)
            g_rg = _impulse(self.NS, up, self.tpl.rg_fraction, self.tpl.rg_coeff)
            i0, i1 = max(int(ul) - 96, 0), min(int(ul) + 97, self.NL)
            j0, j1 = max(int(up) - 96, 0), min(int(up) + 97, self.NS)
            field[i0:i1, j0:j1] += (amp * np.exp(1j * phase[i]) * np.outer(g_az[i0:i1], g_rg[j0:j1])
                                    ).astype(np.complex64)

    def _targets(self, k: int) -> np.ndarray:
        """The scene's targets inside burst k's lattice, with their reference position."""
        cache = getattr(self, "_target_cache", {})
        self._target_cache = cache
        if k in cache:
            return cache[k]
        t = self.scene.targets
        dtype = [("id", "i8"), ("kind", "U32"), ("date_index", "i8"), ("lattice_line", "f8"),
                 ("lattice_pixel", "f8"), ("rcs_vv_dbsm", "f8"), ("rcs_vh_dbsm", "f8"), ("pixel_area_m2", "f8")]
        if t.size == 0:
            cache[k] = np.zeros(0, dtype=dtype)
            return cache[k]
        from ..geometry import geo2rdr

        g = self.tpl.grids[k]
        rc = geo2rdr(t["lat"], t["lon"], t["height_m"], self.tpl.orbit, g)
        inc = local_geometry(t["lat"], t["lon"], t["height_m"], self.tpl.orbit)["incidence_angle"]
        ul, up = rc.line + MARGIN_LINES, rc.pixel + MARGIN_SAMPLES
        inside = ((ul > 16) & (ul < self.NL - 17) & (up > 16) & (up < self.NS - 17)
                  & np.isfinite(ul) & np.isfinite(up))
        out = np.zeros(int(inside.sum()), dtype=dtype)
        sel = np.flatnonzero(inside)
        out["id"], out["kind"], out["date_index"] = t["id"][sel], t["kind"][sel], t["date_index"][sel]
        out["lattice_line"], out["lattice_pixel"] = ul[sel], up[sel]
        out["rcs_vv_dbsm"] = t["rcs_dbsm"][sel]
        # cross-pol RCS: trihedrals return almost no cross-pol, ships some (dihedral-like
        # superstructure): -25 dB and -15 dB below co-pol (order of magnitude only)
        out["rcs_vh_dbsm"] = t["rcs_dbsm"][sel] - np.where(t["kind"][sel] == "ship", 15.0, 25.0)
        out["pixel_area_m2"] = (self.tpl.ann.azimuth_pixel_spacing * self.tpl.ann.range_pixel_spacing
                                / np.sin(np.deg2rad(inc[sel])))
        cache[k] = out
        return out

    def target_table(self) -> list[dict[str, Any]]:
        """Targets seen in the kept bursts, reference product geometry (truth)."""
        rows = []
        for k in range(len(self.tpl.grids)):
            for t in self._targets(k):
                line = k * self.L + t["lattice_line"] - MARGIN_LINES
                pixel = t["lattice_pixel"] - MARGIN_SAMPLES
                if not (0 <= line - k * self.L <= self.L - 1 and 0 <= pixel <= self.M - 1):
                    continue
                rows.append({"id": int(t["id"]), "kind": str(t["kind"]), "date_index": int(t["date_index"]),
                             "burst": k, "line": float(line), "pixel": float(pixel),
                             "rcs_vv_dbsm": float(t["rcs_vv_dbsm"]), "rcs_vh_dbsm": float(t["rcs_vh_dbsm"])})
        return rows

    # ---------------------------------------------------------------- annotation
    def annotation_edit(self, d: int):
        """Hook for ``simulate_product``: date d's orbit vectors, and the geolocation grid
        recomputed on the scene's terrain with that orbit (times: the line times)."""
        orbit = self.orbits[d]

        def edit(pol, root, crop):
            olist = root.find("generalAnnotation/orbitList")
            for o in olist.findall("orbit"):
                olist.remove(o)
            times = np.datetime_as_string(orbit.datetime(orbit.time), unit="us")
            for t, pos, vel in zip(times, orbit.position, orbit.velocity):
                o = _sub(olist, "orbit")
                _sub(o, "time", str(t))
                _sub(o, "frame", orbit.frame)
                p, v = _sub(o, "position"), _sub(o, "velocity")
                for ax, pv, vv in zip("xyz", pos, vel):
                    _sub(p, ax, repr(float(pv)))
                    _sub(v, ax, repr(float(vv)))
            olist.set("count", str(orbit.time.size))
            pts = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
            line = np.array([float(p.findtext("line")) for p in pts])
            tau = np.array([float(p.findtext("slantRangeTime")) for p in pts])
            t_line = np.array([crop.line_time(int(ln) + crop.line0) for ln in line])
            t = seconds_since(t_line, orbit.epoch)
            lat, lon, h = ground_points_at(t, 0.5 * C_LIGHT * tau, orbit, self.height)
            geo = local_geometry(lat, lon, h, orbit, azimuth_time=t)
            for i, p in enumerate(pts):
                p.find("azimuthTime").text = str(np.datetime_as_string(t_line[i], unit="us"))
                p.find("latitude").text = repr(float(lat[i]))
                p.find("longitude").text = repr(float(lon[i]))
                p.find("height").text = repr(float(h[i]))
                p.find("incidenceAngle").text = repr(float(geo["incidence_angle_geocentric"][i]))
                p.find("elevationAngle").text = repr(float(geo["look_angle"][i]))

        return edit


def _sub(parent, tag: str, text: str | None = None):
    from lxml import etree

    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _impulse(n: int, position: float, fraction: float, coefficient: float) -> np.ndarray:
    """1-D band-limited impulse response of the system (the weighting of ``band_limit``)
    of a unit point at fractional ``position``, length n (circular): ifft(H exp(-2 pi j f x))."""
    from .speckle import hamming_lowpass

    f = np.fft.fftfreq(n)
    return np.fft.ifft(hamming_lowpass(n, fraction, coefficient) * np.exp(-2j * np.pi * f * position))


class _DatePixels(PixelSource):
    """``simulate_product``'s pixel source for one date: every polarisation of a burst is
    made at once (shared geometry and speckle) and the others kept on disk until asked."""

    def __init__(self, sim: _StackSimulator, d: int, noise=None):
        self.sim, self.d, self.noise = sim, d, noise
        self._stash: dict[tuple[int, str], Path] = {}
        n_lines = len(sim.tpl.grids) * sim.L
        sim.sigma0 = {p: np.zeros((n_lines, sim.M), dtype=np.float32) for p in sim.pols}

    def blocks(self, pol, crop, lut, valid):
        sim = self.sim
        samples = np.arange(sim.M)
        lut_rows = lut.rows_at_pixels(samples)
        for k in range(len(sim.tpl.grids)):
            if (k, pol) not in self._stash:
                for p, img in sim.burst(k, self.d).items():
                    path = sim.workdir / f"burst{k}_{p}.npy"
                    np.save(path, img)
                    self._stash[(k, p)] = path
            img = np.load(self._stash.pop((k, pol)), mmap_mode="r")
            for a in range(0, sim.L, 256):
                b = min(a + 256, sim.L)
                lines = k * sim.L + np.arange(a, b)
                dn = img[a:b] * lut.blend_rows(lut_rows, lines)
                if self.noise is not None:
                    dn = dn + self.noise(pol, lines, samples, (self.sim.seed, self.d, k, a))
                dn = np.where(valid[lines], dn, 0)
                re = np.clip(np.rint(dn.real), -32768, 32767)
                im = np.clip(np.rint(dn.imag), -32768, 32767)
                yield int(lines[0]), (re + 1j * im).astype(np.complex64)
            del img
            (sim.workdir / f"burst{k}_{pol}.npy").unlink(missing_ok=True)
        self.sim.progress(f"date {self.d} {pol}: written")

    def sigma0_truth(self, pol):
        """True sigma0 of the date, on the REFERENCE grid (offsets < a few pixels)."""
        return self.sim.sigma0[pol]


# --------------------------------------------------------------------------------------
# truth store


class _TruthStore:
    """Zarr v3 group of the truth, written region by region (reference geometry)."""

    def __init__(self, path: Path, n_dates: int, n_lines: int, n_samples: int):
        import zarr

        self.path = path
        self.n_dates, self.n_lines, self.n_samples = n_dates, n_lines, n_samples
        self.pairs = [(i, j) for i in range(n_dates) for j in range(i + 1, n_dates)]
        self.group = zarr.open_group(str(path), mode="w", zarr_format=3)
        sizes = {"date": n_dates, "pair": max(len(self.pairs), 0), "line": n_lines, "sample": n_samples}
        chunk = {"date": 1, "pair": 1, "line": TRUTH_CHUNK_LINES, "sample": min(n_samples, 4096)}
        self.arrays = {}
        for name, (dims, units, desc) in TRUTH_VARIABLES.items():
            if "pair" in dims and not self.pairs:
                continue
            dtype = {"class_code": "int16", "latitude": "float64", "longitude": "float64"}.get(name, "float32")
            self.arrays[name] = self.group.create_array(
                name, shape=tuple(sizes[x] for x in dims), chunks=tuple(chunk[x] for x in dims), dtype=dtype,
                dimension_names=dims, fill_value=0,
                attributes={"units": units, "long_name": name.replace("_", " "), "description": desc})
        self.arrays["change_date_index"] = self.group.create_array(
            "change_date_index", shape=(n_dates, n_lines, n_samples),
            chunks=(1, TRUTH_CHUNK_LINES, min(n_samples, 4096)), dtype="int16",
            dimension_names=("date", "line", "sample"),
            fill_value=0, attributes={"units": "1", "long_name": "change date index",
                                      "description": "date index from which the pixel has its current land cover "
                                                     "(0: unchanged since date 0): change-detection label"})
        for name, values in (("date", np.arange(n_dates)), ("line", np.arange(n_lines)),
                             ("sample", np.arange(n_samples))):
            a = self.group.create_array(name, shape=values.shape, dtype="int64", dimension_names=(name,),
                                        attributes={"units": "1", "long_name": f"{name} index"})
            a[:] = values

    def write(self, name: str, d: int | None, lines: slice, values: np.ndarray) -> None:
        arr = self.arrays[name]
        if d is None:
            arr[lines, :] = np.asarray(values, dtype=arr.dtype)
        else:
            arr[d, lines, :] = np.asarray(values, dtype=arr.dtype)

    def finish(self, scene: Scene, days: np.ndarray, rg_fraction: float,
               rg_coeff: float, wavelength: float, attrs: dict[str, Any]) -> None:
        """Pair coherences from the per-date truth, then the coordinates and attributes."""
        if self.pairs:
            a = self.group.create_array("pair_first", shape=(len(self.pairs),), dtype="int64",
                                        dimension_names=("pair",), attributes={"long_name": "first date index"})
            a[:] = [i for i, _ in self.pairs]
            a = self.group.create_array("pair_second", shape=(len(self.pairs),), dtype="int64",
                                        dimension_names=("pair",), attributes={"long_name": "second date index"})
            a[:] = [j for _, j in self.pairs]
        cls, start, rd = self.arrays["class_code"], self.arrays["change_date_index"], self.arrays["range_difference"]
        step = 16 * TRUTH_CHUNK_LINES
        for a in range(0, self.n_lines, step):
            rows = slice(a, min(a + step, self.n_lines))
            for p, (i, j) in enumerate(self.pairs):
                same = start[i, rows, :] == start[j, rows, :]
                temporal = np.where(same, scene.coherence(cls[j, rows, :], days[j] - days[i]), 0.0)
                # range fringe frequency of the pair, cycles per sample: -(2 / lambda) d(R_j - R_i)/dp
                fringe = (2.0 / wavelength) * np.gradient(rd[j, rows, :] - rd[i, rows, :], axis=-1)
                total = temporal * spectral_shift_coherence(fringe, rg_fraction, rg_coeff)
                self.arrays["temporal_coherence"][p, rows, :] = temporal.astype(np.float32)
                self.arrays["coherence"][p, rows, :] = total.astype(np.float32)
        self.group.attrs.update(attrs)


# --------------------------------------------------------------------------------------
# public entry point


def simulate_stack(out: str | os.PathLike, *, n_dates: int = 3, n_bursts: int = 2, n_samples: int = 2048,
                   seed: int = 0, swath: str = "IW1", polarisations: Sequence[str] = ("VV", "VH"),
                   first_burst: int = 0, acquisitions: Sequence[Acquisition] | None = None,
                   scene: Scene | None = None, dem: str | os.PathLike | None = None,
                   relief_m: float = 400.0, taps: int = 16,
                   thermal_noise: bool = True, as_zip: bool = False, template: str | os.PathLike | None = None,
                   storage_options: dict[str, Any] | None = None, progress=None) -> SimulatedStack:
    """Simulate ``n_dates`` Sentinel-1 IW SLC products of one burst footprint over a scene.

    Writes into ``out`` (a local folder or an fsspec URL such as s3://bucket/prefix):
    the products (``*.SAFE`` or ``*.zip``, one per date, 12 days apart), ``truth.zarr``
    (``TRUTH_VARIABLES``, reference radar geometry: product lines x samples of date 0)
    with ``targets.json`` beside it, and ``scene/`` (``Scene.save``: DEM, land cover,
    targets, parameters). Reproducible from ``seed``; see the module docstring for the
    model. ``scene``: default ``make_default_scene`` over the footprint with
    ``relief_m`` of synthetic terrain, or on ``dem`` (a GeoTIFF/COG path or URL in any
    CRS, read with ``dem.read_dem_for_footprint``: it must cover the footprint plus 3 km). ``acquisitions``: default ``default_acquisitions``.
    ``taps``: interpolation kernel used to move the scatterers onto other dates' grids.
    ``thermal_noise``: add the noise LUT's power as circular Gaussian noise.
    """
    import time

    t_start = time.perf_counter()
    progress = progress or (lambda msg: None)
    template = Path(template) if template is not None else default_template()
    pols = tuple(p.upper() for p in polarisations)
    bad = [p for p in pols if p not in _POL_CHANNEL]
    if bad:
        raise ValueError(f"unknown polarisation(s) {bad}; use VV, VH, HH or HV")
    acqs = list(acquisitions) if acquisitions is not None else default_acquisitions(n_dates, seed)
    if len(acqs) != n_dates:
        raise ValueError(f"{len(acqs)} acquisitions given for n_dates={n_dates}")
    out_str = str(out)
    remote = "://" in out_str and not out_str.startswith("file://")
    local_out = Path(tempfile.mkdtemp(prefix="alignsar-sim-")) if remote else Path(out_str.removeprefix("file://"))
    local_out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".radar-", dir=local_out))
    try:
        tpl = _Template(template, swath.upper(), pols[0], first_burst, n_bursts, n_samples)
        if scene is None:
            # the margin holds the pipeline's DEM margin (tasks.stack_tasks.DEM_MARGIN_M)
            footprint = _footprint(tpl)
            given = None
            if dem is not None:
                from ..dem import read_dem_for_footprint

                given = read_dem_for_footprint(dem, footprint, margin_m=3000.0, storage_options=storage_options)
            scene = make_default_scene(footprint, n_dates, seed, relief_m=relief_m, margin_m=3000.0, dem=given)
            progress(f"scene: {scene.grid.shape[0]} x {scene.grid.shape[1]} DEM pixels, "
                     f"{len(scene.landcover)} land-cover cells, {len(scene.targets)} targets")
        elif scene.n_dates != n_dates:
            raise ValueError(f"scene has {scene.n_dates} dates, n_dates={n_dates}")
        truth = _TruthStore(work / "truth.zarr", n_dates, n_bursts * tpl.lines_per_burst, n_samples)
        sim = _StackSimulator(tpl, scene, acqs, pols, seed, taps, work, truth, progress)
        noise = _ThermalNoise(tpl.product, swath.upper(), tpl.bursts[0].line_offset, sim) if thermal_noise else None
        products = []
        for acq in acqs:
            products.append(simulate_product(
                local_out, n_bursts=n_bursts, n_samples=n_samples, swath=swath, polarisations=pols,
                first_burst=first_burst, seed=seed, date_shift_days=int(round(acq.days)), template=template,
                as_zip=as_zip, pixel_source=_DatePixels(sim, acq.date_index, noise),
                annotation_edit=sim.annotation_edit(acq.date_index)))
            progress(f"date {acq.date_index}: {products[-1].path.name}")
        truth.finish(scene, sim.days, tpl.rg_fraction, tpl.rg_coeff, tpl.wavelength, {
            "title": "AlignSAR simulated stack: ground truth in the reference radar geometry",
            "reference_product": products[0].name,
            "products": [p.name for p in products],
            "template": template.name, "swath": swath.upper(), "first_burst": first_burst,
            "polarisations": list(pols), "seed": int(seed),
            "wavelength_m": tpl.wavelength,
            "acquisitions": [dataclasses.asdict(a) for a in acqs],
            "unresolved_terrain_fraction": float(sim.height_residual),
            "interpolation_taps": int(taps), "thermal_noise": bool(thermal_noise),
            "conventions": "lines are product lines of the reference (date 0) product; phases follow "
                           "exp(-j 4 pi R / lambda); see alignsar_core.simulate.radar",
        })
        (work / "targets.json").write_text(json.dumps(sim.target_table(), indent=1))
        for name in ("truth.zarr", "targets.json"):
            dst = local_out / name
            if dst.exists():
                shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
            shutil.move(str(work / name), dst)
        scene_dir = local_out / "scene"
        if scene_dir.exists():
            shutil.rmtree(scene_dir)
        scene.save(scene_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    paths = [str(p.path) for p in products]
    truth_url, scene_url = str(local_out / "truth.zarr"), str(local_out / "scene")
    if remote:
        from .stack import upload

        opts = storage_options
        if opts is None:
            from ..settings import get_settings

            opts = get_settings().storage_options_for(out_str)
        paths = [upload(p.path, out_str, opts) for p in products]
        truth_url = upload(local_out / "truth.zarr", out_str, opts)
        upload(local_out / "targets.json", out_str, opts)
        scene_url = upload(scene_dir, out_str, opts)
        shutil.rmtree(local_out, ignore_errors=True)
    return SimulatedStack(products=paths, truth=truth_url, scene=scene_url, acquisitions=acqs,
                          simulated=products, seconds=time.perf_counter() - t_start)


def _footprint(tpl: _Template):
    """Ground footprint (lon/lat polygon at h = 0) of the valid area of the kept bursts
    (the scene adds its own margin around it; point targets are placed inside it)."""
    first = min(b.valid_first_sample for b in tpl.bursts)
    last = min(max(b.valid_last_sample for b in tpl.bursts), tpl.n_samples - 1)
    if last <= first:
        raise ValueError(f"n_samples={tpl.n_samples} holds no valid sample (valid data start at sample {first})")
    pts = []
    for g, b in ((tpl.grids[0], tpl.bursts[0]), (tpl.grids[-1], tpl.bursts[-1])):
        for line in (b.valid_first_line, b.valid_last_line):
            for px in (first, last):
                lat, lon = rdr2geo(line, px, 0.0, tpl.orbit, g)
                pts.append((float(lon), float(lat)))
    return shapely.convex_hull(shapely.MultiPoint(pts))


class _ThermalNoise:
    """Circular Gaussian thermal noise with the power of the product's noise LUT."""

    def __init__(self, product, swath: str, line0: int, sim: _StackSimulator):
        self.product, self.swath, self.line0, self.sim = product, swath, line0, sim

    def __call__(self, pol: str, lines: np.ndarray, samples: np.ndarray, key: tuple[int, ...]) -> np.ndarray:
        power = self.power(pol, lines, samples)
        rng = np.random.default_rng(np.random.SeedSequence([int(k) for k in key] + [0x7015E, ord(pol[1])]))
        z = rng.standard_normal((lines.size, samples.size, 2), dtype=np.float32)
        z *= np.sqrt(0.5 * power)[..., None]
        return z.view(np.complex64)[..., 0]

    def power(self, pol: str, lines: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """Noise power (DN^2) at product lines x samples: ``calibration.NoiseLut`` (range
        vectors x azimuth vector) of the template, at template swath lines."""
        cache = self.__dict__.setdefault("_cache", {})
        if pol not in cache:
            from ..calibration import NoiseLut

            cache[pol] = NoiseLut.from_xarray_sentinel(
                self.product.open_group(f"{self.swath}/{pol}/noise_range"),
                self.product.open_group(f"{self.swath}/{pol}/noise_azimuth"))
        return cache[pol].interpolate(lines + self.line0, samples)
