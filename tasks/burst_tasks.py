"""Prefect tasks of the burst stage: thin wrappers over alignsar_core.

They add retries for transient object-store errors (never for bad input), logging
with progress, and object-store paths from the settings. No science here.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task

from alignsar_core import stac, store
from alignsar_core.ingest import BurstResult, calibrate_burst_to_zarr
from alignsar_core.products.model import BurstInfo
from alignsar_core.products.sentinel1 import ProductError, list_bursts, open_product
from alignsar_core.settings import Settings
from alignsar_core.products.discovery import InputError, list_product_urls


def _transient_only(task, task_run, state) -> bool:
    """Retry only errors that can go away: not bad input, not programming errors."""
    try:
        state.result()
    except (ProductError, InputError, ValueError, TypeError, KeyError, PermissionError,
            FileNotFoundError):
        return False
    except Exception:
        return True
    return False


@task(name="list-products", retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only)
def list_products(input_url: str, settings: Settings) -> list[str]:
    urls = list_product_urls(input_url, settings.storage_options_for(input_url))
    get_run_logger().info("found %d product(s) under %s", len(urls), input_url)
    return urls


@task(name="scan-product", task_run_name="scan {product_url}", retries=2, retry_delay_seconds=2,
      retry_condition_fn=_transient_only)
def scan_product(product_url: str, settings: Settings) -> list[BurstInfo]:
    """Open the product, check it is complete, and list its bursts."""
    product = open_product(product_url, settings.storage_options_for(product_url))
    bursts = list_bursts(product)
    swaths = sorted({b.swath for b in bursts})
    get_run_logger().info("%s: %d burst(s) in %s, polarisations %s", product.name, len(bursts),
                          ",".join(swaths), "+".join(bursts[0].polarisations))
    return bursts


@task(name="calibrate-burst", task_run_name="calibrate {burst.acquisition_id}", retries=2,
      retry_delay_seconds=2, retry_condition_fn=_transient_only)
def calibrate_burst(burst: BurstInfo, settings: Settings) -> BurstResult:
    """Read, calibrate (sigma0 linear and dB) and write one burst to its Zarr store."""
    logger = get_run_logger()
    out_url = store.burst_store_url(settings.storage_root, burst.acquisition_id)
    last = [0]

    def progress(done: int, total: int) -> None:
        pct = 100 * done // total
        if pct >= last[0] + 25 or done == total:
            last[0] = pct
            logger.info("%s: %d%% (%d/%d tile rows x pols)", burst.acquisition_id, pct, done, total)

    result = calibrate_burst_to_zarr(
        burst, out_url, tile_size=settings.tile_size,
        storage_options_in=settings.storage_options_for(burst.product_url),
        storage_options_out=settings.storage_options_for(out_url),
        progress=progress,
    )
    if result.skipped:
        logger.info("%s: complete store already at %s, kept", burst.acquisition_id, out_url)
    else:
        mbps = result.bytes_read / 1e6 / max(result.seconds, 1e-9)
        logger.info("%s: wrote %s in %.2f s (%.0f MB/s of SLC)", burst.acquisition_id, out_url,
                    result.seconds, mbps)
    return result


@task(name="publish-stac")
def publish_stac(results: list[BurstResult], settings: Settings, collection_id: str) -> str:
    """Write (or update) the STAC collection with one item per calibrated burst."""
    root = store.stac_root_url(settings.storage_root)
    url = stac.publish_bursts(results, root, collection_id=collection_id,
                              storage_options=settings.storage_options_for(root))
    get_run_logger().info("STAC collection: %s (%d item(s) from this run)", url, len(results))
    return url


def error_text(fut) -> str:
    """The error of a finished, failed Prefect future, as one line for summaries."""
    try:
        fut.result()
    except Exception as exc:  # the task's own exception, re-raised by Prefect
        return f"{type(exc).__name__}: {exc}"
    return fut.state.message or "failed"


def result_summary(results: list[BurstResult]) -> list[dict[str, Any]]:
    return [{"acquisition_id": r.burst.acquisition_id, "store": r.store_url, "skipped": r.skipped,
             "seconds": round(r.seconds, 3)} for r in results]
