"""Atomic file writes: a reader (or a crash) never sees half a file.

Each writer writes to a temporary file in the destination's directory, flushes and
fsyncs it, then renames it over the destination (``os.replace`` is atomic on POSIX
within one filesystem).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(dest: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it is renamed to ``dest``.

    Use for writers that want a path (e.g. ``DataFrame.to_parquet``, ``savefig``).
    ``suffix`` keeps the extension for writers that infer the format from it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix or ".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.filename is None:  # e.g. ENOSPC from write(): say which file it was
            exc.filename = str(dest)
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(dest: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: str | os.PathLike[str], text: str) -> None:
    write_bytes(dest, text.encode())


def write_json(dest: str | os.PathLike[str], obj: Any) -> None:
    """Write JSON (sorted keys, indented) atomically; NaN and inf become ``null``.

    JSON has no NaN; a metric that does not exist (e.g. TBT of a 1-token output) is null.
    """
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, allow_nan=False, default=_jsonable)
    write_text(dest, text + "\n")


def write_parquet(dest: str | os.PathLike[str], frame: Any) -> None:
    """Write a pandas DataFrame as parquet atomically."""
    with atomic_path(dest, suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and hasattr(obj, "dtype"):  # numpy scalar
        return _finite(obj.item())
    return obj


def _jsonable(obj: Any) -> Any:
    # numpy scalars and paths show up in summaries; make them plain JSON values.
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
