"""The idle / prefill / decode split on hand-built telemetry with exact answers, and the
RAPL reader on a fake powercap tree (wraparound, scope, root-only, absent)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from greenllm.analysis.energy_split import attribute
from greenllm.host_energy import NOT_AVAILABLE, HostEnergySampler, discover
from greenllm.measure.energy_phases import phase_energy


def telemetry(power_of_t, t0=0.0, t1=10.0, dt=0.01, n_gpus=2) -> pd.DataFrame:
    ticks = np.arange(round((t1 - t0) / dt) + 1)
    t = t0 + ticks * dt
    rows = [{"gpu": g, "tick": k, "t_mono": tk, "power_instant_w": power_of_t(tk) / n_gpus}
            for k, tk in zip(ticks, t, strict=True) for g in range(n_gpus)]
    return pd.DataFrame(rows)


def requests(*spans) -> pd.DataFrame:
    """(send, first token, last token) per request."""
    return pd.DataFrame([{"send_s": s, "first_token_s": f, "last_token_s": last, "end_s": last}
                         for s, f, last in spans])


def test_phases_are_cut_at_request_events_and_sum_to_the_integral():
    # 100 W idle, 400 W while a prefill is pending (2-3 s, 6-6.5 s), 250 W decode-only
    def power(t):
        if 2 <= t < 3 or 6 <= t < 6.5:
            return 400.0
        if 3 <= t < 5 or 6.5 <= t < 8:
            return 250.0
        return 100.0

    reqs = requests((2.0, 3.0, 5.0), (2.5, 2.9, 4.0), (6.0, 6.5, 8.0))
    ph = phase_energy(telemetry(power), reqs, 1.0, 9.0)
    assert ph["status"] == "ok" and ph["method"] == "request-timeline"
    assert (ph["prefill_s"], ph["decode_s"], ph["idle_s"]) == pytest.approx((1.5, 3.5, 3.0))
    # the power steps between samples: within one 10 ms sample of the exact integrals
    assert ph["prefill_j"] == pytest.approx(400 * 1.5, abs=2 * 3 * 300 * 0.01)
    assert ph["decode_j"] == pytest.approx(250 * 3.5, abs=2 * 3 * 300 * 0.01)
    assert ph["idle_j"] + ph["prefill_j"] + ph["decode_j"] == pytest.approx(ph["integral_j"])

    split = attribute(ph, idle_power_w=100.0)
    assert split["energy_prefill_j"] == pytest.approx(300 * 1.5, abs=20)
    assert split["energy_decode_j"] == pytest.approx(150 * 3.5, abs=20)
    assert split["energy_idle_j"] == pytest.approx(100 * 8.0, abs=20)  # the whole window pays idle
    assert split["energy_split_sum_j"] == pytest.approx(ph["integral_j"])
    assert split["power_decode_mean_w"] == pytest.approx(250, abs=5)
    scaled = attribute(ph, idle_power_w=100.0, counter_j=1.03 * ph["integral_j"])
    assert scaled["energy_split_sum_j"] == pytest.approx(1.03 * ph["integral_j"])
    assert scaled["energy_split_scale"] == pytest.approx(1.03)
    assert scaled["energy_decode_j"] == pytest.approx(1.03 * split["energy_decode_j"])
    gross = attribute(ph, idle_power_w=None)
    assert gross["energy_split_method"].endswith("no idle floor")
    assert gross["energy_prefill_j"] == pytest.approx(ph["prefill_j"])


def test_a_failed_request_without_tokens_counts_as_prefill_until_it_ended():
    reqs = pd.DataFrame([{"send_s": 2.0, "first_token_s": np.nan, "last_token_s": np.nan,
                          "end_s": 4.0}])
    ph = phase_energy(telemetry(lambda t: 100.0), reqs, 1.0, 9.0)
    assert ph["prefill_s"] == pytest.approx(2.0) and ph["decode_s"] == 0.0


def test_window_outside_the_telemetry_is_said_not_computed():
    ph = phase_energy(telemetry(lambda t: 100.0, t1=5.0), requests((1, 2, 3)), 1.0, 9.0)
    assert ph["status"] == "no telemetry covering the window" and "prefill_j" not in ph
    assert attribute(ph, 100.0) == {}


def fake_rapl(root, zones):
    for name, (label, uj, max_uj) in zones.items():
        d = root / name
        d.mkdir(parents=True)
        (d / "name").write_text(label + "\n")
        (d / "energy_uj").write_text(str(uj))
        (d / "max_energy_range_uj").write_text(str(max_uj))


def test_rapl_counts_packages_and_dram_unwraps_and_records_scope(tmp_path):
    root = tmp_path / "powercap"
    fake_rapl(root, {"intel-rapl:0": ("package-0", 999_000_000, 1_000_000_000),
                     "intel-rapl:0:0": ("core", 5_000_000, 1_000_000_000),
                     "intel-rapl:0:1": ("dram", 10_000_000, 1_000_000_000)})
    zones, why = discover(root)
    assert why == "" and [z.scope for z in zones] == ["package-0", "package-0/core", "package-0/dram"]
    host = HostEnergySampler(period_s=0.01, root=root)
    with host:
        t0 = time.monotonic()
        time.sleep(0.05)
        # 3 J more on the package (wrapping past 1000 J), 1 J on core, 0.5 J on DRAM
        (root / "intel-rapl:0/energy_uj").write_text(str(2_000_000))
        (root / "intel-rapl:0:0/energy_uj").write_text(str(6_000_000))
        (root / "intel-rapl:0:1/energy_uj").write_text(str(10_500_000))
        time.sleep(0.05)
        t1 = time.monotonic()
        time.sleep(0.03)
    w = host.window(t0, t1)
    assert w["status"] == "ok"
    assert w["domains_j"]["package-0"] == pytest.approx(3.000001, abs=1e-6)
    assert w["energy_j"] == pytest.approx(3.000001 + 0.5, abs=1e-6)  # core is inside the package
    assert "package-0+package-0/dram" in w["scope"] and "DRAM" in w["scope"]


def test_rapl_not_available_says_why(tmp_path, monkeypatch):
    assert HostEnergySampler(root=tmp_path / "none").window(0, 1) == {
        "status": NOT_AVAILABLE, "reason": f"{tmp_path / 'none'} does not exist (no powercap "
        "driver, or not Linux)"}
    root = tmp_path / "powercap"
    fake_rapl(root, {"intel-rapl:0": ("package-0", 1, 10)})

    def denied(self):  # what a non-root user gets on kernels >= 5.10 (root reads anything)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("greenllm.host_energy.Zone.read_uj", denied)
    zones, why = discover(root)
    assert zones == [] and why == "RAPL counters are root-only here (package-0)"
    w = HostEnergySampler(root=root).window(0, 1)
    assert w["status"] == NOT_AVAILABLE and "root-only" in w["reason"]
