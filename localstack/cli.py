"""Command line of the local object store: ``python -m alignsar_localstack COMMAND``.

Commands (all take ``--state DIR``, default ``$ALIGNSAR_LOCALSTACK_STATE`` or
``<tmp>/alignsar-localstack-<uid>``):

``start [--dir D] [--bucket B ...] [--timeout T]``
    Start ``weed mini`` detached (it outlives this command), wait until S3 answers,
    create the buckets and print ``export`` lines (``eval "$(... start)"``). When a
    healthy store already runs for this state dir it is reused.
``wait [--timeout T]``   block until the store answers (exit 1 on timeout).
``status``               print the state; exit 0 when healthy, 3 when not running.
``env``                  print the ``export`` lines again.
``mkbucket NAME ...``    create buckets (idempotent).
``stop [--timeout T]``   SIGTERM then SIGKILL the process group; data is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .server import LocalObjectStore, ObjectStoreError, format_exports


def default_state_dir() -> Path:
    env = os.environ.get("ALIGNSAR_LOCALSTACK_STATE")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"alignsar-localstack-{os.getuid()}"


def _buckets(values: list[str] | None) -> list[str]:
    return [b for v in values or [] for b in v.split(",") if b]


def _attach(state: Path) -> LocalObjectStore:
    return LocalObjectStore.attach(state)


def cmd_start(a: argparse.Namespace) -> int:
    state = Path(a.state)
    buckets = _buckets(a.bucket)
    if (state / "state.json").exists():
        old = _attach(state)
        if old.is_running():
            old.wait_healthy(a.timeout)
            for b in buckets:
                old.create_bucket(b)
            old._write_state()
            print(f"# already running: pid {old.pid}, {old.endpoint_url}", file=sys.stderr)
            sys.stdout.write(format_exports(old.env(a.storage_root)))
            return 0
    data = Path(a.dir) if a.dir else state / "data"
    store = LocalObjectStore(data, state_dir=state, buckets=buckets)
    try:
        store.start(timeout=a.timeout)
    except ObjectStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"# weed mini pid {store.pid} healthy in {store.startup_seconds:.1f} s at "
          f"{store.endpoint_url}; log {store.log_file}; stop: python -m alignsar_localstack "
          f"stop --state {state}", file=sys.stderr)
    sys.stdout.write(format_exports(store.env(a.storage_root)))
    store.detach()  # keeps running in its own session after this command exits
    return 0


def cmd_wait(a: argparse.Namespace) -> int:
    try:
        secs = _attach(Path(a.state)).wait_healthy(a.timeout)
    except ObjectStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"healthy after {secs:.1f} s", file=sys.stderr)
    return 0


def cmd_status(a: argparse.Namespace) -> int:
    try:
        s = _attach(Path(a.state))
    except ObjectStoreError as exc:
        print(f"not running: {exc}")
        return 3
    if not s.is_running():
        print(f"not running (state {a.state})")
        return 3
    healthy = s.is_healthy()
    print(f"{'healthy' if healthy else 'running, S3 not answering'}: pid {s.pid} "
          f"endpoint {s.endpoint_url} data {s.data_dir} log {s.log_file}")
    return 0 if healthy else 1


def cmd_env(a: argparse.Namespace) -> int:
    s = _attach(Path(a.state))
    sys.stdout.write(format_exports(s.env(a.storage_root)))
    return 0


def cmd_mkbucket(a: argparse.Namespace) -> int:
    s = _attach(Path(a.state))
    for b in _buckets(a.names):
        s.create_bucket(b)
        print(f"bucket {b} ready", file=sys.stderr)
    s._write_state()
    return 0


def cmd_stop(a: argparse.Namespace) -> int:
    state = Path(a.state)
    if not (state / "state.json").exists():
        print(f"nothing to stop in {state}", file=sys.stderr)
        return 0
    s = _attach(state)
    was = s.pid if s.is_running() else None
    s.stop(a.timeout)
    print(f"stopped pid {was}" if was else "was not running", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m alignsar_localstack",
                                description="Local S3-compatible object store (SeaweedFS weed mini).")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, func, help: str) -> argparse.ArgumentParser:  # noqa: A002
        sp = sub.add_parser(name, help=help)
        sp.add_argument("--state", default=str(default_state_dir()),
                        help="state dir (pid, endpoint, log, credentials)")
        sp.set_defaults(func=func)
        return sp

    sp = add("start", cmd_start, "start detached, wait healthy, print export lines")
    sp.add_argument("--dir", help="data dir (default STATE/data; kept on stop)")
    sp.add_argument("--bucket", action="append", help="bucket(s) to create (repeat or comma-separate)")
    sp.add_argument("--storage-root", help="ALIGNSAR_STORAGE_ROOT to print (default s3://FIRST_BUCKET)")
    sp.add_argument("--timeout", type=float, default=60.0)
    sp = add("wait", cmd_wait, "wait until healthy")
    sp.add_argument("--timeout", type=float, default=60.0)
    add("status", cmd_status, "print status (exit 0 healthy, 3 not running)")
    sp = add("env", cmd_env, "print export lines")
    sp.add_argument("--storage-root")
    sp = add("mkbucket", cmd_mkbucket, "create bucket(s)")
    sp.add_argument("names", nargs="+")
    sp = add("stop", cmd_stop, "stop the store (data kept)")
    sp.add_argument("--timeout", type=float, default=15.0)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if not hasattr(a, "storage_root"):
        a.storage_root = None
    try:
        return int(a.func(a))
    except ObjectStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
