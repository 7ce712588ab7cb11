"""Errors a user can act on.

Every problem caused by input (config, workload, clock, TP degree, model folder, port)
or by the environment (no GPU, no permission, server died) is raised as a
``GreenllmError`` with a one-line message. The CLI prints ``greenllm: error: <message>``
and exits 2 instead of showing a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GreenllmError(Exception):
    """A user-facing error; ``str(err)`` is one line that says what to fix."""

    def __init__(self, message: str):
        # One line only: multi-line details (e.g. a server log tail) go to a file or to
        # ``details`` so that Snakemake logs and terminals show a single readable line.
        first, _, rest = str(message).partition("\n")
        super().__init__(first)
        self.details = rest


class ConfigError(GreenllmError):
    """The configuration is malformed or names something that does not exist."""


class GpuError(GreenllmError):
    """A GPU could not be read or set (no GPU, unsupported clock, no permission)."""


class ClockPermissionError(GpuError):
    """Setting clocks is not permitted for this user (needs root or an admin grant)."""


class EngineError(GreenllmError):
    """The inference server could not start, died, or did not answer."""
