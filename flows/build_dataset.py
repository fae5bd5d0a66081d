"""The ``build_dataset`` flow: SLC products in object storage -> Zarr stores -> STAC.

Fan-out: one ``scan-product`` task per product, then one ``calibrate-burst`` task
per burst (all polarisations of the burst in one task), executed on Dask (a local
cluster by default, any scheduler via ``ALIGNSAR_DASK_ADDRESS``). With a DEM
(``ALIGNSAR_DEM_URL``, or ``scene/dem.tif`` beside simulated inputs) the bursts are
also coregistered into stacks: ``prepare-stack`` per burst footprint, ``esd-date``
per secondary product, ``coregister-burst`` per burst and date, ``finish-stack``;
then the SAR signatures of every stack are computed tile by tile
(``prepare-signatures``, ``signature-tile`` per tile, ``finish-signatures``).
A bad product or burst fails on its own: the others finish, their outputs are
published, and the flow ends Failed with a message that names every failure.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from prefect import flow, get_run_logger, unmapped
from prefect.states import Completed, Failed

from alignsar_core.settings import Settings, get_settings
from tasks.burst_tasks import calibrate_burst, error_text, list_products, publish_stac, scan_product
from tasks.signature_tasks import run_signature_stage
from tasks.stack_tasks import coregister_burst_date, esd_date, find_dem, finish_stack, plan_stacks, prepare_stack

DEFAULT_COLLECTION = "alignsar-s1-bursts"


@dataclasses.dataclass
class BuildSummary:
    """What a run produced and what failed; also the flow's return value."""

    input_url: str
    storage_root: str
    stores: list[str]
    skipped: list[str]
    stac_collection: str | None
    failures: dict[str, str]  # product URL or burst acquisition id -> error
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # store -> task work
    stacks: list[str] = dataclasses.field(default_factory=list)  # coregistered stack stores
    signatures: list[str] = dataclasses.field(default_factory=list)  # signature stores, one per stack
    notes: list[str] = dataclasses.field(default_factory=list)  # what was skipped and why

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@flow(name="build-dataset", log_prints=True)
def build_dataset(
    input_url: str,
    storage_root: str | None = None,
    collection_id: str = DEFAULT_COLLECTION,
    settings: Settings | None = None,
):
    """Build the dataset for every Sentinel-1 product under ``input_url``.

    Returns a Completed state holding a BuildSummary, or a Failed state holding
    the same summary when any product or burst failed.
    """
    settings = settings or get_settings()
    if storage_root:
        settings = settings.model_copy(update={"storage_root": storage_root})
    logger = get_run_logger()
    logger.info("input %s -> output %s", input_url, settings.storage_root)

    product_urls = list_products(input_url, settings)
    scans = scan_product.map(product_urls, settings=unmapped(settings))

    failures: dict[str, str] = {}
    bursts = []
    for url, fut in zip(product_urls, scans):
        fut.wait()
        if fut.state.is_completed():
            bursts.extend(fut.result())
        else:
            failures[url] = error_text(fut)
            logger.error("product failed: %s", failures[url])

    calibrations = calibrate_burst.map(bursts, settings=unmapped(settings)) if bursts else []
    results = []
    for burst, fut in zip(bursts, calibrations):
        fut.wait()
        if fut.state.is_completed():
            results.append(fut.result())
        else:
            failures[burst.acquisition_id] = error_text(fut)
            logger.error("burst failed: %s: %s", burst.acquisition_id, failures[burst.acquisition_id])

    stacks, notes = _coregister(input_url, bursts, failures, settings, logger)
    signatures, sig_failures = run_signature_stage(stacks, settings, logger)
    failures.update({f"signatures {k}": v for k, v in sig_failures.items()})
    stac_url = publish_stac(results, settings, collection_id) if results else None
    summary = BuildSummary(
        input_url=input_url,
        storage_root=settings.storage_root,
        stores=[r.store_url for r in results],
        skipped=[r.store_url for r in results if r.skipped],
        stac_collection=stac_url,
        failures=failures,
        seconds={r.store_url: round(r.seconds, 3) for r in results},
        stacks=stacks,
        signatures=signatures,
        notes=notes,
    )
    logger.info("%d burst store(s) ready (%d kept from earlier runs), %d failure(s)",
                len(results), len(summary.skipped), len(failures))
    if failures:
        return Failed(message=f"{len(failures)} failure(s): " + "; ".join(
            f"{k}: {v}" for k, v in failures.items()), data=summary)
    return Completed(message=f"{len(results)} burst store(s)", data=summary)


def _coregister(input_url: str, bursts: list, failures: dict[str, str], settings: Settings,
                logger) -> tuple[list[str], list[str]]:
    """The coregistration stage (module docstring); returns (stack stores, notes)."""
    if not bursts:
        return [], []
    dem_url = find_dem(input_url, settings)
    if dem_url is None:
        note = ("coregistration skipped: no DEM (set ALIGNSAR_DEM_URL; simulated inputs carry "
                "scene/dem.tif)")
        logger.warning(note)
        return [], [note]
    plans = plan_stacks(bursts)
    preps = prepare_stack.map(plans, dem_url=unmapped(dem_url), settings=unmapped(settings))
    ready, kept = [], []
    for plan, fut in zip(plans, preps):
        fut.wait()
        if fut.state.is_completed():
            (kept if fut.result()["skipped"] else ready).append(plan)
        else:
            failures[plan.stack_id] = error_text(fut)
            logger.error("stack failed: %s: %s", plan.stack_id, failures[plan.stack_id])
    # one ESD per secondary product and swath, over its consecutive bursts
    groups: dict[tuple[str, str], list] = {}
    for plan in ready:
        for b in plan.bursts[1:]:
            groups.setdefault((b.product_url, b.swath), []).append((plan.reference, b))
    esd = {}
    for key, pairs in groups.items():
        pairs.sort(key=lambda rs: rs[1].burst_index)
        esd[key] = esd_date.submit(key[0], pairs, dem_url, settings)
    writes: dict[str, list] = {p.stack_id: [] for p in ready}
    for plan in ready:
        for b in plan.bursts[1:]:
            writes[plan.stack_id].append(
                (b, coregister_burst_date.submit(plan, b, esd[(b.product_url, b.swath)], dem_url, settings)))
    stacks = [f"{settings.storage_root.rstrip('/')}/stacks/{p.stack_id}.zarr" for p in kept]
    for plan in ready:
        ok = True
        for b, fut in writes[plan.stack_id]:
            fut.wait()
            if not fut.state.is_completed():
                ok = False
                failures[f"{plan.stack_id} {b.acquisition_id}"] = error_text(fut)
                logger.error("coregistration failed: %s: %s", b.acquisition_id, error_text(fut))
        if ok:
            stacks.append(finish_stack(plan, settings))
    return stacks, []


def make_task_runner(settings: Settings):
    """Dask task runner: the configured scheduler, or a local cluster."""
    from prefect_dask import DaskTaskRunner

    # the cluster's own start/stop chatter is not news for a pipeline user
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    # Dask gives each local worker its share of the cores and runs one task per worker
    # thread; the tasks' numba kernels then run on one thread each, not spread over the
    # cores again (threads x threads). Tasks side by side on one numba thread each are
    # also faster than one task's kernels split over the cores: all signatures of a
    # burst-date 1.6-1.8 s against 2.0-2.3 s on 2 cores (benchmarks/bench_signatures.py).
    # The variable goes to the worker processes only (Nanny env), not to this process.
    return DaskTaskRunner(cluster_kwargs={
        "env": {"NUMBA_NUM_THREADS": "1"},
        "n_workers": settings.dask_workers,
        "threads_per_worker": settings.dask_threads_per_worker,
        "processes": True,
        "dashboard_address": None,
        "host": "127.0.0.1",
    })


def share_prefect_api() -> None:
    """Give Dask worker processes the flow's Prefect API.

    With no server configured, Prefect starts a temporary local API server per
    process; every worker process of a local cluster would start its own (about 3 s
    each, and their task runs would not be seen by the flow's API). Starting it here
    and exporting ``PREFECT_API_URL`` before the cluster spawns its workers makes all
    of them report to one API. With a configured server (deployments) nothing changes.
    """
    from prefect.settings import PREFECT_API_URL

    if os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value():
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url


def run_build_dataset(input_url: str, settings: Settings | None = None,
                      collection_id: str = DEFAULT_COLLECTION) -> tuple[BuildSummary, bool]:
    """Run the flow on the configured Dask runner; returns (summary, success).

    Scripts that call this must do so under ``if __name__ == "__main__":`` because the
    local Dask cluster starts worker processes.
    """
    settings = settings or get_settings()
    share_prefect_api()
    f = build_dataset.with_options(task_runner=make_task_runner(settings))
    state = f(input_url, settings=settings, collection_id=collection_id, return_state=True)
    summary = state.result(raise_on_failure=False)
    if isinstance(summary, BaseException):
        raise summary
    return summary, state.is_completed()
