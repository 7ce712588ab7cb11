"""TelemetrySampler on SimGpu, and the window statistics on constructed frames."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from greenllm.errors import GpuError, GreenllmError
from greenllm.gpu import SimGpu, TelemetrySampler, clock_stats, throttle_names, window_energy
from greenllm.gpu.telemetry import COLUMNS


def test_sampler_energy_matches_sim_ground_truth(tmp_path):
    gpu = SimGpu.create(tmp_path / "state", 2, settle_s=0.0)
    pattern = [(1.0, 0.1), (0.0, 0.0), (0.3, 0.9), (0.0, 1.0), (1.0, 0.0), (0.05, 0.05)]
    # Load steps land at spread phases between ticks (sleeps are not whole periods): steps
    # locked just after a tick bias the trapezoid integral the same way every time (-2 %,
    # failing one run in five at 10 ms), a real GPU's steps are not locked to the sampler.
    period = 0.005
    with TelemetrySampler(gpu, period_s=period) as sampler:
        time.sleep(0.03)
        before = [gpu.sample(i) for i in gpu.indices]
        for k, (c, m) in enumerate(pattern * 2):
            gpu.set_load(0, c, m)
            gpu.set_load(1, m, c / 2)
            if k == 5:
                gpu.lock_sm_clock(0, 1005)
            time.sleep(0.07 + period * ((0.618 * k) % 1.0))
        after = [gpu.sample(i) for i in gpu.indices]
        time.sleep(0.03)
    frame = sampler.frame()
    t0 = max(s.t_mono for s in before)
    t1 = min(s.t_mono for s in after)
    # Ground truth: the simulator's exact counter, read at t0 and t1 (tiny offsets between
    # the two GPUs' reads are corrected with the instantaneous power).
    truth_j = sum(
        (a.energy_mj - b.energy_mj) / 1000.0
        - a.power_instant_w * (a.t_mono - t1) - b.power_instant_w * (t0 - b.t_mono)
        for a, b in zip(after, before)
    )
    w = window_energy(frame, t0, t1)
    assert w.energy_j == pytest.approx(truth_j, rel=0.01)
    assert w.energy_integral_j == pytest.approx(truth_j, rel=0.02)
    assert w.n_gpus == 2 and w.window_s == pytest.approx(t1 - t0)
    assert "energy_disagreement" not in w.flags and "short_window" not in w.flags
    assert w.power_max_w >= 700.0 + 100  # GPU 0 at the cap while GPU 1 works
    assert sampler.n_ticks > 50
    assert sampler.cpu_s_per_tick < 0.01


def test_frame_has_documented_columns_and_parquet_round_trips(tmp_path):
    gpu = SimGpu.create(tmp_path / "state", 2)
    with TelemetrySampler(gpu, period_s=0.005) as sampler:
        time.sleep(0.03)
    frame = sampler.frame()
    assert tuple(frame.columns) == COLUMNS
    assert set(frame["gpu"]) == {0, 1}
    assert frame.groupby("gpu").size().min() >= 3  # start + stop samples at least
    assert (frame.groupby("gpu")["t_mono"].diff().dropna() > 0).all()
    path = tmp_path / "out" / "telemetry.parquet"
    sampler.to_parquet(str(path))
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, frame)
    assert [p.name for p in path.parent.iterdir()] == ["telemetry.parquet"]  # no temp left


def test_sampling_error_surfaces_on_stop(tmp_path):
    class Dies(SimGpu):
        calls = 0

        def sample(self, index, **kw):
            type(self).calls += 1
            if type(self).calls > 5:
                raise GpuError("GPU 0 fell off the bus")
            return super().sample(index, **kw)

    SimGpu.create(tmp_path / "s", 1).close()
    sampler = TelemetrySampler(Dies.open(tmp_path / "s"), period_s=0.002).start()
    time.sleep(0.05)
    with pytest.raises(GpuError, match="fell off the bus"):
        sampler.stop()


def test_bad_period_is_rejected(tmp_path):
    gpu = SimGpu.create(tmp_path / "s", 1)
    with pytest.raises(GpuError, match="period"):
        TelemetrySampler(gpu, period_s=0)


# --- window statistics on constructed frames ---------------------------------------------


def make_frame(t: np.ndarray, power_w: np.ndarray, *, counter_step_s: float | None = None,
               gpu: int = 0, instant=None, clocks=None, reasons=None, supported=True) -> pd.DataFrame:
    """A frame whose counter is the exact integral of ``power_w`` (piecewise linear), or a
    counter that only updates every ``counter_step_s`` (NVML-like)."""
    energy = np.concatenate(([0.0], np.cumsum(np.diff(t) * (power_w[1:] + power_w[:-1]) / 2))) * 1000.0
    if counter_step_s is not None:
        update_t = np.floor((t - t[0]) / counter_step_s) * counter_step_s + t[0]
        energy = np.interp(update_t, t, energy)
    n = len(t)
    return pd.DataFrame({
        "gpu": gpu, "tick": np.arange(n), "t_mono": t, "t_wall": t + 1e9, "energy_mj": energy,
        "power_instant_w": power_w if instant is None else instant, "power_avg_w": power_w,
        "sm_clock_mhz": np.full(n, 1410) if clocks is None else clocks, "mem_clock_mhz": 2619,
        "temperature_c": 50.0, "throttle_reasons": np.zeros(n, dtype=int) if reasons is None else reasons,
        "utilization_pct": 50.0, "power_instant_supported": supported,
    })


def test_window_energy_of_constant_power_is_exact():
    t = np.arange(0, 3.0001, 0.02)
    w = window_energy(make_frame(t, np.full(len(t), 300.0)), 0.55, 2.55)
    assert w.energy_j == pytest.approx(600.0, rel=1e-9)
    assert w.energy_integral_j == pytest.approx(600.0, rel=1e-9)
    assert w.disagreement == pytest.approx(0.0, abs=1e-9)
    assert w.power_mean_w == pytest.approx(300.0) and w.power_max_w == pytest.approx(300.0)
    assert w.flags == ()


def test_stepwise_counter_is_read_from_its_update_instants():
    # Power ramps 100 -> 700 W; the counter updates every 100 ms, sampled every 10 ms.
    t = np.arange(0, 4.0001, 0.01)
    power = 100.0 + 150.0 * t
    frame = make_frame(t, power, counter_step_s=0.1)
    t0, t1 = 0.537, 3.468
    truth_j = 100.0 * (t1 - t0) + 75.0 * (t1 ** 2 - t0 ** 2)
    w = window_energy(frame, t0, t1)
    assert w.energy_j == pytest.approx(truth_j, rel=0.01)
    # Interpolating the raw stair steps would be biased by the stair (~one update's energy).
    raw = (np.interp(t1, t, frame["energy_mj"]) - np.interp(t0, t, frame["energy_mj"])) / 1000
    assert abs(w.energy_j - truth_j) < abs(raw - truth_j)


def test_flags_short_window_and_disagreement():
    t = np.arange(0, 2.0001, 0.01)
    w = window_energy(make_frame(t, np.full(len(t), 200.0)), 1.0, 1.05)
    assert "short_window" in w.flags
    assert "short_window" not in window_energy(make_frame(t, np.full(len(t), 200.0)), 1.0, 1.05,
                                               counter_period_s=0.01).flags
    off = make_frame(t, np.full(len(t), 200.0), instant=np.full(len(t), 210.0))
    w2 = window_energy(off, 0.2, 1.8)
    assert w2.disagreement == pytest.approx(0.05) and "energy_disagreement" in w2.flags
    assert "energy_disagreement" not in window_energy(off, 0.2, 1.8, disagreement_tol=0.06).flags
    assert "no_instant_power" in window_energy(make_frame(t, np.full(len(t), 200.0), supported=False), 0.2, 1.8).flags


def test_window_sums_gpus_and_takes_max_of_summed_power():
    t = np.arange(0, 2.0001, 0.01)
    p0 = np.where(t < 1.0, 100.0, 500.0)
    p1 = np.where(t < 1.5, 400.0, 50.0)
    frame = pd.concat([make_frame(t, p0, gpu=0), make_frame(t + 0.001, p1, gpu=1)])
    w = window_energy(frame, 0.5, 1.9)
    assert w.per_gpu_energy_j[0] == pytest.approx(100 * 0.5 + 500 * 0.9, rel=0.01)
    assert w.per_gpu_energy_j[1] == pytest.approx(400 * 1.0 + 50 * 0.4, rel=0.01)
    assert w.energy_j == pytest.approx(sum(w.per_gpu_energy_j.values()))
    assert w.power_max_w == pytest.approx(900.0)


def test_window_outside_samples_is_an_error():
    t = np.arange(1.0, 2.0001, 0.01)
    frame = make_frame(t, np.full(len(t), 100.0))
    with pytest.raises(GreenllmError, match="covers"):
        window_energy(frame, 0.5, 1.5)
    with pytest.raises(GreenllmError, match="t1 > t0"):
        window_energy(frame, 1.5, 1.5)


def test_clock_stats_and_throttle_names_see_only_the_window():
    t = np.arange(0, 2.0001, 0.01)
    clocks = np.where(t < 1.0, 1980, np.linspace(1200, 1400, len(t))).astype(int)
    reasons = np.where(t < 1.0, 0x1, 0x4)
    frame = make_frame(t, np.full(len(t), 100.0), clocks=clocks, reasons=reasons)
    stats = clock_stats(frame, 1.0, 2.0)
    inside = clocks[(t >= 1.0) & (t <= 2.0)]
    assert stats["mean"] == pytest.approx(inside.mean())
    assert stats["p5"] < stats["p50"] < stats["p95"] <= 1400
    assert throttle_names(frame, 1.0, 2.0) == ["sw_power_cap"]
    assert throttle_names(frame, 0.0, 2.0) == ["gpu_idle", "sw_power_cap"]
    assert np.isnan(clock_stats(frame, 5.0, 6.0)["mean"])


def test_energy_read_less_often_still_brackets_windows(tmp_path):
    gpu = SimGpu.create(tmp_path / "state", 1, settle_s=0.0)
    gpu.set_load(0, 0.5, 0.5)  # constant power: interpolation between reads is exact
    with TelemetrySampler(gpu, period_s=0.01, energy_period_s=0.05) as sampler:
        time.sleep(0.02)
        before = gpu.sample(0)
        time.sleep(0.4)
        after = gpu.sample(0)
    frame = sampler.frame()
    read = frame["energy_mj"].notna()
    assert 0.1 < read.mean() < 0.5  # about every 5th tick, plus the first and the last
    assert read.iloc[0] and read.iloc[-1]
    w = window_energy(frame, before.t_mono, after.t_mono)
    truth_j = (after.energy_mj - before.energy_mj) / 1000.0
    assert w.energy_j == pytest.approx(truth_j, rel=0.01)


def snapshot_frame(seed: int, *, jitter_w: float = 120.0) -> pd.DataFrame:
    """H100-like telemetry: the real power jumps every 10 ms around 350 W; the counter and
    the "instant" power both update every 100 ms, the latter as a snapshot of that moment
    (held until the next update); sampled every 20 ms."""
    rng = np.random.default_rng(seed)
    fine = np.arange(0, 12.0001, 0.01)
    true_w = 350.0 + jitter_w * rng.standard_normal(len(fine))
    energy = np.concatenate(([0.0], np.cumsum(true_w[:-1] * 0.01))) * 1000.0
    t = np.arange(0, 12.0001, 0.02)
    update = np.floor(t / 0.1 + 1e-9) * 0.1
    idx = np.minimum(np.round(update / 0.01).astype(int), len(fine) - 1)
    frame = make_frame(t, true_w[idx])
    frame["energy_mj"] = energy[idx]
    return frame


def test_integral_noise_predicts_the_disagreement_of_snapshot_power():
    runs = [window_energy(snapshot_frame(seed), 1.03, 11.05) for seed in range(40)]
    spread = np.std([w.disagreement for w in runs])
    predicted = np.median([w.integral_noise for w in runs])
    assert 0.6 < predicted / spread < 1.6
    # and it scales as 1/sqrt(window): a window 4x shorter is ~2x noisier
    short = np.median([window_energy(snapshot_frame(s), 1.03, 3.53).integral_noise
                       for s in range(10)])
    assert 1.5 < short / predicted < 2.7


def test_steady_power_has_little_integral_noise():
    w = window_energy(snapshot_frame(0, jitter_w=1.0), 1.03, 11.05)
    assert w.integral_noise < 0.0003 and abs(w.disagreement) < 0.001
    # no power update inside the window: nothing to estimate the noise from
    assert np.isnan(window_energy(snapshot_frame(0, jitter_w=0.0), 1.03, 11.05).integral_noise)
