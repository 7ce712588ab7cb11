"""benchmarks/window_prefix.py: a shorter window's latency bias, read inside full windows.

Hand-made windows check the cut and the arithmetic (prefix p50 against the whole window's,
per window, in log ratio); the committed H100 campaign (request tables of 6 load points x
5 repeats) gives the numbers docs/campaign.md quotes."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from window_prefix import load_point_windows, main, point_rows, prefix_ratios  # noqa: E402

H100_CAMPAIGN = ROOT / "reports/reference/h100-2026-12-05c/campaign/campaign-results.tgz"


def _window(ttft_s: list[float], *, point: str = "r6", gap_s: float = 0.002) -> pd.DataFrame:
    rows = []
    for i, ttft in enumerate(ttft_s):
        send = 0.25 * i
        tokens = [send + ttft + gap_s * k for k in range(5)]
        rows.append({"point": point, "ok": True, "error": "", "scheduled_offset_s": send,
                     "send_s": send, "lateness_s": 0.0, "first_token_s": tokens[0],
                     "last_token_s": tokens[-1], "end_s": tokens[-1], "token_times_s": tokens,
                     "tokens_out": 5})
    return pd.DataFrame(rows)


def test_prefix_against_the_whole_window():
    window = _window([0.010] * 5 + [0.020] * 5)
    r = prefix_ratios(window, 0.5)
    assert r["TTFT p50"] == pytest.approx(math.log(0.010 / 0.015))  # whole p50 of 10 and 20
    assert r["TBT p50"] == pytest.approx(0.0, abs=1e-9)  # the same gaps throughout
    assert prefix_ratios(_window([0.010] * 10), 0.3)["TTFT p50"] == pytest.approx(0.0)


def test_windows_in_send_order_and_probes_left_out():
    frame = pd.concat([_window([0.02, 0.01, 0.03, 0.04], point="r16"),
                       _window([0.5] * 6, point="probe0")]).sample(frac=1.0, random_state=1)
    windows = dict(load_point_windows(frame))
    assert list(windows) == ["r16"]
    assert windows["r16"]["scheduled_offset_s"].is_monotonic_increasing


def test_h100_campaign_first_halves_read_the_whole_windows_ttft():
    """On the lent H100 (2026-12-05c, one vLLM start) the first half of a 32-156-request
    window reads TTFT p50 within 5 % of the whole window at every load point; M-M, the
    workload of the same-rate arms, within 2.5 %. Not the 8-12 % lower latency the
    half-length windows of a separate start read (reports/reference/h100-2026-12-08-half-windows)."""
    rows = {(r["workload"], r["point"], r["metric"]): r for r in point_rows([H100_CAMPAIGN], 0.5)}
    assert len(rows) == 12
    assert all(r["windows"] == 5 for r in rows.values())
    for (workload, _, _), r in rows.items():
        assert abs(r["shift"]) < 0.05
        if workload == "M-M":
            assert abs(r["shift"]) < 0.025
    assert rows[("M-M", "medium", "TTFT p50")]["shift"] == pytest.approx(0.024, abs=0.001)


def test_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit, match="2"):
        main([str(H100_CAMPAIGN), "--fraction", "1.5"])
    assert "--fraction must lie in (0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no cells/.*requests"):
        main([str(tmp_path)])


def test_h100_six_starts_first_half_of_a_window_reads_its_ttft():
    """reports/reference/h100-2026-12-08b-starts, the three full-window starts: the first 30
    of 60 requests read TTFT p50 +1.0 % and +3.3 % against the whole window (15 windows
    pooled), TBT within 0.2 %, where one start per arm had read half windows 8-12 % lower."""
    starts = ROOT / "reports/reference/h100-2026-12-08b-starts"
    raws = [starts / f"h100_llama-1b_tp1_b64_arm_{a}" for a in ("exact", "exact2", "exact3")]
    rows = {(r["point"], r["metric"]): r for r in point_rows(raws, 0.5)
            if r["run"] == "pooled (3 runs)"}
    assert {r["windows"] for r in rows.values()} == {15}
    assert rows[("r6", "TTFT p50")]["shift"] == pytest.approx(0.010, abs=0.001)
    assert rows[("r16", "TTFT p50")]["shift"] == pytest.approx(0.033, abs=0.001)
    for point in ("r6", "r16"):
        assert abs(rows[(point, "TBT p50")]["shift"]) < 0.003
        assert abs(rows[(point, "TTFT p50")]["t"]) < 2.0
