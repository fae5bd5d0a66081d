"""Entry point for Prefect deployments (infra/prefect.yaml).

A deployed run builds its task runner from the settings of the worker's environment
(ALIGNSAR_DASK_ADDRESS or a local cluster), like the command line does.
"""

from __future__ import annotations

from prefect import flow

from alignsar_core.settings import get_settings
from flows.build_dataset import DEFAULT_COLLECTION, run_build_dataset


@flow(name="build-dataset-deployed")
def build_dataset_deployed(input_url: str, collection_id: str = DEFAULT_COLLECTION) -> dict:
    summary, ok = run_build_dataset(input_url, get_settings(), collection_id)
    if not ok:
        raise RuntimeError(f"build-dataset failed: {summary.failures}")
    return summary.to_dict()
