"""The simulator's prediction of an instance's max throughput under an SLO.

``greenllm measure`` starts a cell's max-throughput search from it where no neighbouring
clock has been measured yet (``measure.warm_prior``). The prediction is the simulator's,
whatever engine kind measures, and the simulator belongs to the engine layer
(ARCHITECTURE.md: ``measure`` picks an engine kind and never reaches into ``sim``), so
``measure`` asks here.

The model is a built-in shape (``config/measure/model/*.yaml``) on the simulator's
calibrated H100, probed as the paper preset's search probes (150 requests, 10-90 s
windows; ``config/measure/search/paper.yaml``): a starting point, not a measurement.
"""

from __future__ import annotations

# config/measure/search/paper.yaml: requests_per_probe, probe_min/max_duration_s
PAPER_PROBE = (150, 10.0, 90.0)


def predicted_max_rate(model: str, tp: int, max_batch: int, input_tokens: int,
                       output_tokens: int, clock_mhz: int | None, ttft_s: float,
                       tbt_s: float, percentile: float) -> float | None:
    """The simulator's max rate (req/s) under the SLO (virtual time, well under a
    second); None for a model without a built-in shape, or one the simulator cannot
    place."""
    from greenllm.load.shapes import SHAPES

    if model not in SHAPES:
        return None
    from greenllm.sim.hardware import GpuPerfSpec
    from greenllm.sim.model_shape import ModelShape
    from greenllm.sim.perf_model import PerfModel
    from greenllm.sim.virtual_load import (
        ProbeSizing,
        SloSpec,
        VirtualInstance,
        max_rate_under_slo,
    )

    try:
        perf = PerfModel(ModelShape.from_dims(SHAPES[model], model), GpuPerfSpec.h100_sxm(), tp)
        inst = VirtualInstance(perf, max_batch, clock_mhz=clock_mhz)
        rate, _ = max_rate_under_slo(inst, input_tokens, output_tokens,
                                     SloSpec(ttft_s, tbt_s, percentile),
                                     ProbeSizing(*PAPER_PROBE), start_rps=max(0.1, 0.25 * max_batch))
    except Exception:  # a shape the simulator cannot run: no prediction
        return None
    return rate or None
