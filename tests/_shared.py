"""Locations of the read-only data beside the checkout (never copied into the project)."""

import pytest

from alignsar_core.settings import shared_data_dir

SHARED_DATA = shared_data_dir()
S1_PRODUCT = SHARED_DATA / "sentinel1" / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"

needs_shared = pytest.mark.skipif(not S1_PRODUCT.is_dir(), reason=f"shared data missing: {S1_PRODUCT}")
