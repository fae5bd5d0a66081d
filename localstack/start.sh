#!/usr/bin/env bash
# Start the local S3 store detached; prints export lines: eval "$(localstack/start.sh --bucket alignsar)"
# Options: see `python -m alignsar_localstack start -h` (--state DIR, ...).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$here/../.venv/bin/python" ]; then PYTHON="$here/../.venv/bin/python"; else PYTHON=python3; fi
fi
exec "$PYTHON" "$here/__main__.py" start "$@"
