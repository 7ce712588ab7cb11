"""The measurement run (``greenllm measure`` / ``python -m greenllm.measure``)."""
