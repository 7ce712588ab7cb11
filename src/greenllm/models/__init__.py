"""Model folders for ``greenllm measure``: built from a built-in shape, snapshotted from
the Hugging Face hub, or an existing local folder (``greenllm download``)."""

from greenllm.models.prepare import ModelRequest, prepare_model

__all__ = ["ModelRequest", "prepare_model"]
