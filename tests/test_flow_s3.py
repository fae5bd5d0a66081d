"""End to end: simulated products in a real S3 server -> build_dataset (Prefect + Dask) -> Zarr + STAC.

Good products (a SAFE folder and a zip) sit beside bad ones (a truncated zip, a SAFE
without annotation); the good ones must finish with correct sigma0, the bad ones fail
with their names, and nothing partial is left behind.
"""

import json
import shutil

import numpy as np
import pytest
import xarray as xr

from alignsar_core import stac, store
from alignsar_core.products.discovery import InputError
from alignsar_core.settings import Settings
from alignsar_core.simulate import default_patch_class, simulate_product
from alignsar_core.simulate.stack import upload
from flows.build_dataset import run_build_dataset

from ._shared import needs_shared

pytestmark = [pytest.mark.s3, pytest.mark.slow, needs_shared]

BUCKET = "alignsar-test"
INPUT = f"s3://{BUCKET}/flow/input"
OUTPUT = f"s3://{BUCKET}/flow/output"


def _settings(server, **kw) -> Settings:
    base = dict(storage_root=OUTPUT, s3_endpoint_url=server.endpoint_url,
                s3_access_key=server.access_key, s3_secret_key=server.secret_key,
                s3_region=server.region, tile_size=(256, 512), dask_workers=2)
    base.update(kw)
    return Settings(**base)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, s3_server):
    tmp = tmp_path_factory.mktemp("flow-products")
    good_safe = simulate_product(tmp / "a", n_bursts=2, n_samples=1024, seed=3)
    good_zip = simulate_product(tmp / "b", n_bursts=2, n_samples=1024, seed=4, date_shift_days=12,
                                as_zip=True)
    truncated = simulate_product(tmp / "c", n_bursts=1, n_samples=512, seed=5, date_shift_days=24,
                                 as_zip=True)
    data = truncated.path.read_bytes()
    truncated.path.write_bytes(data[: len(data) * 2 // 3])
    no_annotation = simulate_product(tmp / "d", n_bursts=1, n_samples=512, seed=6, date_shift_days=36)
    shutil.rmtree(no_annotation.path / "annotation")
    opts = _settings(s3_server).storage_options_for(INPUT)
    urls = {name: upload(p.path, INPUT, opts) for name, p in
            [("safe", good_safe), ("zip", good_zip), ("truncated", truncated), ("noann", no_annotation)]}
    return {"urls": urls, "truth": {"safe": good_safe, "zip": good_zip}}


@pytest.fixture(scope="module")
def opts(s3_server):
    return _settings(s3_server).storage_options_for(OUTPUT)


@pytest.fixture(scope="module")
def first_run(inputs, s3_server):
    summary, ok = run_build_dataset(INPUT, _settings(s3_server))
    return summary, ok


def test_good_products_finish_and_bad_ones_fail_by_name(first_run, inputs, opts):
    summary, ok = first_run
    urls = inputs["urls"]
    assert not ok
    assert set(summary.failures) == {urls["truncated"], urls["noann"]}
    assert "zip" in summary.failures[urls["truncated"]]
    assert "annotation" in summary.failures[urls["noann"]]
    assert len(summary.stores) == 4 and not summary.skipped
    # nothing from the bad products was written
    fs, path = store.fs_and_path(OUTPUT + "/bursts", opts)
    written = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path))
    assert written == sorted(s.rsplit("/", 1)[-1] for s in summary.stores)


def test_sigma0_matches_simulator_truth(first_run, inputs, opts):
    summary, _ = first_run
    checked = 0
    for url in summary.stores:
        ds = xr.open_zarr(url, storage_options=opts, consolidated=False)
        burst = json.loads(ds.attrs["burst"])
        truth = inputs["truth"]["safe" if burst["product_url"].endswith(".SAFE") else "zip"]
        rows = slice(burst["line_offset"], burst["line_offset"] + burst["lines"])
        assert ds.sigma0.attrs["units"] == "m2 m-2" and ds.sigma0_db.attrs["units"] == "dB"
        assert ds.sigma0.encoding["chunks"] == (1, 256, 512)
        for pol in ("VV", "VH"):
            est = ds.sigma0.sel(polarisation=pol).values
            true = truth.sigma0_truth[pol][rows]
            valid = truth.valid_mask[rows] & np.isfinite(est)
            # outside the valid area the store holds NaN, inside it finite values
            assert np.isnan(est[~truth.valid_mask[rows]]).all()
            assert valid.sum() > 0.8 * truth.valid_mask[rows].sum()
            # single-look intensity / true sigma0 is exponential with mean 1 (CV 1):
            ratio = est[valid] / true[valid]
            n = ratio.size
            assert abs(ratio.mean() - 1) < 4 / np.sqrt(n)
            assert abs(ratio.std() - 1) < 0.02
            # and patch by patch the mean follows the known map (not just on average)
            lines = np.arange(rows.start, rows.stop)[:, None] + truth.first_line
            cls = default_patch_class(lines, np.arange(est.shape[1])[None, :])
            assert len(np.unique(cls[valid])) >= 3
            for c in np.unique(cls[valid]):
                sel = valid & (cls == c)
                if sel.sum() > 2000:
                    assert abs(est[sel].sum() / true[sel].sum() - 1) < 5 / np.sqrt(sel.sum())
            pos = valid & (est > 0)  # a DN of 0+0j (int16 rounding of weak pixels) has no dB value
            np.testing.assert_allclose(ds.sigma0_db.sel(polarisation=pol).values[pos],
                                       10 * np.log10(est[pos]), atol=1e-4)
            checked += 1
    assert checked == 8


def test_stac_items_validate_offline_and_point_at_the_stores(first_run, opts):
    summary, _ = first_run
    results = stac.validate_catalog(summary.stac_collection, opts)
    assert len(results) == 1 + len(summary.stores)
    col = stac.read_collection(summary.stac_collection, opts)
    hrefs = {}
    for item in col.get_items():
        assert "sar:polarizations" in item.properties
        hrefs[item.id] = item.assets["calibrated"].href
    assert sorted(hrefs.values()) == sorted(summary.stores)
    for item_id, href in hrefs.items():
        assert href.endswith(f"/bursts/{item_id}.zarr")


def test_rerun_skips_finished_bursts_and_resumes_interrupted_ones(first_run, s3_server, opts):
    summary1, _ = first_run
    fs, stac_path = store.fs_and_path(summary1.stac_collection, opts)
    stac_before = fs.cat_file(stac_path)
    victim = sorted(summary1.stores)[0]
    before = xr.open_zarr(victim, storage_options=opts, consolidated=False).sigma0.values
    # simulate an interrupted write of one store: its completion flag is missing
    group = store.open_group(victim, opts)
    del group.attrs[store.COMPLETE_ATTR]
    summary2, ok = run_build_dataset(INPUT, _settings(s3_server))
    assert not ok  # the bad products still fail
    assert sorted(summary2.stores) == sorted(summary1.stores)
    assert sorted(summary2.skipped) == sorted(set(summary1.stores) - {victim})
    after = xr.open_zarr(victim, storage_options=opts, consolidated=False).sigma0.values
    np.testing.assert_array_equal(before, after)
    fs.invalidate_cache()
    assert fs.cat_file(stac_path) == stac_before


def test_missing_product_url_fails_clearly(s3_server):
    url = f"s3://{BUCKET}/flow/input/S1A_IW_SLC__1SDV_20200101T000000_20200101T000027_030000_037000_AAAA.SAFE"
    summary, ok = run_build_dataset(url, _settings(s3_server, storage_root=f"s3://{BUCKET}/flow/missing"))
    assert not ok and list(summary.failures) == [url]
    assert "does not exist" in summary.failures[url]
    assert summary.stores == [] and summary.stac_collection is None


def test_wrong_credentials_are_refused_with_a_clear_error(s3_server, inputs):
    with pytest.raises(InputError, match="access denied"):
        run_build_dataset(INPUT, _settings(s3_server, s3_secret_key="not-the-secret"))
