# Settings and helpers of workflow/rules/plans.smk (functions live apart from rules:
# snakemake --lint asks for that).

PLANS_DIR = f"{RESULTS}/plans"
PLAN_TRACES = {
    "azure-conv": "data/traces/AzureLLMInferenceTrace_conv.csv",
    "azure-code": "data/traces/AzureLLMInferenceTrace_code.csv",
}
# The conversation trace at its full rate is beyond one 8-GPU node's SLO capacity in 5 of
# its 12 windows (SIMULATED cells): plan that node for half of it (the plan says so).
PLAN_RATE_SCALE = {"azure-conv": 0.5, "azure-code": 1.0}
PLANS = {
    # the grid the planner chooses from (paper: Llama-2-70B on a node of 8 H100s)
    "model": "llama2-70b", "tps": [2, 4, 8], "max_batches": [32, 64],
    "clocks": [1000, 1400, 1980], "repeats": 3, "n_gpus": 8, "window_s": 300,
    # the paper's buckets plus 2048-token prompts (the traces' prompts are longer)
    "workloads": "S-S,S-M,M-S,M-M,M-L,L-S,L-M,L-L,XL-S:2048:50,XL-M:2048:128,XL-L:2048:256",
    # the replays: one hour in one minute, thinned to keep the per-second rate
    "replay": {"tp": 8, "max_batch": 64, "time_scale": 60, "rate_scale": 1 / 60,
               "period_s": 1.0},
}


def PLANS_TABLES(wildcards=None):
    return [f"{PLANS_DIR}/grid/tp{tp}_b{b}.parquet"
            for tp in PLANS["tps"] for b in PLANS["max_batches"]]


def _rate_scale(trace, replay=False):
    r = PLANS["replay"]
    return PLAN_RATE_SCALE[trace] * (r["rate_scale"] if replay else 1.0)


def _recommend_args(trace, replay=False):
    r = PLANS["replay"]
    args = (f"--trace {PLAN_TRACES[trace]} --n-gpus {PLANS['n_gpus']}"
            f" --window-s {PLANS['window_s']} --replay-instance {r['tp']},{r['max_batch']}"
            f" --rate-scale {_rate_scale(trace, replay):.6g}")
    if replay:
        args += f" --time-scale {r['time_scale']}"
    return args
