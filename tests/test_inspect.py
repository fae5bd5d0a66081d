import json
import subprocess
import sys

import numpy as np
import pytest

from alignsar_core.products.inspect import inspect_product
from alignsar_core.products.sentinel1 import ProductError, list_bursts, open_product, read_burst_lines

from ._shared import S1_PRODUCT, needs_shared

pytestmark = needs_shared

# ESA's own burst list of IW1 in the annotation: first line azimuth times.
IW1_TIMES = ["05:26:24.209990", "05:26:26.966491", "05:26:29.725048", "05:26:32.485660",
             "05:26:35.242161", "05:26:38.000718", "05:26:40.757219", "05:26:43.515776",
             "05:26:46.272277"]


def _annotation_times():
    import xml.etree.ElementTree as ET
    ann = next((S1_PRODUCT / "annotation").glob("s1b-iw1-slc-vv-*.xml"))
    root = ET.parse(ann).getroot()
    return [b.findtext("azimuthTime") for b in root.findall("swathTiming/burstList/burst")]


def test_inspect_lists_nine_iw1_bursts_with_esa_times_and_sizes():
    info = inspect_product(str(S1_PRODUCT))
    iw1_vv = [b for b in info["bursts"] if b["swath"] == "IW1" and b["polarisation"] == "VV"]
    assert len(iw1_vv) == 9
    assert [b["first_line_time"] for b in iw1_vv] == _annotation_times()
    assert [b["first_line_time"][11:] for b in iw1_vv][:1] == IW1_TIMES[:1]
    assert {(b["lines"], b["samples"]) for b in iw1_vv} == {(1501, 21632)}
    assert [b["burst_index"] for b in iw1_vv] == list(range(9))
    # IPF 003.31 has no burstId: the computed relative ids are consecutive along track
    assert all(b["burst_id"] is None for b in iw1_vv)
    ids = [b["computed_burst_id"] for b in iw1_vv]
    assert ids == list(range(ids[0], ids[0] + 9))
    assert info["relative_orbit"] == 168 and info["absolute_orbit"] == 26269
    assert info["pass"] == "DESCENDING" and info["mode"] == "IW"
    assert set(info["available"]) == {"IW1", "IW2"} and "IW3/VV" in info["missing"]


def test_burst_id_of_iw2_matches_overlapping_iw1_burst():
    # bursts of IW1 and IW2 acquired in the same beam cycle share the relative burst id
    bursts = list_bursts(open_product(str(S1_PRODUCT), metadata_only=True, allow_partial=True))
    iw1 = {b.burst_id: b for b in bursts if b.swath == "IW1"}
    iw2 = [b for b in bursts if b.swath == "IW2"]
    shared = [b for b in iw2 if b.burst_id in iw1]
    assert len(shared) >= 8
    for b in shared:
        dt = abs(np.datetime64(b.first_line_time) - np.datetime64(iw1[b.burst_id].first_line_time))
        assert dt < np.timedelta64(1500, "ms")


def test_cli_inspect_json_and_text():
    out = subprocess.run([sys.executable, "-m", "flows.cli", "inspect", str(S1_PRODUCT), "--json"],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    assert sum(1 for b in info["bursts"] if b["swath"] == "IW1" and b["polarisation"] == "VH") == 9
    text = subprocess.run([sys.executable, "-m", "flows.cli", "inspect", str(S1_PRODUCT)],
                          capture_output=True, text=True, check=True).stdout
    assert "IW1   VV      8" in text and "computed from the ESA burst ID map" in text


def test_compressed_tiff_fallback_reads_constant_pixels():
    product = open_product(str(S1_PRODUCT), allow_partial=True)
    burst = [b for b in list_bursts(product) if b.swath == "IW1"][2]
    block = read_burst_lines(product, burst, "VV", 100, 104)
    assert block.shape == (4, 21632) and block.dtype == np.complex64
    assert np.all(block == block[0, 0]) and block[0, 0] != 0


def test_missing_product_and_missing_annotation_are_clear(tmp_path):
    with pytest.raises(ProductError, match="does not exist"):
        open_product(str(tmp_path / "S1A_nothing.SAFE"))
    (tmp_path / "S1A_empty.SAFE").mkdir()
    with pytest.raises(ProductError, match="no manifest.safe"):
        open_product(str(tmp_path / "S1A_empty.SAFE"))
