"""Prefect tasks of the coregistration stage: thin wrappers over alignsar_core.

Per burst stack (one burst footprint over all dates): ``prepare-stack`` creates the store
with the reference date and the local metadata. Per secondary date and swath:
``esd-date`` measures the azimuth correction in the burst overlaps. Per (burst, date):
``coregister-burst`` writes that date's time slice. ``finish-stack`` marks the store
complete. No science here.
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Any

import numpy as np
from prefect import get_run_logger, task

from alignsar_core import store
from alignsar_core.coregistration import ReferenceBurst, esd_correction, esd_for_date
from alignsar_core.products.model import BurstInfo
from alignsar_core.products.sentinel1 import open_product
from alignsar_core.settings import Settings
from alignsar_core.stack import create_stack, write_date
from alignsar_core.stackcheck import check_secondary
from tasks.burst_tasks import _transient_only


@dataclasses.dataclass
class StackPlan:
    """One burst stack: the reference burst and every date's burst, time order."""

    stack_id: str
    reference: BurstInfo
    bursts: list[BurstInfo]  # all dates, reference included

    @property
    def dates(self) -> list[np.datetime64]:
        return [np.datetime64(b.first_line_time, "ns") for b in self.bursts]


def plan_stacks(bursts: list[BurstInfo]) -> list[StackPlan]:
    """Group bursts by footprint (stack id); the earliest date is the reference."""
    groups: dict[str, list[BurstInfo]] = {}
    for b in bursts:
        groups.setdefault(b.stack_id, []).append(b)
    plans = []
    for sid, bs in sorted(groups.items()):
        bs = sorted(bs, key=lambda b: np.datetime64(b.first_line_time, "ns"))
        plans.append(StackPlan(sid, bs[0], bs))
    return plans


def find_dem(input_url: str, settings: Settings) -> str | None:
    """The DEM for coregistration: ALIGNSAR_DEM_URL, else INPUT/scene/dem.tif if present
    (what ``alignsar simulate`` writes beside its products)."""
    if settings.dem_url:
        return settings.dem_url
    if input_url.rstrip("/").endswith((".SAFE", ".zip")):
        input_url = posixpath.dirname(input_url.rstrip("/"))
    candidate = store.join(input_url, "scene", "dem.tif")
    fs, path = store.fs_and_path(candidate, settings.storage_options_for(candidate))
    return candidate if fs.exists(path) else None


#: DEM margin around a burst's valid footprint at h = 0: terrain 1 km high moves its
#: ground point by ~h / tan(incidence) < 2 km towards the radar in IW.
DEM_MARGIN_M = 2000.0


def _dem_height(dem_url: str, burst: BurstInfo, settings: Settings):
    from alignsar_core.coregistration import burst_ground_footprint
    from alignsar_core.dem import read_dem_for_footprint

    product = open_product(burst.product_url, settings.storage_options_for(burst.product_url), metadata_only=True)
    return read_dem_for_footprint(dem_url, burst_ground_footprint(product, burst), margin_m=DEM_MARGIN_M,
                                  storage_options=settings.storage_options_for(dem_url))


def _reference(burst: BurstInfo, dem, settings: Settings) -> ReferenceBurst:
    product = open_product(burst.product_url, settings.storage_options_for(burst.product_url), metadata_only=True)
    return ReferenceBurst.compute(product, burst, dem.interp)


@task(name="prepare-stack", task_run_name="prepare {plan.stack_id}", retries=2, retry_delay_seconds=2,
      retry_condition_fn=_transient_only)
def prepare_stack(plan: StackPlan, dem_url: str, settings: Settings) -> dict[str, Any]:
    """Check the dates belong together, create the store, write the reference date and
    the local metadata. A complete store is kept (``skipped``)."""
    logger = get_run_logger()
    url = store.join(settings.storage_root, "stacks", f"{plan.stack_id}.zarr")
    opts = settings.storage_options_for(url)
    if store.is_complete(url, opts):
        logger.info("%s: complete stack already at %s, kept", plan.stack_id, url)
        return {"url": url, "skipped": True}
    store.remove(url, opts)
    for b in plan.bursts[1:]:
        check_secondary(plan.reference, b)
    dem = _dem_height(dem_url, plan.reference, settings)
    ref = _reference(plan.reference, dem, settings)
    create_stack(url, ref, plan.dates, list(plan.reference.polarisations), settings.tile_size, dem=dem,
                 storage_options=opts)
    logger.info("%s: reference %s and local metadata written to %s", plan.stack_id,
                plan.reference.acquisition_id, url)
    return {"url": url, "skipped": False}


@task(name="esd-date", task_run_name="esd {product_url}", retries=2, retry_delay_seconds=2,
      retry_condition_fn=_transient_only)
def esd_date(product_url: str, pairs: list[tuple[BurstInfo, BurstInfo]], dem_url: str,
             settings: Settings) -> dict[str, Any]:
    """ESD correction of one secondary product's swath from its consecutive bursts
    (``pairs``: (reference burst, this date's burst), time order). With fewer than two
    bursts, or no coherent overlap, the correction is 0 and the reason is returned."""
    from alignsar_core.esd import EsdError

    logger = get_run_logger()
    if len(pairs) < 2:
        return {"correction": 0.0, "std": float("nan"), "coherence": float("nan"), "note": "single burst: no ESD"}
    dem = _dem_height(dem_url, pairs[0][0], settings)
    refs = [_reference(r, dem, settings) for r, _ in pairs]
    product = open_product(product_url, settings.storage_options_for(product_url), metadata_only=True)
    try:
        est = esd_for_date(refs, product, [s for _, s in pairs], pairs[0][0].polarisations[0],
                           taps=settings.interpolation_taps)
    except EsdError as exc:
        logger.warning("%s: ESD not applied: %s", product_url, exc)
        return {"correction": 0.0, "std": float("nan"), "coherence": float("nan"), "note": str(exc)}
    coh = float(np.mean([o.coherence for o in est.overlaps]))
    correction, note = esd_correction(est)
    if note:
        logger.warning("%s: %s", product_url, note)
    else:
        logger.info("%s: ESD correction %+.5f +- %.5f line (%d overlaps)", product_url, correction,
                    est.std_lines, len(est.overlaps))
    return {"correction": correction, "std": est.std_lines, "coherence": coh, "note": note}


@task(name="coregister-burst", task_run_name="coregister {burst.acquisition_id}", retries=2,
      retry_delay_seconds=2, retry_condition_fn=_transient_only)
def coregister_burst_date(plan: StackPlan, burst: BurstInfo, esd: dict[str, Any], dem_url: str,
                          settings: Settings) -> str:
    """Coregister one date of one burst stack into its time slice."""
    url = store.join(settings.storage_root, "stacks", f"{plan.stack_id}.zarr")
    dem = _dem_height(dem_url, plan.reference, settings)
    ref = _reference(plan.reference, dem, settings)
    product = open_product(burst.product_url, settings.storage_options_for(burst.product_url))
    t = plan.dates.index(np.datetime64(burst.first_line_time, "ns"))
    write_date(url, t, ref, product, burst, list(plan.reference.polarisations),
               correction_lines=esd["correction"], esd_std=esd["std"], esd_coherence=esd["coherence"],
               taps=settings.interpolation_taps, storage_options=settings.storage_options_for(url))
    get_run_logger().info("%s: date %d of %s written", burst.acquisition_id, t, plan.stack_id)
    return url


@task(name="finish-stack", task_run_name="finish {plan.stack_id}")
def finish_stack(plan: StackPlan, settings: Settings) -> str:
    url = store.join(settings.storage_root, "stacks", f"{plan.stack_id}.zarr")
    store.mark_complete(store.open_group(url, settings.storage_options_for(url)),
                        {"acquisitions": [b.acquisition_id for b in plan.bursts]})
    return url
