#!/usr/bin/env bash
# Create bucket(s) in the running local S3 store: localstack/mkbucket.sh NAME...
# Options: see `python -m alignsar_localstack mkbucket -h` (--state DIR, ...).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$here/../.venv/bin/python" ]; then PYTHON="$here/../.venv/bin/python"; else PYTHON=python3; fi
fi
exec "$PYTHON" "$here/__main__.py" mkbucket "$@"
