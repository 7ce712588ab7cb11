"""The paper's quantitative statements (§IV) as a list: each claim's quote, the paper's
value, the criterion its verdict follows, the figures whose rows it uses, and its check
(``greenllm.analysis.paper_claims``). ``greenllm.analysis.claims`` evaluates them.
"""

from __future__ import annotations

from greenllm.analysis.claim_helpers import Claim
from greenllm.analysis.paper_claims import (
    batch64_vs_batch4_throughput,
    batch_lower_clock_same_throughput,
    half_clock_ss_throughput,
    low_load_smaller_batch_energy,
    power_cut_without_cost,
    tbt_response_same_for_all_lengths,
    tp2_energy_vs_tp8,
    tp2_to_tp4_throughput,
    tp4_to_tp8_throughput,
    ttft_sensitivity_grows_with_prompt,
)

_TOL = "within ±10 percentage points of"

CLAIMS: tuple[Claim, ...] = (
    Claim("ss_half_clock_throughput",
          "The small input and small output setup achieves the highest throughput and reducing "
          "the frequency by half, only reduces the throughput by 20%.",
          "−20 % max throughput (S-S, clock halved)",
          f"loss of max throughput under SLO from the highest clock to half of it {_TOL} 20 %",
          "fig03", half_clock_ss_throughput),
    Claim("power_20pct_no_cost",
          "Comparing Figure 4 with Figures 1, 2 and 3 shows that we can achieve 20% lower power "
          "for most configurations without any impact to the latency or throughput.",
          "≥ 20 % lower max power at no latency/throughput cost, most workloads",
          "more than half the workloads have a clock whose max power is ≥ 20 % below the "
          "highest clock's with p50 TTFT and TBT at most 5 % higher and max throughput at most "
          "5 % lower", "fig01, fig02, fig03, fig04", power_cut_without_cost),
    Claim("ttft_sensitivity_grows_with_prompt",
          "we see a clear pattern, where the TTFT gets increasingly impacted by frequency and "
          "lowering as the prompt length increases.",
          "TTFT slowdown at low clock grows with input length",
          "TTFT(lowest clock)/TTFT(highest clock), median over output lengths, strictly "
          "increases with input length", "fig01", ttft_sensitivity_grows_with_prompt),
    Claim("tbt_response_same_for_all_lengths",
          "growing the input or output length has an imperceptible impact on the TBT’s "
          "frequency response (Figure 2).",
          "same TBT clock response for every workload",
          "TBT(lowest clock)/TBT(highest clock) of all workloads within 10 % of their median "
          "((max − min)/median ≤ 10 %)", "fig02", tbt_response_same_for_all_lengths),
    Claim("tp2_to_tp4_throughput",
          "the increase in throughput going from TP2 to TP4 is much higher (75%) compared to "
          "the increase from TP4 to TP8 (40%).",
          "+75 % max throughput (TP2 → TP4)",
          f"max throughput gain at the highest common clock {_TOL} 75 %", "fig08",
          tp2_to_tp4_throughput),
    Claim("tp4_to_tp8_throughput",
          "the increase in throughput going from TP2 to TP4 is much higher (75%) compared to "
          "the increase from TP4 to TP8 (40%).",
          "+40 % max throughput (TP4 → TP8)",
          f"max throughput gain at the highest common clock {_TOL} 40 %", "fig08",
          tp4_to_tp8_throughput),
    Claim("tp2_energy_vs_tp8",
          "the normalized total energy for TP2 is only 40% lower than TP8, which being able to "
          "serve only 60% fewer requests.",
          "energy −40 % while serving −60 % requests (TP2 vs TP8)",
          f"total energy for the same requests {_TOL} 40 % below TP8's and max throughput "
          f"{_TOL} 60 % below TP8's (medium load, highest common clock)", "fig10, fig08",
          tp2_energy_vs_tp8),
    Claim("batch64_vs_batch4_throughput",
          "under SLOs, a batch size of 64 has only 7 higher throughput than a batch size of 4.",
          "“only 7 higher” (unit lost in the paper: 7 %? 7×?)",
          "none: the paper's number is garbled, so only the measured value is reported",
          "fig13", batch64_vs_batch4_throughput),
    Claim("low_load_smaller_batch_energy",
          "during phases of lower throughput needs in a service, reduce the maximum batch size "
          "can reduce consumed energy by up to 15%.",
          "up to −15 % energy (smaller max batch, low load)",
          f"largest saving in energy per request of a smaller max batch vs the largest, at the "
          f"same clock and low load, {_TOL} 15 %", "fig15", low_load_smaller_batch_energy),
    Claim("batch_lower_clock_same_throughput",
          "For most batch sizes, running the GPUs at instead of yields about the same "
          "throughput at less than 80% of the energy.",
          "same throughput at < 80 % of the energy (read as 1.6 GHz instead of ~2 GHz)",
          "more than half the batch sizes keep ≥ 95 % of the max throughput at the clock "
          "nearest 1.6 GHz vs the one nearest 2 GHz, with < 80 % of its energy per request "
          "(medium load)", "fig13, fig15", batch_lower_clock_same_throughput),
)
