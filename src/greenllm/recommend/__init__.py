"""Operating plans from measured cells (docs/planner.md): ``greenllm recommend``, the
clock policies a trace replay applies, and the comparison of replays with predictions."""
