"""Prefect tasks of the signature stage: thin wrappers over alignsar_core.signatures.tiles.

Per burst stack: ``prepare-signatures`` creates ``signatures/{stack_id}.zarr`` (template
on the tile grid) and reads the reference product's calibration once; a complete store
made from the same stack acquisitions with the same estimator settings is kept. An
incomplete store of the same inputs is resumed: only the tiles not flagged in its
``tile_complete`` are computed. Per tile: ``signature-tile`` reads the tile + halo of every date, computes and writes the
tile's own chunks. ``finish-signatures`` marks the store complete once every tile is
written. ``run_signature_stage`` submits all of it on the flow's task runner. No science
here.
"""

from __future__ import annotations

import json
from typing import Any

from prefect import get_run_logger, task, unmapped

from alignsar_core import store
from alignsar_core.settings import Settings
from alignsar_core.signatures.tiles import (CalibrationInputs, SignatureConfig, compute_tile,
                                            create_signature_store, load_calibration, pending_tiles,
                                            signatures_url, tile_grid)
from tasks.burst_tasks import _transient_only, error_text


def _stack_attrs(stack_url: str, settings: Settings) -> dict[str, Any]:
    return dict(store.open_group(stack_url, settings.storage_options_for(stack_url), mode="r").attrs)


def _same_inputs(sig_url: str, stack_attrs: dict[str, Any], config: SignatureConfig, settings: Settings) -> bool:
    """A signature store (complete or not) of the same stack dates, the same estimator
    settings and the same tile grid."""
    opts = settings.storage_options_for(sig_url)
    fs, path = store.fs_and_path(sig_url, opts)
    if not fs.exists(f"{path}/zarr.json"):
        return False
    try:
        g = store.open_group(sig_url, opts, mode="r")
        attrs = dict(g.attrs)
        n, m = g["latitude"].shape
        grid = tuple(g["latitude"].chunks) == (min(settings.tile_size[0], n), min(settings.tile_size[1], m))
        return (grid and "tile_complete" in g
                and json.loads(attrs.get("source_acquisitions", "[]")) == list(stack_attrs.get("acquisitions", []))
                and attrs.get("burst") == stack_attrs.get("burst")
                # the stored settings exactly, every key: a store of an older version lacks
                # the newer settings (and their variables), so it is rebuilt
                and json.loads(attrs["signature_config"]) == json.loads(json.dumps(config.to_dict())))
    except (KeyError, ValueError, FileNotFoundError):  # an unreadable or older store: rebuild it
        return False


def signature_config(settings: Settings) -> SignatureConfig:
    """The estimator settings of the stage from ``Settings`` (ALIGNSAR_COHERENCE_WINDOW...)."""
    return SignatureConfig(coherence_window=settings.coherence_window,
                           polarimetric_window=settings.polarimetric_window,
                           speckle_window=settings.speckle_window, noise_removal=settings.noise_removal,
                           beta_gamma=settings.beta_gamma, slc_signatures=settings.slc_signatures,
                           adaptive_window=settings.adaptive_coherence_window,
                           shp_alpha=settings.shp_alpha)


@task(name="prepare-signatures", task_run_name="prepare signatures {stack_url}", retries=2,
      retry_delay_seconds=2, retry_condition_fn=_transient_only)
def prepare_signatures(stack_url: str, settings: Settings, config: SignatureConfig | None = None) -> dict[str, Any]:
    """Create the signature store of one complete stack (or keep an up-to-date one:
    ``skipped``); returns its url, the tiles to compute and the calibration."""
    logger = get_run_logger()
    config = config or signature_config(settings)
    opts = settings.storage_options_for(stack_url)
    if not store.is_complete(stack_url, opts):
        raise ValueError(f"{stack_url}: the stack store is not complete; signatures need a finished stack")
    attrs = _stack_attrs(stack_url, settings)
    url = signatures_url(settings.storage_root, attrs["stack_id"])
    sig_opts = settings.storage_options_for(url)
    same = _same_inputs(url, attrs, config, settings)
    if same and store.is_complete(url, sig_opts):
        logger.info("%s: complete signatures already at %s, kept", attrs["stack_id"], url)
        return {"url": url, "skipped": True, "tiles": [], "calibration": None}
    pols = sorted(k[4:].upper() for k in store.open_group(stack_url, opts, mode="r").array_keys() if k.startswith("slc_"))
    product_url = json.loads(attrs["burst"])["product_url"]
    calibration = load_calibration(attrs, pols, settings.storage_options_for(product_url), beta_gamma=config.beta_gamma)
    if same:  # an interrupted run of the same inputs: compute only the tiles not written yet
        tiles = [(r.start, r.stop, c.start, c.stop) for r, c in pending_tiles(url, sig_opts)]
        logger.info("%s: resuming %s, %d of %d tile(s) left", attrs["stack_id"], url, len(tiles),
                    len(tile_grid(url, sig_opts)))
    else:
        create_signature_store(url, stack_url, settings.tile_size, config, calibration, storage_options=sig_opts,
                               stack_storage_options=opts)
        tiles = [(r.start, r.stop, c.start, c.stop) for r, c in tile_grid(url, sig_opts)]
        logger.info("%s: signature store %s created, %d tile(s)", attrs["stack_id"], url, len(tiles))
    return {"url": url, "skipped": False, "tiles": tiles, "calibration": calibration}


@task(name="signature-tile", task_run_name="signatures {sig_url} rows {tile[0]}-{tile[1]} cols {tile[2]}-{tile[3]}",
      retries=2, retry_delay_seconds=2, retry_condition_fn=_transient_only)
def signature_tile(stack_url: str, sig_url: str, tile: tuple[int, int, int, int],
                   calibration: CalibrationInputs | None, settings: Settings) -> dict[str, float]:
    """Every signature of one tile (rows tile[0]:tile[1], columns tile[2]:tile[3])."""
    return compute_tile(stack_url, sig_url, (slice(tile[0], tile[1]), slice(tile[2], tile[3])),
                        calibration=calibration, storage_options=settings.storage_options_for(sig_url),
                        stack_storage_options=settings.storage_options_for(stack_url))


@task(name="finish-signatures", task_run_name="finish signatures {sig_url}")
def finish_signatures(sig_url: str, settings: Settings, seconds: dict[str, float] | None = None) -> str:
    """Mark the signature store complete (every tile written)."""
    extra = {"tile_seconds": {k: round(v, 3) for k, v in (seconds or {}).items()}}
    store.mark_complete(store.open_group(sig_url, settings.storage_options_for(sig_url)), extra)
    return sig_url


def run_signature_stage(stack_urls: list[str], settings: Settings, logger,
                        config: SignatureConfig | None = None) -> tuple[list[str], dict[str, str]]:
    """The signature stage inside a flow: one ``prepare-signatures`` per (complete)
    stack store, one ``signature-tile`` per tile on the flow's task runner, then
    ``finish-signatures`` for every stack whose tiles all succeeded.

    Returns (signature store URLs, kept or finished; failures {stack url: error}). A
    failed stack leaves its store incomplete (the next run rebuilds it) and does not
    stop the others.
    """
    if not stack_urls:
        return [], {}
    preps = prepare_signatures.map(stack_urls, settings=unmapped(settings), config=unmapped(config))
    failures: dict[str, str] = {}
    done: list[str] = []
    running = []
    for stack_url, fut in zip(stack_urls, preps):
        fut.wait()
        if not fut.state.is_completed():
            failures[stack_url] = error_text(fut)
            logger.error("signatures failed: %s: %s", stack_url, failures[stack_url])
            continue
        prep = fut.result()
        if prep["skipped"]:
            done.append(prep["url"])
            continue
        futs = signature_tile.map(unmapped(stack_url), unmapped(prep["url"]), prep["tiles"],
                                  calibration=unmapped(prep["calibration"]), settings=unmapped(settings))
        running.append((stack_url, prep, futs))
    for stack_url, prep, futs in running:
        errors, seconds = [], {}
        for tile, f in zip(prep["tiles"], futs):
            f.wait()
            if f.state.is_completed():
                for k, v in f.result().items():
                    seconds[k] = seconds.get(k, 0.0) + v
            else:
                errors.append(f"tile {tile}: {error_text(f)}")
        if errors:
            failures[stack_url] = f"{len(errors)} of {len(futs)} signature tile(s) failed; " + "; ".join(errors[:3])
            logger.error("signatures failed: %s: %s", stack_url, failures[stack_url])
            continue
        done.append(finish_signatures(prep["url"], settings, seconds))
        logger.info("signatures of %s: %s (%d tiles, task seconds %s)", stack_url, prep["url"], len(futs),
                    {k: round(v, 1) for k, v in seconds.items()})
    return done, failures
