"""Plain data records shared by readers, stores and the STAC writer.

A *burst* is the unit of ingestion (DESIGN.md): one swath, one burst index of one
product, all its polarisations. Records are frozen dataclasses of plain Python
values so they pickle cheaply across Dask workers and serialise to JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: ESA burst-ID map constants (S1 burst ID map definition, IPF 3.40 note):
#: beam cycle time, preamble time and nominal orbit period, in seconds.
BURST_CYCLE_S = 2.758273
BURST_PREAMBLE_S = 2.299849
ORBIT_PERIOD_S = 12 * 24 * 3600 / 175


@dataclasses.dataclass(frozen=True)
class BurstInfo:
    """Everything downstream needs to know about one burst, without its pixels.

    Times are ISO-8601 UTC strings with microseconds (as in the annotation);
    ``first_line_time`` is the zero-Doppler azimuth time of the burst's first line.
    Line/sample indices are 0-based within the burst. ``valid_*`` bound the
    rectangle where every line and sample holds focused data (from the
    annotation's firstValidSample/lastValidSample lists).
    """

    product_id: str  # SAFE name without extension
    product_url: str  # where the product was read from (folder or zip URL)
    mission: str  # "S1A", "S1B", ...
    mode: str  # "IW"
    swath: str  # "IW1"
    polarisations: tuple[str, ...]  # ("VV", "VH")
    burst_index: int  # 0-based position of the burst in the swath of this product
    burst_id: int  # relative burst id (annotation from IPF 3.40, else computed)
    burst_id_source: str  # "annotation" | "computed"
    relative_orbit: int
    absolute_orbit: int
    pass_direction: str  # "ASCENDING" | "DESCENDING"
    first_line_time: str
    last_line_time: str
    azimuth_anx_time: float  # s since ascending node crossing of the first line
    lines: int
    samples: int
    line_offset: int  # first line of this burst in the swath measurement TIFF
    valid_first_line: int
    valid_last_line: int
    valid_first_sample: int
    valid_last_sample: int
    azimuth_time_interval: float  # s
    slant_range_time: float  # two-way slant range time of sample 0, s
    range_sampling_rate: float  # Hz
    radar_frequency: float  # Hz
    range_pixel_spacing: float  # m
    azimuth_pixel_spacing: float  # m
    incidence_angle_mid: float  # deg, from the annotation's geolocation grid
    footprint: tuple[tuple[float, float], ...]  # closed (lon, lat) ring, deg
    ipf_version: str = ""

    @property
    def stack_id(self) -> str:
        """Identifier of the burst footprint, stable across dates: groups a stack.

        Same spelling as the ESA/OPERA burst ids: ``t{track:03d}_{burst_id:06d}_{swath}``.
        """
        return f"t{self.relative_orbit:03d}_{self.burst_id:06d}_{self.swath.lower()}"

    @property
    def acquisition_id(self) -> str:
        """``{stack_id}_{YYYYmmddTHHMMSS}``: one burst of one date."""
        t = self.first_line_time.replace("-", "").replace(":", "")[:15]
        return f"{self.stack_id}_{t}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["polarisations"] = list(self.polarisations)
        d["footprint"] = [list(p) for p in self.footprint]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BurstInfo":
        d = dict(d)
        d["polarisations"] = tuple(d["polarisations"])
        d["footprint"] = tuple(tuple(p) for p in d["footprint"])
        return cls(**d)


def compute_burst_id(azimuth_anx_time: float, lines: int, azimuth_time_interval: float,
                     relative_orbit: int) -> int:
    """Relative burst id from the ESA burst ID map definition (pre-IPF-3.40 products).

    dt_b = t_anx(burst centre) + (relative_orbit - 1) * T_orb
    burst_id = 1 + floor((dt_b - T_pre) / T_beam)

    with T_beam = 2.758273 s, T_pre = 2.299849 s and T_orb = 12 days / 175 orbits
    (ESA "Sentinel-1 burst ID map" definition; same convention as OPERA s1-reader).
    """
    import math

    t_centre = azimuth_anx_time + 0.5 * lines * azimuth_time_interval
    dt_b = t_centre + (relative_orbit - 1) * ORBIT_PERIOD_S
    return 1 + int(math.floor((dt_b - BURST_PREAMBLE_S) / BURST_CYCLE_S))
