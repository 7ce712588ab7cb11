"""Generated markdown blocks that live between two markers of a hand-written doc.

The calibration check and the clock sweep print a table and, with ``--out``, rewrite
only the part of a doc between their markers, so the prose around it stays hand-written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from greenllm.atomic import write_text
from greenllm.errors import ConfigError

BEGIN_MARKER = "<!-- calibration-check:begin -->"
END_MARKER = "<!-- calibration-check:end -->"


def write_into(path: Path, block: str, begin_marker: str = BEGIN_MARKER,
               end_marker: str = END_MARKER) -> None:
    """Replace the text between the markers of ``path`` (or write the block alone)."""
    if path.is_file():
        text = path.read_text()
        begin, end = text.find(begin_marker), text.find(end_marker)
        if begin >= 0 and end > begin:
            new = text[:begin + len(begin_marker)] + "\n" + block + text[end:]
            write_text(path, new)
            return
    write_text(path, f"{begin_marker}\n{block}{end_marker}\n")


def emit(text: str, out: str | None, label: str, begin_marker: str = BEGIN_MARKER,
         end_marker: str = END_MARKER) -> None:
    """Print a generated markdown block; with ``out``, also write it between the markers."""
    print(text, end="")
    if out:
        write_into(Path(out), text, begin_marker, end_marker)
        print(f"{label}: wrote {out}", file=sys.stderr)


def check_out(out: str | None) -> None:
    """Fail before the work when ``--out`` cannot be written."""
    if out and not Path(out).resolve().parent.is_dir():
        raise ConfigError(f"--out {out}: folder {Path(out).resolve().parent} does not exist")
