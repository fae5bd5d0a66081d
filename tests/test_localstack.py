"""The local S3 object store (SeaweedFS ``weed mini``): real server, real s3fs clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import s3fs
import zarr

from alignsar_localstack import LocalObjectStore

pytestmark = pytest.mark.s3

BUCKET = "alignsar-test"


@pytest.fixture(scope="module")
def store():
    with LocalObjectStore(buckets=[BUCKET]) as s:
        yield s


def _refused(port: int) -> bool:
    with socket.socket() as c:
        c.settimeout(1)
        return c.connect_ex(("127.0.0.1", port)) != 0


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_started_on_loopback_with_state(store):
    assert store.endpoint_url == f"http://127.0.0.1:{store.port}"
    assert store.region == "us-east-1"
    assert store.is_running() and store.is_healthy()
    assert store.startup_seconds is not None and store.startup_seconds < 30
    assert (store.state_dir / "weed.pid").read_text().strip() == str(store.pid)
    assert (store.state_dir / "endpoint").read_text().strip() == store.endpoint_url
    assert "Starting SeaweedFS Mini" in store.log_file.read_text()
    so = store.storage_options()
    assert so["key"] == store.access_key and so["secret"] == store.secret_key
    assert so["client_kwargs"] == {"endpoint_url": store.endpoint_url, "region_name": "us-east-1"}


def test_zarr_v3_complex64_roundtrip(store):
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((96, 80)) + 1j * rng.standard_normal((96, 80))).astype("complex64")
    fs = s3fs.S3FileSystem(asynchronous=True, **store.storage_options())
    arr = zarr.create_array(store=zarr.storage.FsspecStore(fs, path=f"{BUCKET}/slc.zarr"),
                            shape=data.shape, chunks=(32, 40), dtype=data.dtype)
    arr[:] = data
    back = zarr.open_array(store=zarr.storage.FsspecStore.from_url(
        f"s3://{BUCKET}/slc.zarr", storage_options=store.storage_options(), read_only=True))
    assert back.metadata.zarr_format == 3 and back.dtype == np.complex64
    np.testing.assert_array_equal(back[:], data)
    keys = store.filesystem().find(f"{BUCKET}/slc.zarr")
    assert f"{BUCKET}/slc.zarr/zarr.json" in keys and len(keys) == 1 + 3 * 2


def test_right_credentials(store):
    fs = store.filesystem()
    fs.pipe(f"{BUCKET}/creds/ok.txt", b"hello")
    assert fs.cat(f"{BUCKET}/creds/ok.txt") == b"hello"
    assert BUCKET in fs.ls("")


def test_wrong_secret_refused(store):
    so = store.storage_options()
    fs = s3fs.S3FileSystem(**{**so, "secret": so["secret"] + "x"})
    with pytest.raises(PermissionError):
        fs.ls(BUCKET)
    with pytest.raises(PermissionError):
        fs.pipe(f"{BUCKET}/creds/bad.txt", b"nope")


def test_anonymous_refused(store):
    store.filesystem().pipe(f"{BUCKET}/creds/secret.txt", b"private")
    fs = s3fs.S3FileSystem(anon=True, client_kwargs=store.storage_options()["client_kwargs"])
    with pytest.raises(PermissionError):
        fs.ls(BUCKET)
    with pytest.raises(PermissionError):
        fs.cat(f"{BUCKET}/creds/secret.txt")
    with pytest.raises(PermissionError):
        fs.pipe(f"{BUCKET}/creds/anon.txt", b"nope")


def test_two_servers_side_by_side_then_stop(store, tmp_path):
    other = LocalObjectStore(tmp_path / "data", state_dir=tmp_path / "state", buckets=["second"])
    other.start()
    try:
        assert other.port != store.port
        assert not set(other.ports.values()) & set(store.ports.values())
        assert other.access_key != store.access_key or "ALIGNSAR_S3_ACCESS_KEY" in os.environ
        fa, fb = store.filesystem(), other.filesystem()
        fa.pipe(f"{BUCKET}/which.txt", b"first")
        fb.pipe("second/which.txt", b"second")
        assert fa.cat(f"{BUCKET}/which.txt") == b"first"
        assert fb.cat("second/which.txt") == b"second"
        assert "second" not in fa.ls("", refresh=True) and BUCKET not in fb.ls("", refresh=True)
    finally:
        pid, port = other.pid, other.port
        other.stop()
    assert not other.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _refused(port) and _bindable(port)
    assert not (tmp_path / "state" / "weed.pid").exists()
    assert (tmp_path / "data").is_dir()  # a given data dir is kept
    assert store.is_healthy()  # the first one is untouched


def test_cli_start_status_stop(tmp_path):
    state = tmp_path / "st"
    cmd = [sys.executable, "-m", "alignsar_localstack"]
    run = lambda *a: subprocess.run([*cmd, *a, "--state", str(state)],  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    r = run("start", "--bucket", "clibucket")
    assert r.returncode == 0, r.stderr
    env = dict(line.removeprefix("export ").split("=", 1) for line in r.stdout.splitlines())
    env = {k: v.strip("'") for k, v in env.items()}
    assert env["ALIGNSAR_STORAGE_ROOT"] == "s3://clibucket"
    attached = LocalObjectStore.attach(state)
    try:
        assert env["ALIGNSAR_S3_ENDPOINT_URL"] == attached.endpoint_url
        fs = s3fs.S3FileSystem(key=env["ALIGNSAR_S3_ACCESS_KEY"], secret=env["ALIGNSAR_S3_SECRET_KEY"],
                               client_kwargs={"endpoint_url": env["ALIGNSAR_S3_ENDPOINT_URL"]})
        assert "clibucket" in fs.ls("")  # the server outlived the `start` command
        assert run("status").returncode == 0
        assert run("mkbucket", "more-data").returncode == 0
        assert "more-data" in fs.ls("", refresh=True)
    finally:
        r = run("stop")
    assert r.returncode == 0, r.stderr
    assert not attached.is_running()
    assert run("status").returncode == 3
    assert _refused(attached.port)
