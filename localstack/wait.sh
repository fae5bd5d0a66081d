#!/usr/bin/env bash
# Block until the local S3 store answers (exit 1 on timeout).
# Options: see `python -m alignsar_localstack wait -h` (--state DIR, ...).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$here/../.venv/bin/python" ]; then PYTHON="$here/../.venv/bin/python"; else PYTHON=python3; fi
fi
exec "$PYTHON" "$here/__main__.py" wait "$@"
