"""The CLI's one error boundary: every expected failure becomes one line and an exit code.

Exit codes (docs/measure.md, README):

====  ==========================================================================
0     success
1     a bug in greenllm (the traceback is shown: please report it)
2     bad input or environment: config, model folder, output folder, GPU list, clock
      permission, engine missing or failed to start (``GreenllmError``), a YAML file
      that does not parse; the validation pass (``--check``) prints every problem
3     ``greenllm measure``: the engine died during the run (finished cells are kept)
4     operating-system error: permission denied, read-only file system, disk full
5     another greenllm run holds the output folder or a GPU (the lock's holder is named)
128+N stopped by signal N (130 = SIGINT/Ctrl-C, 143 = SIGTERM); clocks are restored
====  ==========================================================================

``--debug`` (any position) or ``GREENLLM_DEBUG=1`` re-raises instead, so the traceback
shows.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Callable

from greenllm.errors import GreenllmError

EXIT_BUG = 1
EXIT_INPUT = 2
EXIT_ENGINE_DIED = 3
EXIT_OS = 4
EXIT_LOCKED = 5
EXIT_SIGNAL_BASE = 128

_OS_HINTS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
}
_OS_ADVICE = {
    errno.ENOSPC: "free space or write elsewhere; finished cells are kept and a rerun resumes",
    errno.EDQUOT: "free space or write elsewhere; finished cells are kept and a rerun resumes",
    errno.EROFS: "choose a writable folder (out_dir=...)",
    errno.EACCES: "choose a folder you may write, or fix its permissions",
    errno.EPERM: "choose a folder you may write, or fix its permissions",
}


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("GREENLLM_DEBUG", "") not in ("", "0")


def os_error_line(exc: OSError) -> str:
    what = _OS_HINTS.get(exc.errno or -1) or exc.strerror or type(exc).__name__
    where = exc.filename
    line = f"{what}: {where}" if where else what
    if exc.filename2:
        line += f" -> {exc.filename2}"
    advice = _OS_ADVICE.get(exc.errno or -1)
    return f"{line} ({advice})" if advice else line


def yaml_error_line(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return (f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: "
                f"YAML does not parse: {problem}")
    return f"YAML does not parse: {problem}"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _clock_status() -> str:
    from greenllm.gpu.pinning import restore_status

    return restore_status()


def say(line: str) -> None:
    print(f"greenllm: error: {' '.join(str(line).split())}", file=sys.stderr, flush=True)


def run_guarded(func: Callable[[], int], debug: bool) -> int:
    """Call ``func``; turn every expected failure into one line and its exit code."""
    import yaml

    try:
        return int(func() or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"greenllm: stopped by SIGINT (Ctrl-C); {_clock_status()}", file=sys.stderr)
        return EXIT_SIGNAL_BASE + signal.SIGINT
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if EXIT_SIGNAL_BASE < code <= EXIT_SIGNAL_BASE + 64:
            print(f"greenllm: stopped by {signal_name(code - EXIT_SIGNAL_BASE)}; "
                  f"{_clock_status()}", file=sys.stderr)
        elif exc.code is not None and not isinstance(exc.code, int):
            say(str(exc.code))  # sys.exit("message")
        return code
    except GreenllmError as err:
        if debug:
            raise
        for line in getattr(err, "problems", None) or [str(err)]:
            say(line)  # the validation pass reports every problem, one line each
        return int(getattr(err, "exit_code", EXIT_INPUT))
    except OSError as err:
        if debug:
            raise
        say(os_error_line(err))
        return EXIT_OS
    except yaml.YAMLError as err:
        if debug:
            raise
        say(yaml_error_line(err))
        return EXIT_INPUT
