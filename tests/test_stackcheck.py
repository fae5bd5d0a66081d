"""Coregistration input checks (alignsar_core.stackcheck) on the real Sentinel-1B product
metadata: secondaries from another track / swath / burst / polarisation are refused,
orbits for another date or another track are refused with their spans in the message."""

import dataclasses

import numpy as np
import pytest

from alignsar_core.geometry import RadarGrid
from alignsar_core.orbit import REPEAT_CYCLE_S, Orbit, OrbitError
from alignsar_core.stackcheck import StackError, check_orbit_covers, check_secondary

from ._shared import S1_PRODUCT, needs_shared

pytestmark = needs_shared


@pytest.fixture(scope="module")
def product():
    from alignsar_core.products.sentinel1 import open_product

    return open_product(str(S1_PRODUCT), metadata_only=True, allow_partial=True)


@pytest.fixture(scope="module")
def bursts(product):
    from alignsar_core.products.sentinel1 import list_bursts

    return list_bursts(product)


@pytest.fixture(scope="module")
def orbit(product):
    return Orbit.from_product(product, "IW1", "VV")


def twelve_days_later(b):
    """The same burst on the next repeat pass (what a real secondary looks like)."""
    def later(iso):
        return str(np.datetime_as_string(np.datetime64(iso, "ns") + np.timedelta64(12, "D"), unit="us"))

    return dataclasses.replace(b, product_id=b.product_id.replace("20210401", "20210413"),
                               first_line_time=later(b.first_line_time), last_line_time=later(b.last_line_time),
                               absolute_orbit=b.absolute_orbit + 175)


def test_same_burst_next_pass_accepted(bursts):
    ref = bursts[0]
    check_secondary(ref, twelve_days_later(ref))
    check_secondary(ref, dataclasses.replace(twelve_days_later(ref), mission="S1A"))  # same track, S1A
    check_secondary(ref, dataclasses.replace(twelve_days_later(ref), polarisations=("VV",)), polarisations=["VV"])


@pytest.mark.parametrize("change, words", [
    (dict(relative_orbit=117), "relative orbit (track) 117 != reference 168"),
    (dict(pass_direction="ASCENDING"), "pass direction 'ASCENDING' != reference 'DESCENDING'"),
    (dict(swath="IW2"), "swath 'IW2' != reference 'IW1'"),
    (dict(polarisations=("HH", "HV")), "polarisation VV/VH missing"),
    (dict(range_sampling_rate=48.3e6), "range sampling rate"),
])
def test_other_track_swath_or_polarisation_refused(bursts, change, words):
    ref = bursts[0]
    sec = dataclasses.replace(twelve_days_later(ref), **change)
    with pytest.raises(StackError) as info:
        check_secondary(ref, sec)
    msg = str(info.value)
    print(msg)
    assert words in msg
    assert ref.product_id in msg and sec.product_id in msg and ref.stack_id in msg


def test_other_burst_refused(bursts):
    ref = bursts[0]
    other = twelve_days_later(bursts[1])  # the next burst along the same swath
    assert other.burst_id == ref.burst_id + 1
    with pytest.raises(StackError, match=f"relative burst id {other.burst_id} != reference {ref.burst_id}"):
        check_secondary(ref, other)
    with pytest.raises(StackError, match="reference acquisition itself"):
        check_secondary(ref, ref)
    # several mismatches reported together
    sec = dataclasses.replace(twelve_days_later(ref), relative_orbit=117, swath="IW3")
    with pytest.raises(StackError, match="swath 'IW3' != reference 'IW1'; relative orbit"):
        check_secondary(ref, sec)


def test_annotation_orbit_covers_its_bursts(bursts, orbit):
    for b in bursts:
        if b.swath == "IW1":
            check_orbit_covers(orbit, b)
            check_orbit_covers(orbit, RadarGrid.from_burst(b))


def test_orbit_file_for_another_date_refused(bursts, orbit, tmp_path):
    b = bursts[3]
    path = tmp_path / "S1B_OPER_AUX_POEORB_OPOD_20210320T111111_V20210320T225942_20210322T005942.EOF"
    wrong = orbit.shifted(0.0, time_shift_s=-REPEAT_CYCLE_S)  # the pass 12 days earlier
    path.write_text(wrong.to_eof())
    eof = Orbit.from_eof(path)
    with pytest.raises(OrbitError) as info:
        check_orbit_covers(eof, b)
    msg = str(info.value)
    print(msg)
    assert path.name in msg
    assert "covers 2021-03-20T05:25:19" in msg and "to 2021-03-20T05:27:59" in msg
    assert f"needs {b.first_line_time}" in msg and b.last_line_time in msg
    assert "it ends 12.00 days" in msg and "before the burst starts" in msg
    assert b.acquisition_id in msg and "IW1 burst 3" in msg
    # a radar grid of the burst: same check
    with pytest.raises(OrbitError, match="covers 2021-03-20T05:25:19.000000 to"):
        check_orbit_covers(eof, RadarGrid.from_burst(b))


def test_orbit_too_short_refused(bursts, orbit):
    b = bursts[0]
    ts = orbit.seconds(b.first_line_time) + 1.0 + np.arange(30.0)  # starts inside the burst
    pos, vel = orbit.interpolate(ts)
    short = Orbit(epoch=orbit.epoch, time=ts, position=pos, velocity=vel, source="short.EOF")
    with pytest.raises(OrbitError, match="short.EOF covers .*: it starts .* s too late"):
        check_orbit_covers(short, b)
    with pytest.raises(OrbitError, match=r"burst lines \+- 70 s\): it starts 4.790 s too late"):
        check_orbit_covers(orbit, b, margin_s=70.0)  # the annotation orbit starts 65.2 s before burst 0


def test_orbit_of_another_track_or_satellite_refused(bursts, orbit, tmp_path):
    b = bursts[0]
    # same times, positions rotated 25 deg in longitude: another track on the same date
    a = np.deg2rad(25.0)
    rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    other = Orbit(epoch=orbit.epoch, time=orbit.time, position=orbit.position @ rot.T,
                  velocity=orbit.velocity @ rot.T, source="other-track.EOF")
    with pytest.raises(OrbitError, match="other-track.EOF (does not fit|never sees)"):
        check_orbit_covers(other, b)
    # the mission named by the file
    path = tmp_path / "S1A_OPER_AUX_POEORB_OPOD_20210421T121212_V20210331T225942_20210402T005942.EOF"
    path.write_text(orbit.to_eof("S1A"))
    with pytest.raises(OrbitError, match="is a S1A orbit file; .* was acquired by S1B"):
        check_orbit_covers(Orbit.from_eof(path), b)
