"""greenllm: energy, latency and throughput of LLM inference under GPU clock, workload,
tensor-parallel degree and batch size, reproducing *Towards Greener LLMs*."""

__version__ = "0.1.0"
