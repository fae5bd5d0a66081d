#!/usr/bin/env bash
# Stop the local S3 store (SIGTERM, then SIGKILL); its data dir is kept.
# Options: see `python -m alignsar_localstack stop -h` (--state DIR, ...).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$here/../.venv/bin/python" ]; then PYTHON="$here/../.venv/bin/python"; else PYTHON=python3; fi
fi
exec "$PYTHON" "$here/__main__.py" stop "$@"
