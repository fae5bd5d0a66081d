"""Settings in one place: ``ALIGNSAR_*`` environment variables over an optional TOML file.

Precedence (highest first): explicit keyword arguments, environment variables
(``ALIGNSAR_STORAGE_ROOT=s3://bucket/prefix``...), the TOML file named by
``ALIGNSAR_CONFIG`` (or ``./alignsar.toml`` when present), then the defaults below.

The same code talks to AWS S3, any S3-compatible server (SeaweedFS here, LocalStack,
MinIO) or a local folder by configuration alone:

* AWS S3: ``ALIGNSAR_STORAGE_ROOT=s3://bucket/prefix`` and the usual AWS credential
  chain (``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``..., instance roles); leave
  ``ALIGNSAR_S3_ENDPOINT_URL`` unset.
* S3-compatible: also set ``ALIGNSAR_S3_ENDPOINT_URL`` (e.g. ``http://127.0.0.1:4566``
  for LocalStack) and ``ALIGNSAR_S3_ACCESS_KEY`` / ``ALIGNSAR_S3_SECRET_KEY``.
* Local folder: ``ALIGNSAR_STORAGE_ROOT=/data/alignsar`` (or ``file:///...``).
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict


def _config_file() -> Path | None:
    name = os.environ.get("ALIGNSAR_CONFIG")
    if name:
        p = Path(name)
        if not p.is_file():
            raise FileNotFoundError(f"ALIGNSAR_CONFIG={name}: no such file")
        return p
    p = Path("alignsar.toml")
    return p if p.is_file() else None


class Settings(BaseSettings):
    """Pipeline configuration. Every field is also ``ALIGNSAR_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="ALIGNSAR_", extra="forbid")

    storage_root: str = Field(
        "./alignsar-output",
        description="Root URL of all outputs: s3://bucket/prefix, file:// or a local path.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint for S3-compatible servers; unset for AWS S3.")
    s3_access_key: str | None = Field(None, description="S3 access key (else the AWS chain).")
    s3_secret_key: str | None = Field(None, description="S3 secret key.")
    s3_region: str | None = Field(None, description="S3 region name, e.g. eu-central-1.")
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra fsspec options merged into every filesystem (JSON in the env).",
    )
    dask_address: str | None = Field(
        None, description="Dask scheduler address (tcp://host:8786); unset = local cluster.")
    dask_workers: int = Field(2, ge=1, description="Workers of the local Dask cluster.")
    dask_threads_per_worker: int = Field(1, ge=1, description="Threads per local worker: tasks side by side, "
                                                               "one numba thread each.")
    dem_url: str | None = Field(
        None, description="DEM GeoTIFF/COG (any CRS, heights above the WGS84 ellipsoid) for "
                          "coregistration; unset: INPUT/scene/dem.tif when the input holds one "
                          "(simulated stacks), else no coregistration.")
    interpolation_taps: int = Field(8, ge=4, le=32, description="Windowed-sinc taps of the coregistration resampler.")
    tile_size: Annotated[tuple[int, int], NoDecode] = Field(
        (512, 4096),
        description="Tile (azimuth lines, range samples); Zarr chunks align with it.",
    )
    coherence_window: Annotated[tuple[int, int], NoDecode] = Field(
        (5, 20), description="Coherence estimation window (azimuth lines, range samples), e.g. 5x20.")
    polarimetric_window: Annotated[tuple[int, int], NoDecode] = Field(
        (5, 20), description="Window of the dual-pol covariance C2 and what derives from it.")
    speckle_window: Annotated[tuple[int, int], NoDecode] = Field(
        (5, 20), description="Window of the sigma0 local means (Quegan-Yu, soil moisture, pol. ratios).")
    adaptive_coherence_window: Annotated[tuple[int, int] | None, NoDecode] = Field(
        None, description="Window of the adaptive (homogeneous-pixel) coherence, e.g. 7x21; unset or 'off': "
                          "not computed (it reads the stack's tile twice and tests every window pixel).")
    shp_alpha: float = Field(0.05, gt=0.0, lt=1.0, description="Significance level of the homogeneous-pixel "
                                                                "test of the adaptive coherence.")
    noise_removal: bool = Field(True, description="Remove thermal noise (noise LUT) from sigma0.")
    beta_gamma: bool = Field(False, description="Also write beta0 and gamma0 (linear and dB).")
    slc_signatures: bool = Field(True, description="Write the amplitude, intensity and SLC phase of the "
                                                   "coregistered DNs per date (6 float32 layers per dual-pol date).")

    @field_validator("tile_size", "coherence_window", "polarimetric_window", "speckle_window",
                     "adaptive_coherence_window", mode="before")
    @classmethod
    def _parse_pair(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in ("", "off", "none", "false", "0"):
            return None
        if isinstance(v, str):  # "512,4096", "512x4096", "[512, 4096]" or "7" (square)
            v = v.replace("x", ",").strip("()[] ")
            parts = [int(x) for x in v.split(",")]
            return tuple(parts * 2 if len(parts) == 1 else parts)
        if isinstance(v, int):
            return (v, v)
        return v

    @field_validator("coherence_window", "polarimetric_window", "speckle_window", "adaptive_coherence_window")
    @classmethod
    def _check_window(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is None:
            return v
        if min(v) < 1 or max(v) > 255:
            raise ValueError(f"window {v}: sizes must be 1..255 pixels (azimuth, range)")
        return v

    @field_validator("tile_size")
    @classmethod
    def _check_tile(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 16:
            raise ValueError(f"tile_size {v}: each side must be at least 16 pixels")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    # ----------------------------------------------------------------------------
    def storage_options_for(self, url: str) -> dict[str, Any]:
        """fsspec options for ``url``: S3 endpoint/credentials for s3://, else extras."""
        opts: dict[str, Any] = {}
        if url.startswith(("s3://", "s3a://")):
            if self.s3_access_key:
                opts["key"] = self.s3_access_key
            if self.s3_secret_key:
                opts["secret"] = self.s3_secret_key
            client: dict[str, Any] = {}
            if self.s3_endpoint_url:
                client["endpoint_url"] = self.s3_endpoint_url
            if self.s3_region:
                client["region_name"] = self.s3_region
            if client:
                opts["client_kwargs"] = client
            if self.s3_endpoint_url:
                # S3-compatible servers (SeaweedFS, MinIO, LocalStack) on an IP or
                # localhost endpoint need path-style URLs: no per-bucket DNS names.
                opts["config_kwargs"] = {"s3": {"addressing_style": "path"}}
        extra = dict(self.storage_options)
        if "client_kwargs" in extra and "client_kwargs" in opts:
            opts["client_kwargs"] = {**opts["client_kwargs"], **extra.pop("client_kwargs")}
        opts.update(extra)
        return opts

    def public_dict(self) -> dict[str, Any]:
        """Settings without secrets, for logs and provenance."""
        d = self.model_dump()
        if d.get("s3_secret_key"):
            d["s3_secret_key"] = "***"
        d["storage_options"] = {k: ("***" if "secret" in k or "token" in k else v)
                                for k, v in d["storage_options"].items()}
        return d


class _TomlSource(PydanticBaseSettingsSource):
    """Reads ``[alignsar]`` (or top-level keys) from the TOML config file."""

    def get_field_value(self, field, field_name):  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _config_file()
        if path is None:
            return {}
        data = tomllib.loads(path.read_text())
        data = data.get("alignsar", data)
        unknown = set(data) - set(Settings.model_fields)
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(Settings.model_fields)}")
        if isinstance(data.get("storage_options"), str):
            data["storage_options"] = json.loads(data["storage_options"])
        return data


def shared_data_dir() -> Path:
    """The read-only shared data (``../shared/data`` beside the checkout, or
    ``$ALIGNSAR_SHARED_DATA``): the real Sentinel-1 template and the STAC schemas.
    It is read in place, never copied into the project."""
    env = os.environ.get("ALIGNSAR_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def get_settings(**overrides: Any) -> Settings:
    """Current settings; keyword arguments override environment and file."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
