"""Test session set-up: an isolated Prefect home, no telemetry, one local S3 server.

Prefect reads its settings at import, so the environment is set before any test
module imports it.
"""

import atexit
import os
import shutil
import tempfile

_PREFECT_HOME = tempfile.mkdtemp(prefix="alignsar-test-prefect-")
# removed at interpreter exit (after Prefect's ephemeral server and its database are gone)
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# settings of the developer's shell must not leak into tests
for _k in [k for k in os.environ if k.startswith("ALIGNSAR_") and k != "ALIGNSAR_SHARED_DATA"]:
    del os.environ[_k]

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def s3_server():
    """One real S3 server (SeaweedFS on 127.0.0.1) for the whole session."""
    from alignsar_localstack.server import LocalObjectStore

    store = LocalObjectStore(buckets=["alignsar-test"])
    store.start()
    yield store
    store.stop()


@pytest.fixture(scope="session")
def sim_stack(tmp_path_factory):
    """A small simulated stack (3 dates, 2 bursts, 1024 samples of IW1, VV+VH) over a
    known scene, with its truth: shared by the simulator and coregistration tests."""
    from alignsar_core.simulate.radar import simulate_stack

    from ._shared import S1_PRODUCT

    if not S1_PRODUCT.exists():
        pytest.skip("needs ../shared/data/sentinel1")
    return simulate_stack(tmp_path_factory.mktemp("sim-stack"), n_dates=3, n_bursts=2, n_samples=1024, seed=7)
