import math

import pytest
from synthetic_records import make_record

from greenllm.errors import ConfigError
from greenllm.load.client import records_to_frame
from greenllm.load.metrics import compute_metrics
from greenllm.search.slo import Slo, baseline_from, meets_slo, slo_verdict


def alone_frame():
    # Ten requests sent alone: TTFT 10..19 ms, TBT 2 ms except request 9 at 4 ms.
    return records_to_frame([
        make_record(i, send_s=float(i), ttft_s=0.010 + 0.001 * i,
                    chunk_gaps_s=[0.004 if i == 9 else 0.002] * 9)
        for i in range(10)
    ])


def test_baseline_is_scale_times_the_alone_percentiles():
    slo = baseline_from(alone_frame(), scale=5, percentile=50)
    assert slo.baseline_ttft_s == pytest.approx(0.0145)
    assert slo.ttft_s == pytest.approx(5 * 0.0145)
    assert slo.baseline_tbt_s == pytest.approx(0.002) and slo.tbt_s == pytest.approx(0.010)
    p99 = baseline_from(alone_frame(), scale=2, percentile=99)
    assert p99.baseline_tbt_s == pytest.approx(0.004) and p99.tbt_s == pytest.approx(0.008)
    d = slo.to_dict()
    assert d["baseline"] == {"ttft_s": slo.baseline_ttft_s, "tbt_s": slo.baseline_tbt_s}
    assert (d["percentile"], d["scale"]) == (50, 5)


def test_baseline_without_success_or_gaps_is_an_error():
    failed = records_to_frame([make_record(0, 0.0, 0.1, [], ok=False)])
    with pytest.raises(ConfigError, match="no successful request"):
        baseline_from(failed, scale=5, percentile=90)
    one_token = records_to_frame([make_record(0, 0.0, 0.1, [])])
    with pytest.raises(ConfigError, match="inter-token gap"):
        baseline_from(one_token, scale=5, percentile=90)
    with pytest.raises(ConfigError):
        baseline_from(alone_frame(), scale=0, percentile=90)
    with pytest.raises(ConfigError):
        Slo(ttft_s=0.1, tbt_s=0.01, percentile=150)


def test_meets_slo_checks_latency_failures_and_sustained_rate():
    slo = Slo(ttft_s=0.05, tbt_s=0.005, percentile=90)

    def frame(ttft=0.01, gap=0.002, fail_last=False, response_every=0.1):
        return records_to_frame([
            make_record(i, send_s=0.1 * i, ttft_s=ttft + (response_every - 0.1) * i,
                        chunk_gaps_s=[gap] * 5, ok=not (fail_last and i == 19))
            for i in range(20)
        ])

    assert meets_slo(compute_metrics(frame()), slo)
    slow_first = slo_verdict(compute_metrics(frame(ttft=0.08)), slo)
    assert not slow_first.ok and "TTFT p90" in slow_first.reasons[0]
    assert not meets_slo(compute_metrics(frame(gap=0.008)), slo)
    assert "1 failed requests" in slo_verdict(compute_metrics(frame(fail_last=True)), slo).reasons
    # Responses every 0.125 s for requests offered every 0.1 s: 80 % achieved.
    lagging = slo_verdict(compute_metrics(frame(ttft=0.0, response_every=0.1025)), slo)
    assert lagging.ok  # 97.6 % of the offered rate is sustained
    behind = slo_verdict(compute_metrics(frame(ttft=0.0, response_every=0.125)), slo)
    assert not behind.ok and behind.achieved_fraction == pytest.approx(0.8)
    assert math.isfinite(behind.ttft_s)


def test_stored_summaries_are_judged_like_live_metrics():
    from greenllm.load.metrics import summarize

    frames = [alone_frame(), records_to_frame([
        make_record(i, send_s=0.1 * i, ttft_s=0.01, chunk_gaps_s=[0.002 if i % 3 else 0.009] * 5)
        for i in range(20)])]
    for pct in (90, 95):
        slo = Slo(ttft_s=0.018, tbt_s=0.008, percentile=pct)
        for frame in frames:
            live = meets_slo(compute_metrics(frame), slo)
            assert meets_slo(summarize(frame, slo=slo), slo) == live
    # A plain summary holds p50/p90/p99 only.
    assert meets_slo(summarize(frames[1]), Slo(ttft_s=1, tbt_s=1, percentile=90))
    with pytest.raises(ConfigError, match="p95"):
        meets_slo(summarize(frames[1]), Slo(ttft_s=1, tbt_s=1, percentile=95))
