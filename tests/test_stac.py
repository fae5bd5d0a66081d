"""STAC items, collection and catalog: content, offline validation, fsspec writes, merges."""

from __future__ import annotations

import copy
import dataclasses
import json
import socket
from pathlib import Path

import fsspec
import pystac
import pytest
from pystac.validation.stac_validator import JsonSchemaSTACValidator

from alignsar_core import stac
from alignsar_core.products.model import BurstInfo

from ._shared import SHARED_DATA

SCHEMAS = SHARED_DATA / "stac-schemas"
needs_schemas = pytest.mark.skipif(not (SCHEMAS / "sar").is_dir(),
                                   reason=f"shared STAC schemas missing: {SCHEMAS}")

PRODUCT_ID = "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4"
# Corners and mid-points of IW1 burst 3 from ESA's geolocation grid of the product
# above (descending pass, right-looking: near range is east).
FOOTPRINT = (
    (12.2868506, 46.5958774), (11.6953334, 46.6738955), (11.1380485, 46.7444006),
    (11.09346, 46.5792912), (11.6422212, 46.5096969), (12.2462743, 46.4298479),
    (12.2868506, 46.5958774),
)


def make_burst(index: int = 3, **changes) -> BurstInfo:
    """A realistic S1B IW1 burst (numbers from the real annotation); ``index`` shifts
    it along the track by one burst (2.758 s, ~0.15 deg of latitude)."""
    shift = index - 3
    t0 = 32.485660 + 2.758273 * shift
    footprint = tuple((lon + 0.02 * shift, lat - 0.15 * shift) for lon, lat in FOOTPRINT)
    b = BurstInfo(
        product_id=PRODUCT_ID,
        product_url=f"s3://alignsar-input/sentinel1/{PRODUCT_ID}.SAFE",
        mission="S1B",
        mode="IW",
        swath="IW1",
        polarisations=("VV", "VH"),
        burst_index=index,
        burst_id=359498 + index,
        burst_id_source="computed",
        relative_orbit=168,
        absolute_orbit=26269,
        pass_direction="DESCENDING",
        first_line_time=f"2021-04-01T05:26:{t0:09.6f}",
        last_line_time=f"2021-04-01T05:26:{t0 + 1500 * 0.0020555563:09.6f}",
        azimuth_anx_time=2196.8478366621 + 2.758273 * shift,
        lines=1501,
        samples=21632,
        line_offset=1501 * index,
        valid_first_line=19,
        valid_last_line=1483,
        valid_first_sample=529,
        valid_last_sample=20935,
        azimuth_time_interval=0.0020555563,
        slant_range_time=0.005343035814454385,
        range_sampling_rate=64345238.12571428,
        radar_frequency=5.40500045433435e9,
        range_pixel_spacing=2.329562,
        azimuth_pixel_spacing=13.94053,
        incidence_angle_mid=33.81197688764329,
        footprint=footprint,
        ipf_version="003.31",
    )
    return dataclasses.replace(b, **changes) if changes else b


def zarr_asset(burst: BurstInfo, root: str = "s3://alignsar/run1") -> stac.ZarrAsset:
    return stac.ZarrAsset(
        href=f"{root}/bursts/{burst.acquisition_id}.zarr",
        title=f"Calibrated burst {burst.acquisition_id}",
        description="sigma0 of every polarisation, radar geometry",
        variables={"sigma0": {"units": "m2 m-2", "long_name": "radar backscatter coefficient sigma0"},
                   "sigma0_db": {"units": "dB", "long_name": "sigma0 in decibels"}},
        shape=(len(burst.polarisations), burst.lines, burst.samples),
        dims=("polarisation", "azimuth", "range"),
        dim_values={"polarisation": list(burst.polarisations)},
    )


def make_item(index: int = 3, root: str = "s3://alignsar/run1", **changes) -> pystac.Item:
    b = make_burst(index, **changes)
    return stac.burst_item(b, {"calibrated": zarr_asset(b, root)})


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or resolve a name fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] if args else kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# ---------------------------------------------------------------------------- items


def test_item_carries_the_burst_metadata():
    b = make_burst()
    item = make_item()
    p = item.to_dict()["properties"]
    assert item.id == b.acquisition_id == "t168_359501_iw1_20210401T052632"
    assert item.geometry["type"] == "Polygon"
    ring = item.geometry["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == len(FOOTPRINT)
    assert {tuple(p_) for p_ in ring} == set(FOOTPRINT)
    assert item.bbox == pytest.approx([11.09346, 46.4298479, 12.2868506, 46.7444006])
    assert p["datetime"] == p["start_datetime"] == "2021-04-01T05:26:32.485660Z"
    assert p["end_datetime"] == "2021-04-01T05:26:35.568994Z"
    assert (p["platform"], p["constellation"], p["instruments"]) == ("sentinel-1b", "sentinel-1", ["c-sar"])
    # sar
    assert p["sar:instrument_mode"] == "IW" and p["sar:frequency_band"] == "C"
    assert p["sar:center_frequency"] == pytest.approx(5.40500045433435)
    assert p["sar:polarizations"] == ["VV", "VH"] and p["sar:product_type"] == "SLC"
    assert p["sar:pixel_spacing_range"] == 2.329562 and p["sar:pixel_spacing_azimuth"] == 13.94053
    assert (p["sar:resolution_range"], p["sar:resolution_azimuth"]) == (2.7, 22.0)
    assert (p["sar:looks_range"], p["sar:looks_azimuth"]) == (1, 1)
    assert p["sar:observation_direction"] == "right"
    # sat: ANX time = first line time - time since ANX
    assert p["sat:orbit_state"] == "descending"
    assert (p["sat:relative_orbit"], p["sat:absolute_orbit"]) == (168, 26269)
    assert p["sat:platform_international_designator"] == "2016-025A"
    assert p["sat:anx_datetime"] == "2021-04-01T04:49:55.637823Z"
    assert p["view:incidence_angle"] == pytest.approx(33.81197688764329)
    # radar geometry: no map projection
    assert "proj:code" in p and p["proj:code"] is None
    assert p["processing:level"] == "L1"
    assert p["processing:software"] == {"alignsar": stac.__version__, "Sentinel-1 IPF": "003.31"}
    assert PRODUCT_ID in p["processing:lineage"]
    assert (p["s1:burst_id"], p["s1:swath"], p["s1:burst_index"], p["s1:product_id"]) == (
        359501, "IW1", 3, PRODUCT_ID)
    assert p["alignsar:stack_id"] == "t168_359501_iw1"
    assert set(stac.EXTENSION_SCHEMAS) == set(item.stac_extensions)


def test_item_asset_is_a_described_zarr_store():
    b = make_burst()
    item = make_item()
    a = item.assets["calibrated"]
    assert a.href == f"s3://alignsar/run1/bursts/{b.acquisition_id}.zarr"
    assert a.media_type == stac.ZARR_MEDIA_TYPE == "application/vnd.zarr; version=3"
    assert a.roles == ["data"] and a.title.startswith("Calibrated burst")
    f = a.extra_fields
    assert (f["zarr:zarr_format"], f["zarr:node_type"], f["zarr:consolidated"]) == (3, "group", False)
    dims = f["cube:dimensions"]
    assert list(dims) == ["polarisation", "azimuth", "range"]
    assert dims["polarisation"]["values"] == ["VV", "VH"]
    assert dims["azimuth"]["extent"] == [0, 1500] and dims["range"]["extent"] == [0, 21631]
    assert f["cube:variables"]["sigma0_db"] == {
        "dimensions": ["polarisation", "azimuth", "range"], "type": "data",
        "description": "sigma0 in decibels", "unit": "dB"}
    assert f["proj:shape"] == [1501, 21632]


def test_item_accepts_asset_dicts_and_processing_overrides():
    b = make_burst()
    spec = dataclasses.asdict(zarr_asset(b, "/data/out"))
    item = stac.burst_item(b, {"calibrated": spec},
                           processing={"lineage": "custom", "processing:datetime": "2024-05-01T00:00:00Z"})
    assert item.assets["calibrated"].href == f"/data/out/bursts/{b.acquisition_id}.zarr"
    assert item.properties["processing:lineage"] == "custom"
    assert item.properties["processing:datetime"] == "2024-05-01T00:00:00Z"


def test_zarr_asset_checks_its_shape():
    with pytest.raises(ValueError, match="dims"):
        stac.ZarrAsset(href="s3://b/x.zarr", title="x", shape=(2, 3), dims=("azimuth",))
    with pytest.raises(ValueError, match="values"):
        stac.ZarrAsset(href="s3://b/x.zarr", title="x", shape=(2, 3), dims=("polarisation", "range"),
                       dim_values={"polarisation": ["VV"]})


def test_bad_polarisation_is_refused_when_building():
    with pytest.raises(ValueError):
        make_item(polarisations=("VV", "XX"))


@needs_schemas
def test_antimeridian_footprint_is_split_and_valid():
    ring = ((179.9, 47.0), (179.5, 47.1), (179.45, 46.95), (-179.8, 46.85), (-179.7, 46.9), (179.9, 47.0))
    item = make_item(footprint=ring)
    assert item.geometry["type"] == "MultiPolygon"
    for poly in item.geometry["coordinates"]:
        lons = [p[0] for p in poly[0]]
        assert max(lons) - min(lons) < 180
    assert item.bbox[0] > item.bbox[2]  # west > east: crosses the antimeridian
    stac.validate_item(item)
    coll = stac.make_collection("c", "d", [item])
    assert coll.extent.spatial.bboxes[0][0] == -180.0


# ----------------------------------------------------------------------- validation


@needs_schemas
def test_item_validates_against_core_and_every_declared_extension():
    item = make_item()
    checked = stac.validate_item(item)
    assert checked[0].endswith("/item-spec/json-schema/item.json")
    assert set(checked[1:]) == set(item.stac_extensions) == set(stac.EXTENSION_SCHEMAS)


@needs_schemas
@pytest.mark.parametrize("path, value", [
    (("properties", "sar:polarizations"), ["XX"]),
    (("properties", "sar:looks_range"), "1"),
    (("properties", "sar:frequency_band"), "Q"),
    (("properties", "sat:orbit_state"), "sideways"),
    (("properties", "sat:relative_orbit"), -1),
    (("properties", "view:incidence_angle"), 120.0),
    (("properties", "processing:software"), "alignsar 0.1"),
    (("properties", "proj:code"), 4326),
    (("assets", "calibrated", "zarr:zarr_format"), 4),
    (("assets", "calibrated", "cube:dimensions", "azimuth", "type"), "spatial"),
    (("assets", "calibrated", "cube:variables", "sigma0", "dimensions"), "azimuth"),
    (("properties", "datetime"), "yesterday"),
])
def test_validator_catches_broken_fields(path, value):
    d = make_item().to_dict()
    stac.validate_item(d)  # the unbroken item passes
    broken = copy.deepcopy(d)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(pystac.STACValidationError):
        stac.validate_item(broken)


@needs_schemas
def test_missing_extension_declaration_is_caught():
    d = make_item().to_dict()
    d["stac_extensions"].remove(stac.SAR_SCHEMA)
    d["properties"]["sar:polarizations"] = ["XX"]  # no longer checked by the sar schema...
    stac.validate_item(d)  # ...which is why every extension used must be declared
    d["stac_extensions"].append(stac.SAR_SCHEMA)
    with pytest.raises(pystac.STACValidationError):
        stac.validate_item(d)


@needs_schemas
@pytest.mark.parametrize("uri", [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",  # not in the shared folder
    "https://example.com/my-extension/v1.0.0/schema.json",  # not a stac-extensions URL
])
def test_unmapped_schema_is_refused_not_fetched(no_network, uri):
    d = make_item().to_dict()
    d["stac_extensions"].append(uri)
    with pytest.raises(stac.SchemaNotAvailableOffline, match="not available offline"):
        stac.validate_item(d, validator=stac.OfflineSTACValidator())


@needs_schemas
def test_validation_runs_with_the_network_blocked(no_network, tmp_path):
    items = [make_item(i, root=str(tmp_path / "out")) for i in range(3)]
    coll = stac.make_collection("alignsar-s1-bursts", "Calibrated bursts", items)
    # the block is real: pystac's own validator, which fetches extension schemas, fails
    with pytest.raises(Exception, match="sar/v1.0.0"):
        pystac.validation.validate_dict(make_item().to_dict(), validator=JsonSchemaSTACValidator())
    fresh = stac.OfflineSTACValidator()  # empty cache: every schema is loaded now
    for item in items:
        stac.validate_item(item, validator=fresh)
    stac.validate_collection(coll, validator=fresh)
    url = stac.write_catalog(coll, items, str(tmp_path / "out"))
    checked = stac.validate_catalog(url, validator=fresh)
    assert len(checked) == 4


def test_shared_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ALIGNSAR_SHARED_DATA", str(tmp_path))
    assert stac.shared_data_dir() == tmp_path
    assert stac.get_validator().schema_dir == tmp_path / "stac-schemas"
    d = make_item().to_dict()
    with pytest.raises(stac.SchemaNotAvailableOffline, match="ALIGNSAR_SHARED_DATA"):
        stac.validate_item(d)
    monkeypatch.delenv("ALIGNSAR_SHARED_DATA")
    assert stac.shared_data_dir() == Path(stac.__file__).resolve().parents[2] / "shared" / "data"


# ----------------------------------------------------------------------- collection


@needs_schemas
def test_collection_extent_summaries_providers_license():
    items = [make_item(i) for i in (1, 2, 3)]
    items.append(make_item(4, swath="IW2", polarisations=("VV",), incidence_angle_mid=39.5))
    coll = stac.make_collection("alignsar-s1-bursts", "Calibrated bursts", items, title="Bursts")
    (bbox,) = coll.extent.spatial.bboxes
    assert bbox[0] == min(i.bbox[0] for i in items) and bbox[3] == max(i.bbox[3] for i in items)
    (interval,) = coll.extent.temporal.intervals
    assert interval[0] == min(i.common_metadata.start_datetime for i in items)
    assert interval[1] == max(i.common_metadata.end_datetime for i in items)
    s = coll.summaries.to_dict()
    assert s["sar:polarizations"] == ["VV", "VH"]
    assert s["sat:relative_orbit"] == [168]
    assert s["s1:swath"] == ["IW1", "IW2"]
    assert s["view:incidence_angle"] == {"minimum": pytest.approx(33.81197688764329), "maximum": 39.5}
    assert coll.license == "other"
    (lic,) = coll.get_links(pystac.RelType.LICENSE)
    assert "Sentinel" in lic.href
    roles = {p.name: p.roles for p in coll.providers}
    assert any("licensor" in r and "producer" in r for r in roles.values())
    assert roles["AlignSAR"][0] == "processor"
    assert sorted(i.id for i in coll.get_items()) == sorted(i.id for i in items)
    checked = stac.validate_collection(coll)
    assert stac.PROCESSING_SCHEMA in checked and stac.SAR_SCHEMA in checked


@needs_schemas
def test_empty_collection_is_valid():
    coll = stac.make_collection("empty", "nothing yet", [])
    stac.validate_collection(coll)


# --------------------------------------------------------------------- writing


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))}


@needs_schemas
def test_write_catalog_locally_and_read_back(tmp_path):
    root = tmp_path / "out"
    items = [make_item(i, root=str(root)) for i in range(3)]
    coll = stac.make_collection("alignsar-s1-bursts", "Calibrated bursts", items)
    url = stac.write_catalog(coll, items, str(root))
    assert url == str(root / "stac" / "collection.json")
    assert (root / "stac" / items[0].id / f"{items[0].id}.json").is_file()

    back = pystac.Collection.from_file(url)
    assert back.id == "alignsar-s1-bursts"
    got = {i.id: i for i in back.get_items()}
    assert sorted(got) == sorted(i.id for i in items)
    for item in items:
        assert got[item.id].assets["calibrated"].href == item.assets["calibrated"].href
        assert got[item.id].collection_id == "alignsar-s1-bursts"
        assert got[item.id].to_dict()["properties"] == item.to_dict()["properties"]
    # self-contained: relative links only, so the folder can be copied anywhere
    raw = json.loads(Path(url).read_text())
    assert all(not link["href"].startswith("/") for link in raw["links"]
               if link["rel"] in ("item", "root"))
    assert len(stac.validate_catalog(str(root / "stac"))) == 4


@needs_schemas
def test_rewrite_merges_by_id_and_is_idempotent(tmp_path):
    root = tmp_path / "out"
    first = [make_item(i, root=str(root)) for i in (0, 1)]
    stac.write_catalog(stac.make_collection("c", "d", first), first, str(root))
    before = _files(root)

    again = [make_item(i, root=str(root)) for i in (0, 1)]
    stac.write_catalog(stac.make_collection("c", "d", again), again, str(root))
    assert _files(root) == before  # same inputs, byte-identical outputs

    # a later run with one more burst (file:// URL form) keeps the earlier ones
    later = [make_item(2, root=str(root))]
    url = stac.write_catalog(stac.make_collection("c", "d", later), later, f"file://{root}")
    assert url == f"file://{root}/stac/collection.json"
    back = stac.read_collection(url)
    assert sorted(i.id for i in back.get_items()) == sorted(i.id for i in first + later)
    (interval,) = back.extent.temporal.intervals
    assert interval[0] == first[0].common_metadata.start_datetime
    assert interval[1] == later[0].common_metadata.end_datetime
    (bbox,) = back.extent.spatial.bboxes
    assert bbox[1] == pytest.approx(later[0].bbox[1])  # burst 2 is the southernmost

    # an item with an existing id replaces the old one
    moved = make_item(1, root="s3://elsewhere/run2")
    stac.write_catalog(stac.make_collection("c", "d", []), [moved], str(root))
    back = stac.read_collection(str(root / "stac" / "collection.json"))
    hrefs = {i.id: i.assets["calibrated"].href for i in back.get_items()}
    assert len(hrefs) == 3 and hrefs[moved.id].startswith("s3://elsewhere/run2/")
    assert len(stac.validate_catalog(str(root / "stac"))) == 4


@needs_schemas
def test_write_catalog_through_fsspec_memory():
    fs = fsspec.filesystem("memory")
    root = "memory://stac-test-bucket/prefix"
    try:
        items = [make_item(i, root=root) for i in range(2)]
        url = stac.write_catalog(stac.make_collection("c", "d", items), items, root)
        assert url == f"{root}/stac/collection.json"
        assert fs.exists("/stac-test-bucket/prefix/stac/collection.json")
        back = stac.read_collection(url)
        assert [i.assets["calibrated"].href for i in back.get_items()] == [
            i.assets["calibrated"].href for i in sorted(items, key=lambda i: i.id)]
        assert len(stac.validate_catalog(f"{root}/stac")) == 3
        assert stac.read_collection(f"{root}/nowhere/collection.json") is None
    finally:
        fs.rm("/stac-test-bucket", recursive=True)


@needs_schemas
def test_publish_bursts_from_ingest_results(tmp_path):
    from alignsar_core.ingest import BurstResult

    root = tmp_path / "out"
    results = []
    for i in (0, 1):
        b = make_burst(i)
        results.append(BurstResult(b, f"{root}/bursts/{b.acquisition_id}.zarr", False, 1.0, 0,
                                   (2, b.lines, b.samples)))
    url = stac.publish_bursts(results, f"{root}/stac", collection_id="alignsar-s1-bursts",
                              validate=True)
    assert url == f"{root}/stac/collection.json"
    back = stac.read_collection(url)
    items = sorted(back.get_items(), key=lambda i: i.id)
    assert [i.assets["calibrated"].href for i in items] == [r.store_url for r in results]
    assert set(items[0].assets["calibrated"].extra_fields["cube:variables"]) == {"sigma0", "sigma0_db"}
    assert len(stac.validate_catalog(url)) == 3


@pytest.mark.s3
@pytest.mark.slow
@needs_schemas
def test_write_catalog_to_s3():
    server = pytest.importorskip("alignsar_localstack")
    try:
        server.find_weed()
    except Exception as exc:  # no weed binary on this machine
        pytest.skip(f"local S3 server unavailable: {exc}")
    with server.LocalObjectStore(buckets=["alignsar"]) as store:
        opts = store.storage_options()
        first = [make_item(i, root="s3://alignsar/run") for i in (0, 1)]
        url = stac.write_catalog(stac.make_collection("c", "d", first), first, "s3://alignsar/run", opts)
        assert url == "s3://alignsar/run/stac/collection.json"
        later = [make_item(2, root="s3://alignsar/run")]
        stac.write_catalog(stac.make_collection("c", "d", later), later, "s3://alignsar/run", opts)
        back = stac.read_collection(url, opts)
        assert sorted(i.id for i in back.get_items()) == sorted(i.id for i in first + later)
        assert len(stac.validate_catalog(url, opts)) == 4
