"""Find Sentinel-1 products under a URL (a bucket prefix, a folder, or one product)."""

from __future__ import annotations

import posixpath
from typing import Any

import fsspec


class InputError(RuntimeError):
    """The input location itself cannot be listed (missing, access denied...)."""


def is_product_name(path: str) -> bool:
    name = posixpath.basename(path.rstrip("/"))
    return name.startswith("S1") and name.endswith((".SAFE", ".zip"))


def list_product_urls(input_url: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Product URLs (``*.SAFE`` folders and ``*.zip`` files) directly under ``input_url``.

    ``input_url`` may also be one product. The scheme of the input is kept in every
    returned URL. Raises InputError naming the URL when it cannot be listed.
    """
    url = input_url.rstrip("/")
    if is_product_name(url):
        return [url]
    try:
        fs, _, paths = fsspec.get_fs_token_paths(url, storage_options=storage_options or {})
        path = paths[0]
        if not fs.exists(path):
            raise InputError(f"{input_url}: no such folder or bucket prefix")
        entries = fs.ls(path, detail=True)
    except InputError:
        raise
    except PermissionError as exc:
        raise InputError(f"{input_url}: access denied by the object store; check the S3 "
                         f"credentials (ALIGNSAR_S3_ACCESS_KEY/SECRET_KEY) ({exc})") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{input_url}: not found ({exc})") from exc
    scheme = url.split("://", 1)[0] + "://" if "://" in url else ""
    out = []
    for e in entries:
        name = e["name"].rstrip("/")
        if not is_product_name(name):
            continue
        if name.endswith(".SAFE") and e.get("type") != "directory":
            continue
        out.append(scheme + name if scheme and not name.startswith(scheme) else name)
    if not out:
        raise InputError(f"{input_url}: no Sentinel-1 products (S1*.SAFE or S1*.zip) found")
    return sorted(out)
