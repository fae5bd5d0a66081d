"""STAC items, collection and catalog for calibrated Sentinel-1 bursts (pystac + stactools).

One *item* per burst acquisition (``BurstInfo.acquisition_id``): footprint polygon,
acquisition times, the SAR / satellite / view / projection / processing extensions
and one asset per Zarr v3 store, each described with the Zarr and Datacube
extensions. One *collection* groups them, with extents and summaries computed from
the items. The catalog lives under ``{root}/stac/`` in object storage and is written
through fsspec (``FsspecStacIO``), so ``s3://``, ``file://``, local paths and
``memory://`` all work.

Extension versions (schemas in ``shared/data/stac-schemas``, validated offline):

=============  =======  ==================================================
extension      version  where
=============  =======  ==================================================
sar            v1.0.0   item properties (pystac ``SarExtension``)
sat            v1.0.0   item properties (pystac ``SatExtension``)
view           v1.0.0   item properties (pystac ``ViewExtension``)
projection     v2.0.0   ``proj:code`` null (radar geometry), ``proj:shape``
                        per asset (pystac ``ProjectionExtension``)
datacube       v2.2.0   assets: ``cube:dimensions`` / ``cube:variables``
zarr           v1.1.0   assets: ``zarr:zarr_format`` / ``node_type`` /
                        ``consolidated`` (no pystac class: plain fields)
processing     v1.2.0   item properties, collection providers (plain fields)
=============  =======  ==================================================

Custom, schema-less fields (allowed by core STAC): ``s1:burst_id``, ``s1:swath``,
``s1:burst_index``, ``s1:product_id`` and ``alignsar:stack_id`` (the stack a burst
belongs to, ``t{track}_{burst_id}_{swath}``).

Validation never touches the network: :class:`OfflineSTACValidator` serves core
STAC 1.1 schemas from the copies inside pystac and extension schemas from the
shared schema folder, and refuses (``SchemaNotAvailableOffline``) any other URL.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fsspec
import pystac
import pystac.utils
import shapely.geometry
from pystac.extensions.datacube import DatacubeExtension, Dimension, Variable
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.sar import FrequencyBand, ObservationDirection, Polarization, SarExtension
from pystac.extensions.sat import OrbitState, SatExtension
from pystac.extensions.view import ViewExtension
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from shapely.geometry.polygon import orient
from stactools.core.io import FsspecStacIO as _StactoolsFsspecStacIO
from stactools.core.utils.antimeridian import Strategy, fix_item

from . import __version__
from .products.model import BurstInfo
from .settings import shared_data_dir

__all__ = [
    "ZARR_MEDIA_TYPE", "EXTENSION_SCHEMAS", "ZarrAsset", "burst_item", "make_collection",
    "write_catalog", "write_catalog_at", "read_collection", "publish_bursts", "FsspecStacIO",
    "OfflineSTACValidator", "SchemaNotAvailableOffline", "get_validator", "validate_item",
    "validate_collection", "validate_catalog", "shared_data_dir", "frequency_band",
    "default_providers", "DEFAULT_DESCRIPTION",
]

#: Media type of a Zarr v3 store (``application/vnd.zarr`` replaces the older
#: ``application/vnd+zarr``; the ``version`` parameter names the Zarr format).
ZARR_MEDIA_TYPE = "application/vnd.zarr; version=3"

SAR_SCHEMA = SarExtension.get_schema_uri()
SAT_SCHEMA = SatExtension.get_schema_uri()
VIEW_SCHEMA = ViewExtension.get_schema_uri()
PROJ_SCHEMA = ProjectionExtension.get_schema_uri()
DATACUBE_SCHEMA = DatacubeExtension.get_schema_uri()
ZARR_SCHEMA = "https://stac-extensions.github.io/zarr/v1.1.0/schema.json"
PROCESSING_SCHEMA = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"

#: Every extension schema this module may declare.
EXTENSION_SCHEMAS = (SAR_SCHEMA, SAT_SCHEMA, VIEW_SCHEMA, PROJ_SCHEMA, DATACUBE_SCHEMA,
                     ZARR_SCHEMA, PROCESSING_SCHEMA)

#: Copernicus Sentinel data terms (the collection's license is "other" + this link).
SENTINEL_LICENSE_URL = "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"
SENTINEL_LICENSE_TITLE = "Legal notice on the use of Copernicus Sentinel Data and Service Information"

#: Slant-range x azimuth resolution (m) of Sentinel-1 IW SLC per sub-swath. ESA quotes
#: "2.7 x 22 m to 3.5 x 22 m" (Sentinel-1 user guide, Level-1 SLC resolutions); per
#: sub-swath the range value is c / (2 B) with the IW1/IW2/IW3 chirp bandwidths
#: 56.5 / 48.3 / 42.8 MHz (2.65 / 3.10 / 3.50 m).
S1_IW_RESOLUTION = {"IW1": (2.7, 22.0), "IW2": (3.1, 22.0), "IW3": (3.5, 22.0)}

#: COSPAR international designators of the Sentinel-1 satellites.
S1_INTERNATIONAL_DESIGNATOR = {"S1A": "2014-016A", "S1B": "2016-025A"}

# (upper limit GHz, band): IEEE radar band letters, as used by sar:frequency_band
_BANDS = ((1.0, FrequencyBand.P), (2.0, FrequencyBand.L), (4.0, FrequencyBand.S),
          (8.0, FrequencyBand.C), (12.0, FrequencyBand.X), (18.0, FrequencyBand.KU),
          (27.0, FrequencyBand.K), (40.0, FrequencyBand.KA))

_POL_DIMS = ("polarisation", "polarization", "pol")

_STRUCTURAL_RELS = (pystac.RelType.ITEM, pystac.RelType.CHILD, pystac.RelType.SELF,
                    pystac.RelType.ROOT, pystac.RelType.PARENT, pystac.RelType.COLLECTION)


# --------------------------------------------------------------------------------------
# Items


@dataclasses.dataclass(frozen=True)
class ZarrAsset:
    """One Zarr v3 store (a group) as an item asset.

    ``variables`` maps each data variable to its attributes (``units``, ``long_name``,
    optionally ``dims`` when they differ from the store's ``dims``, and
    ``variable_type`` "data" | "auxiliary"). ``dims`` / ``shape`` are the store's
    dimensions and sizes, e.g. ``("polarisation", "azimuth", "range")`` and
    ``(2, 1501, 21632)``; ``dim_values`` lists labelled dimensions such as
    ``{"polarisation": ["VV", "VH"]}``.
    """

    href: str
    title: str
    description: str = ""
    variables: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    shape: tuple[int, ...] = ()
    dims: tuple[str, ...] = ()
    dim_values: Mapping[str, Sequence[Any]] = dataclasses.field(default_factory=dict)
    roles: tuple[str, ...] = ("data",)
    consolidated: bool = False
    zarr_format: int = 3

    def __post_init__(self) -> None:
        if len(self.shape) != len(self.dims):
            raise ValueError(f"ZarrAsset {self.href}: dims {self.dims} do not match shape {self.shape}")
        for name, values in self.dim_values.items():
            if name not in self.dims:
                raise ValueError(f"ZarrAsset {self.href}: dim_values for unknown dimension {name!r}")
            if len(values) != self.shape[self.dims.index(name)]:
                raise ValueError(f"ZarrAsset {self.href}: {len(values)} values for dimension "
                                 f"{name!r} of size {self.shape[self.dims.index(name)]}")
        if self.zarr_format not in (2, 3):
            raise ValueError(f"ZarrAsset {self.href}: zarr_format must be 2 or 3")

    @property
    def media_type(self) -> str:
        return ZARR_MEDIA_TYPE if self.zarr_format == 3 else "application/vnd.zarr; version=2"


def _utc(text: str) -> datetime:
    """Annotation times are UTC without a zone suffix."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def frequency_band(radar_frequency_hz: float) -> FrequencyBand:
    ghz = radar_frequency_hz / 1e9
    for upper, band in _BANDS:
        if ghz < upper:
            return band
    raise ValueError(f"radar frequency {ghz} GHz is outside the SAR bands P..Ka")


def _platform(mission: str) -> tuple[str, str | None, list[str]]:
    """(platform, constellation, instruments) in STAC's lower-case spelling."""
    m = mission.upper()
    if m.startswith("S1") and len(m) == 3:
        return f"sentinel-1{m[2].lower()}", "sentinel-1", ["c-sar"]
    return mission.lower(), None, []


def _crosses_antimeridian(ring: Sequence[Sequence[float]]) -> bool:
    lons = [p[0] for p in ring]
    return max(lons) - min(lons) > 180.0


def _footprint(ring: Sequence[Sequence[float]]) -> tuple[dict[str, Any], list[float], bool]:
    """GeoJSON polygon (counter-clockwise, RFC 7946), its bbox, and whether it crosses
    the antimeridian (then the caller splits it with stactools)."""
    if len(ring) < 4:
        raise ValueError(f"footprint needs at least 3 distinct points, got {ring}")
    crossing = _crosses_antimeridian(ring)
    pts = [(float(lon) + (360.0 if crossing and lon < 0 else 0.0), float(lat)) for lon, lat in ring]
    poly = orient(shapely.geometry.Polygon(pts), sign=1.0)
    if not poly.is_valid:
        raise ValueError(f"footprint is not a valid polygon: {ring}")
    coords = [[lon - 360.0 if lon > 180.0 else lon, lat] for lon, lat in poly.exterior.coords]
    geometry = {"type": "Polygon", "coordinates": [coords]}
    return geometry, [float(v) for v in poly.bounds], crossing


def _dimension(name: str, size: int, values: Sequence[Any] | None) -> Dimension:
    if name in _POL_DIMS:
        d: dict[str, Any] = {"type": "bands", "description": "transmit/receive polarisation channel"}
    elif name == "azimuth":
        d = {"type": "azimuth", "description": "azimuth line of the burst in radar geometry "
             "(zero-Doppler time increases with the index); no map projection"}
    elif name == "range":
        d = {"type": "range", "description": "slant-range sample of the burst in radar geometry "
             "(two-way slant range time increases with the index); no map projection"}
    else:
        d = {"type": name}
    if values is not None:
        d["values"] = [v if isinstance(v, (int, float, str)) else str(v) for v in values]
    else:
        d["extent"] = [0, size - 1]
        d["step"] = 1
    return Dimension.from_dict(d)


def _zarr_asset(spec: ZarrAsset) -> pystac.Asset:
    return pystac.Asset(
        href=spec.href,
        title=spec.title,
        description=spec.description or None,
        media_type=spec.media_type,
        roles=list(spec.roles),
        extra_fields={"zarr:zarr_format": spec.zarr_format, "zarr:node_type": "group",
                      "zarr:consolidated": bool(spec.consolidated)},
    )


def _describe_cube(asset: pystac.Asset, spec: ZarrAsset) -> None:
    if not spec.dims:
        return
    cube = DatacubeExtension.ext(asset, add_if_missing=True)
    cube.dimensions = {name: _dimension(name, size, spec.dim_values.get(name))
                       for name, size in zip(spec.dims, spec.shape)}
    variables = {}
    for name, attrs in spec.variables.items():
        v: dict[str, Any] = {"dimensions": list(attrs.get("dims", spec.dims)),
                             "type": attrs.get("variable_type", "data")}
        if attrs.get("long_name") or attrs.get("description"):
            v["description"] = str(attrs.get("long_name") or attrs.get("description"))
        if attrs.get("units") is not None:
            v["unit"] = str(attrs["units"])
        unknown = set(v["dimensions"]) - set(spec.dims)
        if unknown:
            raise ValueError(f"ZarrAsset {spec.href}: variable {name!r} has unknown dims {unknown}")
        variables[name] = Variable.from_dict(v)
    if variables:
        cube.variables = variables
    if "azimuth" in spec.dims and "range" in spec.dims:
        ProjectionExtension.ext(asset, add_if_missing=True).shape = [
            spec.shape[spec.dims.index("azimuth")], spec.shape[spec.dims.index("range")]]


def burst_item(burst: BurstInfo, assets: Mapping[str, ZarrAsset | Mapping[str, Any] | pystac.Asset],
               *, processing: Mapping[str, Any] | None = None) -> pystac.Item:
    """The STAC item of one burst acquisition.

    ``assets`` maps asset keys to :class:`ZarrAsset` (or a dict of its fields, or a
    ready ``pystac.Asset`` used as is). ``processing`` overrides or adds processing
    extension fields (with or without the ``processing:`` prefix), e.g.
    ``{"lineage": "...", "datetime": "2024-05-01T00:00:00Z"}``.
    """
    start, end = _utc(burst.first_line_time), _utc(burst.last_line_time)
    if end < start:
        raise ValueError(f"{burst.acquisition_id}: last_line_time before first_line_time")
    geometry, bbox, crossing = _footprint(burst.footprint)
    item = pystac.Item(id=burst.acquisition_id, geometry=geometry, bbox=bbox, datetime=start,
                       start_datetime=start, end_datetime=end, properties={})
    if crossing:  # split at the antimeridian into a MultiPolygon (STAC best practice)
        fix_item(item, Strategy.SPLIT)

    platform, constellation, instruments = _platform(burst.mission)
    item.common_metadata.platform = platform
    item.common_metadata.constellation = constellation
    item.common_metadata.instruments = instruments or None

    res = S1_IW_RESOLUTION.get(burst.swath) if burst.mission.upper().startswith("S1") else None
    SarExtension.ext(item, add_if_missing=True).apply(
        instrument_mode=burst.mode,
        frequency_band=frequency_band(burst.radar_frequency),
        polarizations=[Polarization(p) for p in burst.polarisations],
        product_type="SLC",
        center_frequency=burst.radar_frequency / 1e9,
        resolution_range=res[0] if res else None,
        resolution_azimuth=res[1] if res else None,
        pixel_spacing_range=burst.range_pixel_spacing,
        pixel_spacing_azimuth=burst.azimuth_pixel_spacing,
        looks_range=1,
        looks_azimuth=1,
        looks_equivalent_number=1.0,
        observation_direction=ObservationDirection.RIGHT,
    )
    SatExtension.ext(item, add_if_missing=True).apply(
        orbit_state=OrbitState(burst.pass_direction.lower()),
        relative_orbit=burst.relative_orbit,
        absolute_orbit=burst.absolute_orbit,
        platform_international_designator=S1_INTERNATIONAL_DESIGNATOR.get(burst.mission.upper()),
        anx_datetime=start - timedelta(seconds=burst.azimuth_anx_time),
    )
    ViewExtension.ext(item, add_if_missing=True).incidence_angle = burst.incidence_angle_mid
    # Radar geometry: there is no map projection; the projection extension says so
    # with proj:code null (and gives each raster's grid shape on its asset).
    ProjectionExtension.ext(item, add_if_missing=True).code = None

    software = {"alignsar": __version__}
    if burst.ipf_version:
        software["Sentinel-1 IPF"] = burst.ipf_version
    proc: dict[str, Any] = {
        "processing:level": "L1",
        "processing:software": software,
        "processing:lineage": (f"Burst {burst.burst_index} of {burst.swath} read from Sentinel-1 "
                               f"product {burst.product_id}; radiometrically calibrated with the "
                               f"product's calibration LUT by alignsar {__version__}"),
    }
    for key, value in (processing or {}).items():
        proc[key if key.startswith("processing:") else f"processing:{key}"] = value
    item.properties.update(proc)
    item.stac_extensions.append(PROCESSING_SCHEMA)

    item.properties.update({
        "s1:product_id": burst.product_id,
        "s1:swath": burst.swath,
        "s1:burst_index": burst.burst_index,
        "s1:burst_id": burst.burst_id,
        "alignsar:stack_id": burst.stack_id,
    })

    for key, spec in assets.items():
        if isinstance(spec, pystac.Asset):
            item.add_asset(key, spec.clone())
            continue
        if not isinstance(spec, ZarrAsset):
            spec = ZarrAsset(**spec)
        asset = _zarr_asset(spec)
        item.add_asset(key, asset)
        if ZARR_SCHEMA not in item.stac_extensions:
            item.stac_extensions.append(ZARR_SCHEMA)
        _describe_cube(asset, spec)
    return item


# --------------------------------------------------------------------------------------
# Collection


def default_providers() -> list[pystac.Provider]:
    return [
        pystac.Provider(
            name="European Space Agency (ESA), Copernicus Sentinel-1",
            roles=[pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR],
            url="https://sentinel.esa.int/web/sentinel/missions/sentinel-1",
            extra_fields={"processing:level": "L1"},
        ),
        pystac.Provider(
            name="AlignSAR",
            description="Calibration, bursts to Zarr v3 stores and STAC catalog",
            roles=[pystac.ProviderRole.PROCESSOR, pystac.ProviderRole.HOST],
            extra_fields={"processing:software": {"alignsar": __version__}},
        ),
    ]


def _extent(items: Sequence[pystac.Item]) -> pystac.Extent:
    if not items:
        return pystac.Extent(pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
                             pystac.TemporalExtent([[None, None]]))
    boxes = [list(it.bbox) for it in items if it.bbox]
    plain = [b for b in boxes if b[0] <= b[2]]
    south, north = min(b[1] for b in boxes), max(b[3] for b in boxes)
    if len(plain) == len(boxes):
        union = [min(b[0] for b in boxes), south, max(b[2] for b in boxes), north]
    else:  # some item crosses the antimeridian: whole longitude range
        union = [-180.0, south, 180.0, north]
    starts = [it.common_metadata.start_datetime or it.datetime for it in items]
    ends = [it.common_metadata.end_datetime or it.datetime for it in items]
    return pystac.Extent(pystac.SpatialExtent([union]),
                         pystac.TemporalExtent([[min(starts), max(ends)]]))


def _ordered_union(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v is not None and v not in out:
            out.append(v)
    return out


def _summaries(items: Sequence[pystac.Item]) -> dict[str, Any]:
    def prop(name: str) -> list[Any]:
        return [it.properties.get(name) for it in items]

    def flat(name: str) -> list[Any]:
        return [v for vs in prop(name) if vs for v in vs]

    s: dict[str, Any] = {
        "platform": sorted(_ordered_union(prop("platform"))),
        "constellation": sorted(_ordered_union(prop("constellation"))),
        "instruments": sorted(_ordered_union(flat("instruments"))),
        "sar:instrument_mode": sorted(_ordered_union(prop("sar:instrument_mode"))),
        "sar:frequency_band": sorted(_ordered_union(prop("sar:frequency_band"))),
        "sar:product_type": sorted(_ordered_union(prop("sar:product_type"))),
        "sar:polarizations": _ordered_union(flat("sar:polarizations")),
        "sat:orbit_state": sorted(_ordered_union(prop("sat:orbit_state"))),
        "sat:relative_orbit": sorted(_ordered_union(prop("sat:relative_orbit"))),
        "s1:swath": sorted(_ordered_union(prop("s1:swath"))),
        "processing:level": sorted(_ordered_union(prop("processing:level"))),
    }
    s = {k: v for k, v in s.items() if v}
    angles = [a for a in prop("view:incidence_angle") if a is not None]
    if angles:
        s["view:incidence_angle"] = {"minimum": min(angles), "maximum": max(angles)}
    return s


def _apply_items(collection: pystac.Collection, items: Sequence[pystac.Item]) -> None:
    """Extent and summaries of ``collection`` from ``items`` (other summaries kept)."""
    collection.extent = _extent(items)
    current = collection.summaries.to_dict() if collection.summaries else {}
    current.update(_summaries(items))
    collection.summaries = pystac.Summaries(current)


def make_collection(collection_id: str, description: str, items: Iterable[pystac.Item], *,
                    title: str | None = None, license: str = "other",
                    license_url: str | None = SENTINEL_LICENSE_URL,
                    license_title: str | None = SENTINEL_LICENSE_TITLE,
                    keywords: Sequence[str] | None = None,
                    providers: Sequence[pystac.Provider] | None = None) -> pystac.Collection:
    """A collection holding ``items``, with extents and summaries computed from them.

    Copernicus Sentinel data are free and open under their own terms, not an SPDX
    license: STAC 1.1 spells that ``license: "other"`` plus a ``license`` link.
    The items are added to the collection (pystac sets their collection links).
    """
    items = list(items)
    coll = pystac.Collection(
        id=collection_id,
        description=description,
        extent=_extent(items),
        title=title,
        license=license,
        keywords=list(keywords) if keywords is not None else
        ["sentinel-1", "sar", "slc", "burst", "sigma0", "zarr", "alignsar", "machine-learning"],
        providers=list(providers) if providers is not None else default_providers(),
        stac_extensions=[SAR_SCHEMA, SAT_SCHEMA, VIEW_SCHEMA, PROCESSING_SCHEMA],
    )
    if license_url:
        coll.add_link(pystac.Link(rel=pystac.RelType.LICENSE, target=license_url,
                                  title=license_title))
    _apply_items(coll, items)
    for it in sorted(items, key=lambda i: i.id):
        coll.add_item(it)
    return coll


# --------------------------------------------------------------------------------------
# Reading and writing through fsspec


def _is_local(href: str) -> bool:
    scheme = href.split("://", 1)[0] if "://" in href else ""
    return scheme in ("", "file", "local")


class FsspecStacIO(_StactoolsFsspecStacIO):
    """pystac I/O through fsspec (stactools' ``FsspecStacIO``) with storage options.

    ``storage_options`` (endpoint, credentials...) apply to remote URLs only; local
    paths and ``file://`` URLs are opened without them. Parent folders of local
    files are created on write.
    """

    def __init__(self, storage_options: Mapping[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(headers)
        self.storage_options = dict(storage_options or {})

    def _options(self, href: str) -> dict[str, Any]:
        return {} if _is_local(href) else dict(self.storage_options)

    def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
        href = str(os.fspath(source))
        return self.read_text_from_href(href, **{**self._options(href), **kwargs})

    def write_text(self, dest: Any, txt: str, *args: Any, **kwargs: Any) -> None:
        href = str(os.fspath(dest))
        fs, path = fsspec.core.url_to_fs(href, **{**self._options(href), **kwargs})
        if _is_local(href):
            fs.makedirs(os.path.dirname(path), exist_ok=True)
        with fs.open(path, "w", encoding="utf-8") as f:
            f.write(txt)


def _local_href(url: str) -> str:
    """Absolute local path for local paths and file:// URLs; other URLs unchanged."""
    if url.startswith("file://"):
        return os.path.abspath(url[len("file://"):])
    if "://" not in url:
        return os.path.abspath(os.path.expanduser(url))
    return url


def _join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *[p.strip("/") for p in parts]])


def read_collection(collection_url: str, storage_options: Mapping[str, Any] | None = None
                    ) -> pystac.Collection | None:
    """The collection at ``collection_url`` (its items resolve lazily), or None."""
    href = _local_href(collection_url)
    try:
        return pystac.Collection.from_file(href, stac_io=FsspecStacIO(storage_options))
    except FileNotFoundError:
        return None


def _detached(item: pystac.Item) -> pystac.Item:
    """A copy of ``item`` with no structural links and absolute asset hrefs."""
    item = item.clone()
    if item.get_self_href():  # read from a catalog: resolve relative asset hrefs first
        item.make_asset_hrefs_absolute()
    for rel in _STRUCTURAL_RELS:
        item.clear_links(rel)
    item.collection_id = None
    return item


def write_catalog_at(collection: pystac.Collection, items: Iterable[pystac.Item], catalog_url: str,
                     storage_options: Mapping[str, Any] | None = None, *,
                     catalog_type: pystac.CatalogType = pystac.CatalogType.SELF_CONTAINED,
                     validate: bool = False) -> str:
    """Write ``collection`` and ``items`` as ``{catalog_url}/collection.json`` plus
    ``{catalog_url}/{item_id}/{item_id}.json``, merging with what is already there.

    Items already in the catalog are kept; an item with the same id is replaced.
    Extents and summaries are recomputed from the merged items; the collection's
    other metadata comes from ``collection``. Items are written before the
    collection, so a reader never sees a collection that lists a missing item.
    Writing the same inputs again gives identical files. One writer at a time.
    Returns the collection.json URL.
    """
    catalog_href = _local_href(catalog_url).rstrip("/")
    io = FsspecStacIO(storage_options)
    merged: dict[str, pystac.Item] = {}
    existing = read_collection(_join(catalog_href, "collection.json"), storage_options)
    if existing is not None:
        for it in existing.get_items(recursive=True):
            merged[it.id] = _detached(it)
    for it in [*collection.get_items(), *items]:
        merged[it.id] = _detached(it)

    out = collection.clone()
    for rel in _STRUCTURAL_RELS:
        out.clear_links(rel)
    out.set_root(out)
    ordered = [merged[k] for k in sorted(merged)]
    _apply_items(out, ordered)
    for it in ordered:
        out.add_item(it)
    out.normalize_hrefs(catalog_href)
    if validate:
        validate_collection(out)
        for it in ordered:
            validate_item(it)
    out.save(catalog_type=catalog_type, stac_io=io)
    href = out.get_self_href()
    assert href is not None
    return "file://" + href if catalog_url.startswith("file://") else href


def write_catalog(collection: pystac.Collection, items: Iterable[pystac.Item], root_url: str,
                  storage_options: Mapping[str, Any] | None = None, *,
                  catalog_type: pystac.CatalogType = pystac.CatalogType.SELF_CONTAINED,
                  validate: bool = False) -> str:
    """Write (or update) the catalog under ``{root_url}/stac/``; see :func:`write_catalog_at`.

    ``root_url`` is the pipeline's storage root: ``s3://bucket/prefix``, a local
    path or ``file://...``. Returns the collection.json URL.
    """
    return write_catalog_at(collection, items, _join(root_url, "stac"), storage_options,
                            catalog_type=catalog_type, validate=validate)


DEFAULT_DESCRIPTION = (
    "Sentinel-1 IW SLC bursts, radiometrically calibrated (sigma0, linear and dB) in radar "
    "geometry, one chunked Zarr v3 store per burst acquisition, made by the AlignSAR "
    "cloud pipeline. Contains modified Copernicus Sentinel data.")


def publish_bursts(results: Iterable[Any], catalog_url: str, *, collection_id: str,
                   storage_options: Mapping[str, Any] | None = None, title: str | None = None,
                   description: str = DEFAULT_DESCRIPTION, validate: bool = False) -> str:
    """Items for calibrated burst stores (``ingest.BurstResult``) written into the
    catalog at ``catalog_url`` (already the ``stac/`` folder, as ``store.stac_root_url``
    gives it); merges with the items already there. Returns the collection.json URL."""
    from .ingest import SIGMA0_ATTRS  # lazy: ingest pulls in dask/xarray

    items = []
    for r in results:
        b: BurstInfo = r.burst
        spec = ZarrAsset(
            href=r.store_url,
            title=f"Calibrated burst {b.acquisition_id}",
            description="sigma0 (linear and dB) of every polarisation of the burst, in radar "
                        "geometry (polarisation, azimuth, range), chunked on the tile grid",
            variables={k: {"units": v["units"], "long_name": v["long_name"]}
                       for k, v in SIGMA0_ATTRS.items()},
            shape=tuple(r.shape),
            dims=("polarisation", "azimuth", "range"),
            dim_values={"polarisation": list(b.polarisations)},
        )
        items.append(burst_item(b, {"calibrated": spec}))
    coll = make_collection(collection_id, description, items,
                           title=title or "AlignSAR calibrated Sentinel-1 bursts")
    return write_catalog_at(coll, [], catalog_url, storage_options, validate=validate)


# --------------------------------------------------------------------------------------
# Offline validation


class SchemaNotAvailableOffline(LookupError):
    """A schema URL that neither pystac nor the shared schema folder holds."""


_EXT_URL = re.compile(r"^https://stac-extensions\.github\.io/(?P<name>[A-Za-z0-9_.-]+)/"
                      r"(?P<version>[A-Za-z0-9_.-]+)/schema\.json$")


class OfflineSTACValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator with every schema served from local files.

    Core STAC schemas come from the copies inside pystac; extension schemas
    ``https://stac-extensions.github.io/{name}/{version}/schema.json`` from
    ``{schema_dir}/{name}/{version}/schema.json``. Any other URL raises
    :class:`SchemaNotAvailableOffline`: nothing is ever fetched.
    """

    def __init__(self, schema_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.schema_dir = Path(schema_dir) if schema_dir else shared_data_dir() / "stac-schemas"
        self._lock = threading.Lock()

    def local_path(self, schema_uri: str) -> Path:
        uri = schema_uri.split("#", 1)[0]
        m = _EXT_URL.match(uri)
        if not m:
            raise SchemaNotAvailableOffline(
                f"schema {schema_uri} is not available offline (only core STAC schemas from "
                f"pystac and stac-extensions.github.io schemas in {self.schema_dir} are)")
        path = self.schema_dir / m["name"] / m["version"] / "schema.json"
        if not path.is_file():
            raise SchemaNotAvailableOffline(
                f"schema {schema_uri} is not available offline: no {path} "
                f"(set ALIGNSAR_SHARED_DATA to the folder holding stac-schemas/)")
        return path

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        with self._lock:
            for key in (schema_uri, schema_uri.split("#", 1)[0]):
                if key in self.schema_cache:
                    return self.schema_cache[key]
            schema = json.loads(self.local_path(schema_uri).read_text(encoding="utf-8"))
            self.schema_cache[schema_uri.split("#", 1)[0]] = schema
            return schema


_VALIDATOR: OfflineSTACValidator | None = None
_VALIDATOR_LOCK = threading.Lock()


def get_validator() -> OfflineSTACValidator:
    """The shared offline validator (schemas parsed once per process)."""
    global _VALIDATOR
    with _VALIDATOR_LOCK:
        if _VALIDATOR is None or _VALIDATOR.schema_dir != shared_data_dir() / "stac-schemas":
            _VALIDATOR = OfflineSTACValidator()
        return _VALIDATOR


def _as_dict(obj: pystac.STACObject | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return json.loads(json.dumps(obj))
    d = obj.to_dict(include_self_link=obj.get_self_href() is not None)
    # In-memory links to objects that have no location yet (not saved) carry no
    # href; they get one when the catalog is written. Leave them out here.
    # (an item's "collection" field then goes too: core STAC requires a matching link).
    d["links"] = [link for link in d.get("links", []) if link.get("href") is not None]
    if "collection" in d and not any(link.get("rel") == "collection" for link in d["links"]):
        del d["collection"]
    return json.loads(json.dumps(d))


def _validate(obj: pystac.STACObject | Mapping[str, Any], expected: pystac.STACObjectType,
              validator: OfflineSTACValidator | None, href: str | None = None) -> list[str]:
    from pystac.validation import validate_dict

    d = _as_dict(obj)
    if isinstance(obj, pystac.STACObject) and href is None:
        href = obj.get_self_href()
    return validate_dict(d, stac_object_type=expected, href=href,
                         validator=validator or get_validator())


def validate_item(item: pystac.Item | Mapping[str, Any], *,
                  validator: OfflineSTACValidator | None = None) -> list[str]:
    """Validate against core STAC and every declared extension, offline.

    Returns the schema URIs checked; raises ``pystac.STACValidationError``.
    """
    return _validate(item, pystac.STACObjectType.ITEM, validator)


def validate_collection(collection: pystac.Collection | Mapping[str, Any], *,
                        validator: OfflineSTACValidator | None = None) -> list[str]:
    """Validate the collection itself (not its items), offline; see :func:`validate_item`."""
    return _validate(collection, pystac.STACObjectType.COLLECTION, validator)


def validate_catalog(url: str, storage_options: Mapping[str, Any] | None = None, *,
                     validator: OfflineSTACValidator | None = None) -> dict[str, list[str]]:
    """Validate the JSON files of a written catalog as they are stored, following its
    child and item links. ``url``: a collection/catalog JSON or the folder holding
    ``collection.json``. Returns {file URL: schema URIs checked}.
    """
    from pystac.serialization import identify_stac_object
    from pystac.validation import validate_dict

    io = FsspecStacIO(storage_options)
    href = _local_href(url)
    if not href.endswith(".json"):
        href = _join(href, "collection.json")
    checked: dict[str, list[str]] = {}
    todo = [href]
    while todo:
        h = todo.pop(0)
        if h in checked:
            continue
        d = json.loads(io.read_text(h))
        info = identify_stac_object(d)
        checked[h] = validate_dict(d, stac_object_type=info.object_type, href=h,
                                   validator=validator or get_validator())
        if info.object_type != pystac.STACObjectType.ITEM:
            for link in d.get("links", []):
                if link.get("rel") in (pystac.RelType.ITEM, pystac.RelType.CHILD):
                    todo.append(pystac.utils.make_absolute_href(link["href"], h))
    return checked
