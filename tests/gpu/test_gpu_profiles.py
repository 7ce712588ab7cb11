"""Which GPU profile a card is, by its NVML name; the H200's simulated GPU."""

import subprocess
import sys

import pytest

from greenllm.errors import ConfigError
from greenllm.gpu.profiles import profile_for_gpu_name
from greenllm.gpu.sim import SimGpu, SimGpuSpec


@pytest.mark.parametrize("name, profile", [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"),       # the lent H100 (SXM5)
    ("NVIDIA H100 SXM5 80GB", "h100-sxm"),
    ("NVIDIA H200", "h200"),                      # the lent H200 (SXM, 141 GB)
    ("NVIDIA H200 141GB HBM3e", "h200"),
    ("Simulated NVIDIA H200 (greenllm sim)", "h200"),
    ("Simulated NVIDIA H100 80GB HBM3 (greenllm sim)", "h100-sxm"),
    ("NVIDIA H100 PCIe", None),                   # other clocks and power: no profile
    ("NVIDIA H100 NVL", None),
    ("NVIDIA H200 NVL", None),
    ("NVIDIA A100-SXM4-80GB", None),
])
def test_profile_by_nvml_name(name, profile):
    assert profile_for_gpu_name(name) == profile


def test_h200_sim_spec_has_the_cards_clocks_and_limit(tmp_path):
    spec = SimGpuSpec.for_profile("h200")
    assert spec.profile == "h200" and spec.power_limit_w == 700
    clocks = spec.supported_sm_clocks_mhz()
    assert len(clocks) == 110 and (clocks[0], clocks[-1]) == (345, 1980)
    with SimGpu.create(tmp_path / "s", 1, spec) as gpu:
        assert profile_for_gpu_name(gpu.info(0).name) == "h200"
    with SimGpu.open(tmp_path / "s") as gpu:  # the profile survives the state file
        assert gpu.spec.profile == "h200"
    with pytest.raises(ConfigError, match="no simulated GPU for gpu profile 'x'"):
        SimGpuSpec.for_profile("x")


def test_doctor_names_the_profile():
    run = subprocess.run([sys.executable, "-m", "greenllm.cli.main", "doctor", "--sim",
                          "--sim-profile", "h200"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "GPU 0: Simulated NVIDIA H200" in run.stdout
    assert "greenllm profile: h200 (measure with gpu=h200" in run.stdout
    assert "memory clock 3201 MHz" in run.stdout


def test_a_run_configured_for_another_card_is_warned():
    from greenllm.gpu.profiles import profile_warning

    assert profile_warning("h200", ["NVIDIA H200"]) is None
    assert profile_warning("h100-sxm", ["NVIDIA H100 80GB HBM3"] * 8) is None
    assert profile_warning("h100-sxm", ["NVIDIA H200"]) == (
        "WARNING: gpu=h100-sxm but the GPUs are NVIDIA H200 (profile h200): pass gpu=h200")
    assert "no greenllm GPU profile matches NVIDIA A100-SXM4-80GB" in profile_warning(
        "h100-sxm", ["NVIDIA A100-SXM4-80GB"])
