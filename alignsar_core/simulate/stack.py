"""Put simulated products where the pipeline reads them (a folder or object storage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec


def upload(local: str | Path, url: str, storage_options: dict[str, Any] | None = None) -> str:
    """Copy a product (SAFE folder or zip), or any file or folder, to ``url``/NAME;
    returns its URL."""
    local = Path(local)
    fs, _, (root,) = fsspec.get_fs_token_paths(url, storage_options=storage_options or {})
    target = f"{root.rstrip('/')}/{local.name}"
    if local.is_dir():
        fs.put(str(local), target, recursive=True)
    else:
        fs.put_file(str(local), target)
    scheme = url.split("://", 1)[0] + "://" if "://" in url else ""
    return scheme + target if scheme and not target.startswith(scheme) else target
