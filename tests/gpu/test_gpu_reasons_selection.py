from __future__ import annotations

import pytest

from greenllm.errors import GpuError
from greenllm.gpu import decode_reasons, resolve_gpus
from greenllm.gpu.reasons import REASON_BITS, encode_reasons
from greenllm.gpu.selection import parse_selectors

UUIDS = [
    "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6",
    "GPU-8932aaaa-0000-0000-0000-000000000001",
    "GPU-1234abcd-0000-0000-0000-000000000002",
    "GPU-feedbeef-0000-0000-0000-000000000003",
]


def test_decode_reasons_names_bits_in_nvml_order():
    assert decode_reasons(0) == []
    assert decode_reasons(0x4 | 0x1) == ["gpu_idle", "sw_power_cap"]
    assert decode_reasons(0x80 | 0x100 | 0x10) == ["sync_boost", "hw_power_brake_slowdown", "display_clock_setting"]
    assert decode_reasons(0x1000) == ["unknown_0x1000"]
    assert decode_reasons(encode_reasons(["sw_thermal_slowdown", "hw_slowdown"])) == ["hw_slowdown", "sw_thermal_slowdown"]


def test_reason_bits_match_the_installed_nvml_bindings():
    pynvml = pytest.importorskip("pynvml")
    for name, bit in REASON_BITS.items():
        camel = "".join(part.capitalize() for part in name.split("_"))
        value = getattr(pynvml, f"nvmlClocksEventReason{camel}", None)
        if value is None:
            value = getattr(pynvml, f"nvmlClocksThrottleReason{camel}")
        assert value == bit, name


def test_cuda_visible_devices_indices_and_uuids():
    assert resolve_gpus(None, None, physical_uuids=UUIDS) == [0, 1, 2, 3]
    assert resolve_gpus(None, "3,1", physical_uuids=UUIDS) == [3, 1]
    assert resolve_gpus([1], "3,1", physical_uuids=UUIDS) == [1]  # position in the visible list
    assert resolve_gpus(None, "GPU-1234abcd,feedbeef", physical_uuids=UUIDS) == [2, 3]
    assert resolve_gpus(["GPU-feedbeef"], "0,3", physical_uuids=UUIDS) == [3]
    assert resolve_gpus(None, "2,-1,3", physical_uuids=UUIDS) == [2]  # CUDA stops at an invalid entry
    with pytest.raises(GpuError, match="no GPU is visible"):
        resolve_gpus(None, "", physical_uuids=UUIDS)


def test_cuda_visible_devices_mig_entries_map_to_parent():
    parent = {"MIG-abc": 2}
    assert resolve_gpus(None, "MIG-abc", physical_uuids=UUIDS, mig_parent_index=parent.__getitem__) == [2]
    with pytest.raises(GpuError, match="MIG"):
        resolve_gpus(None, "MIG-abc", physical_uuids=UUIDS)


@pytest.mark.parametrize(
    "selectors, cvd, message",
    [
        ([4], None, "GPU 4 does not exist"),
        ([2], "0,1", "GPU 2 does not exist: 2 visible"),
        (["GPU-8932"], None, "matches 2 GPUs"),
        (["GPU-1234abcd"], "0,1", "is not visible"),
        (["GPU-00000000"], None, "no GPU has UUID"),
        ([0, "0"], None, "selected twice"),
    ],
)
def test_bad_selectors_are_one_line_errors(selectors, cvd, message):
    with pytest.raises(GpuError, match=message) as err:
        resolve_gpus(selectors, cvd, physical_uuids=UUIDS)
    assert "\n" not in str(err.value)


def test_environment_is_read_at_call_time(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    assert resolve_gpus(None, physical_uuids=UUIDS) == [2]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert resolve_gpus(None, physical_uuids=UUIDS) == [0, 1, 2, 3]


def test_parse_selectors():
    assert parse_selectors(None) is None and parse_selectors(" ") is None
    assert parse_selectors("0, GPU-ab") == [0, "GPU-ab"]
    with pytest.raises(GpuError):
        parse_selectors("0,,1")
