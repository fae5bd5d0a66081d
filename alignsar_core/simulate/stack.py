"""Several simulated dates of one burst footprint, written to a folder or object storage."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import fsspec

from .product import SimulatedProduct, simulate_product

REPEAT_DAYS = 12


def simulate_dates(out_dir: str | Path, *, n_dates: int = 1, n_bursts: int = 3,
                   n_samples: int = 4096, seed: int = 0, as_zip: bool = False,
                   **kwargs: Any) -> list[SimulatedProduct]:
    """``n_dates`` products, 12 days apart (one Sentinel-1 repeat cycle), seeds seed+k."""
    return [simulate_product(out_dir, n_bursts=n_bursts, n_samples=n_samples, seed=seed + k,
                             date_shift_days=REPEAT_DAYS * k, as_zip=as_zip, **kwargs)
            for k in range(n_dates)]


def upload(local: str | Path, url: str, storage_options: dict[str, Any] | None = None) -> str:
    """Copy a product (SAFE folder or zip) to ``url``/NAME; returns the product URL."""
    local = Path(local)
    fs, _, (root,) = fsspec.get_fs_token_paths(url, storage_options=storage_options or {})
    target = f"{root.rstrip('/')}/{local.name}"
    if local.is_dir():
        fs.put(str(local), target, recursive=True)
    else:
        fs.put_file(str(local), target)
    scheme = url.split("://", 1)[0] + "://" if "://" in url else ""
    return scheme + target if scheme and not target.startswith(scheme) else target


def simulate_to_url(url: str, *, storage_options: dict[str, Any] | None = None,
                    **kwargs: Any) -> list[str]:
    """Simulate products (see ``simulate_dates``) and put them under ``url``."""
    if "://" not in url or url.startswith("file://"):
        out = Path(url.removeprefix("file://"))
        out.mkdir(parents=True, exist_ok=True)
        return [str(p.path) for p in simulate_dates(out, **kwargs)]
    if storage_options is None:
        from ..settings import get_settings

        storage_options = get_settings().storage_options_for(url)
    with tempfile.TemporaryDirectory(prefix="alignsar-sim-") as tmp:
        return [upload(p.path, url, storage_options) for p in simulate_dates(tmp, **kwargs)]
