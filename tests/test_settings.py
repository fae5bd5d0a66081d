import json

import pytest

from alignsar_core.settings import Settings, get_settings


def test_env_prefix_and_s3_options(monkeypatch):
    monkeypatch.setenv("ALIGNSAR_STORAGE_ROOT", "s3://bucket/prefix")
    monkeypatch.setenv("ALIGNSAR_S3_ENDPOINT_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("ALIGNSAR_S3_ACCESS_KEY", "ak")
    monkeypatch.setenv("ALIGNSAR_S3_SECRET_KEY", "sk")
    monkeypatch.setenv("ALIGNSAR_TILE_SIZE", "256,1024")
    monkeypatch.setenv("ALIGNSAR_STORAGE_OPTIONS", '{"default_block_size": 1048576}')
    s = get_settings()
    assert s.storage_root == "s3://bucket/prefix" and s.tile_size == (256, 1024)
    opts = s.storage_options_for("s3://bucket/x")
    assert opts == {"key": "ak", "secret": "sk", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9999"},
                    "config_kwargs": {"s3": {"addressing_style": "path"}}, "default_block_size": 1048576}
    assert s.storage_options_for("/local/path") == {"default_block_size": 1048576}
    assert s.public_dict()["s3_secret_key"] == "***"


def test_aws_by_configuration_alone(monkeypatch):
    for k in ("ALIGNSAR_S3_ENDPOINT_URL", "ALIGNSAR_S3_ACCESS_KEY", "ALIGNSAR_S3_SECRET_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ALIGNSAR_S3_REGION", "eu-central-1")
    # no endpoint, no keys: s3fs falls back to the AWS credential chain and the real endpoint
    assert Settings().storage_options_for("s3://b/p") == {"client_kwargs": {"region_name": "eu-central-1"}}


def test_config_file_and_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "alignsar.toml"
    cfg.write_text('[alignsar]\nstorage_root = "s3://from-file/x"\ntile_size = [128, 512]\ndask_workers = 3\n')
    monkeypatch.setenv("ALIGNSAR_CONFIG", str(cfg))
    monkeypatch.delenv("ALIGNSAR_STORAGE_ROOT", raising=False)
    s = get_settings()
    assert (s.storage_root, s.tile_size, s.dask_workers) == ("s3://from-file/x", (128, 512), 3)
    monkeypatch.setenv("ALIGNSAR_DASK_WORKERS", "5")
    assert get_settings().dask_workers == 5  # environment beats the file
    assert get_settings(dask_workers=1).dask_workers == 1  # explicit beats both


def test_bad_settings_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNSAR_TILE_SIZE", "4,4")
    with pytest.raises(ValueError, match="at least 16"):
        get_settings()
    monkeypatch.delenv("ALIGNSAR_TILE_SIZE")
    cfg = tmp_path / "bad.toml"
    cfg.write_text('storage_rot = "typo"\n')
    monkeypatch.setenv("ALIGNSAR_CONFIG", str(cfg))
    with pytest.raises(ValueError, match="unknown settings"):
        get_settings()


def test_signature_windows_from_the_environment(monkeypatch):
    from tasks.signature_tasks import signature_config

    monkeypatch.setenv("ALIGNSAR_COHERENCE_WINDOW", "3x12")
    monkeypatch.setenv("ALIGNSAR_SPECKLE_WINDOW", "7")
    monkeypatch.setenv("ALIGNSAR_NOISE_REMOVAL", "false")
    s = get_settings()
    assert (s.coherence_window, s.speckle_window, s.polarimetric_window) == ((3, 12), (7, 7), (5, 20))
    c = signature_config(s)
    assert c.coherence_window == (3, 12) and c.speckle_window == (7, 7) and not c.noise_removal
    assert c.halo == (3, 10)  # the largest of the three windows per axis
    monkeypatch.setenv("ALIGNSAR_COHERENCE_WINDOW", "0x5")
    with pytest.raises(ValueError, match="window"):
        get_settings()


def test_adaptive_coherence_setting(monkeypatch):
    from alignsar_core.signatures.tiles import SignatureConfig
    from tasks.signature_tasks import signature_config

    c = signature_config(get_settings())
    assert c.adaptive_window is None and c.halo == (2, 10)  # off by default
    assert c.slc_signatures  # amplitude, intensity, SLC phase: on by default
    monkeypatch.setenv("ALIGNSAR_SLC_SIGNATURES", "false")
    assert not signature_config(get_settings()).slc_signatures
    monkeypatch.setenv("ALIGNSAR_ADAPTIVE_COHERENCE_WINDOW", "11x35")
    monkeypatch.setenv("ALIGNSAR_SHP_ALPHA", "0.01")
    c = signature_config(get_settings())
    assert c.adaptive_window == (11, 35) and c.shp_alpha == 0.01
    assert c.halo == (5, 17)  # the adaptive window is the largest
    assert SignatureConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c  # kept in the store's attributes
    monkeypatch.setenv("ALIGNSAR_ADAPTIVE_COHERENCE_WINDOW", "off")
    assert get_settings().adaptive_coherence_window is None
    monkeypatch.setenv("ALIGNSAR_SHP_ALPHA", "1.5")
    with pytest.raises(ValueError, match="shp_alpha"):
        get_settings()
