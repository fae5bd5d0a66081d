"""The ``alignsar`` command line as a user runs it (separate processes, local folders)."""

import json
import os
import subprocess
import sys

import pytest
import xarray as xr

from ._shared import needs_shared

pytestmark = [needs_shared, pytest.mark.slow]


def alignsar(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_help_names_the_first_steps():
    out = alignsar("--help")
    assert out.returncode == 0
    for word in ("demo", "inspect", "run", "simulate", "ALIGNSAR_STORAGE_ROOT"):
        assert word in out.stdout


def test_simulate_then_build_dataset_then_bad_input(tmp_path):
    sim = alignsar("simulate", "--out", str(tmp_path / "in"), "--dates", "2", "--bursts", "1",
                   "--samples", "1024")
    assert sim.returncode == 0, sim.stderr
    products = sim.stdout.split()
    assert len(products) == 2 and all(p.endswith(".SAFE") for p in products)
    assert (tmp_path / "in" / "truth.zarr").is_dir() and (tmp_path / "in" / "scene" / "dem.tif").is_file()
    assert "truth:" in sim.stderr

    run = alignsar("run", "build-dataset", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
                   "--workers", "1", "--tile-size", "512,512", "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert len(summary["stores"]) == 2 and not summary["failures"]
    ds = xr.open_zarr(summary["stores"][0], consolidated=False)
    assert ds.sigma0.encoding["chunks"] == (1, 512, 512)
    assert (tmp_path / "out" / "stac" / "collection.json").is_file()

    bad = alignsar("run", "build-dataset", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out"))
    assert bad.returncode == 1
    assert "nowhere: no such folder" in bad.stderr


def test_deployment_entrypoint_resolves():
    import importlib
    from pathlib import Path

    import yaml

    spec = yaml.safe_load((Path(__file__).parents[1] / "infra" / "prefect.yaml").read_text())
    for dep in spec["deployments"]:
        module_path, name = dep["entrypoint"].split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert set(dep["parameters"]) <= set(flow.parameters.properties)
