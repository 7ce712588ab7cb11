"""greenllm deletes or replaces only what it created itself, proven by a marker it wrote.

Three kinds of things greenllm writes into places a user names:

* **model folders** (``model.path``, ``greenllm download --dest``): a folder greenllm
  built carries ``greenllm_model.json`` listing the files it wrote. Rebuilding it is
  allowed only while the folder holds nothing else; any other folder without
  ``config.json`` is the user's (weights, tokenizer, notes) and is never touched.
* **results folders** (``out_dir``): greenllm writes ``.greenllm-owned`` when it creates
  the folder (or adopts an empty one). A folder with other content and no marker is
  refused; a results folder of an older greenllm (``instance.json``/``manifest.json``
  that greenllm wrote, with an ``instance_id``) is adopted.
* **report files** (``greenllm figure --out``, ``greenllm claims --out``): the folder's
  ``.greenllm-owned`` lists the files greenllm wrote there; an existing file not on that
  list is not replaced.

Every refusal is an ``OwnershipError``: one line saying what was found and what to do.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from greenllm import atomic
from greenllm.errors import GreenllmError

MARKER = ".greenllm-owned"
MODEL_MARKER = "greenllm_model.json"  # written by load.model_folder.build_model_folder
_LEGACY_RESULT_FILES = ("instance.json", "manifest.json")
# Everything a results folder of greenllm before markers could hold (measure/run.py):
# a folder of only these is an older run's, e.g. one stopped before instance.json.
_RESULT_NAMES = {"instance.json", "manifest.json", "simgpu.state", "engine.log", "baseline",
                 "cells", MARKER, ".greenllm.lock"}


class OwnershipError(GreenllmError):
    """A path holds files greenllm did not create; greenllm will not replace them."""


def listing(path: Path, limit: int = 4) -> str:
    """A short, sorted listing of a folder's entries for an error message."""
    names = sorted(p.name for p in path.iterdir())
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} entries)" if len(names) > limit else "")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# --- model folders ----------------------------------------------------------------------

def model_folder_files(path: Path) -> set[str] | None:
    """The files greenllm wrote into a model folder it built, or None if it built none."""
    record = _read_json(path / MODEL_MARKER)
    if not isinstance(record, dict):
        return None
    files = record.get("files")
    if isinstance(files, list):
        return {str(f) for f in files} | {MODEL_MARKER}
    # Folders built before the marker listed its files: greenllm's fixed set.
    return {"config.json", "generation_config.json", "tokenizer_config.json",
            "special_tokens_map.json", "tokenizer.json", MODEL_MARKER}


def check_model_folder_replaceable(path: str | os.PathLike[str], key: str = "model.path") -> None:
    """Raise unless ``path`` is absent, empty, or a folder greenllm built and nobody added to."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise OwnershipError(
            f"{key} {path} is a file, not a model folder: point {key} at a model folder "
            "(config.json + tokenizer) or at a new folder greenllm may build")
    entries = {p.name for p in path.iterdir()}
    if not entries:
        return
    ours = model_folder_files(path)
    if ours is None:
        raise OwnershipError(
            f"{key} {path} has no config.json and holds files greenllm did not create "
            f"({listing(path)}); greenllm never replaces them: point {key} at a complete "
            "model folder (config.json + tokenizer) or at a new or empty folder")
    foreign = sorted(entries - ours)
    if foreign:
        raise OwnershipError(
            f"{key} {path} was built by greenllm but now also holds {', '.join(foreign[:4])}; "
            "greenllm will not rebuild it: move those files out or use a new folder")


# --- results folders --------------------------------------------------------------------

def _foreign_entries(path: Path) -> list[str]:
    # A marker being written right now (its atomic temp file) is greenllm's too.
    return [p.name for p in path.iterdir() if not p.name.startswith(f"{MARKER}.")]


def _owned_results(path: Path) -> bool:
    if (path / MARKER).is_file():
        return True
    if set(_foreign_entries(path)) <= _RESULT_NAMES:
        return True
    for name in _LEGACY_RESULT_FILES:
        record = _read_json(path / name)
        if isinstance(record, dict) and "instance_id" in record:
            return True
    return False


def check_results_folder(path: str | os.PathLike[str], key: str = "out_dir") -> None:
    """Raise unless greenllm may write results into ``path`` (absent, empty, or its own)."""
    path = Path(path)
    if path.is_dir():
        if _foreign_entries(path) and not _owned_results(path):
            raise OwnershipError(
                f"{key} {path} holds files greenllm did not write ({listing(path)}); "
                f"greenllm writes results only into a new or empty folder or one it "
                f"created (marked by {MARKER}): choose another {key}")
    elif path.exists() or path.is_symlink():
        raise OwnershipError(f"{key} {path} exists and is not a folder: choose another {key}")


def claim_results_folder(path: str | os.PathLike[str], key: str = "out_dir") -> Path:
    """Check, create and mark ``path`` as greenllm's results folder; return it."""
    path = Path(path)
    check_results_folder(path, key)
    if not path.exists():
        # Born with its marker: build it beside and rename it into place, so a second
        # run starting at the same moment never sees an unmarked folder.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        atomic.write_json(tmp / MARKER, {"created_by": "greenllm", "kind": "results"})
        try:
            os.rename(tmp, path)
        except OSError:  # someone else made it meanwhile: theirs must pass the check
            shutil.rmtree(tmp, ignore_errors=True)
            check_results_folder(path, key)
    if not (path / MARKER).is_file():
        atomic.write_json(path / MARKER, {"created_by": "greenllm", "kind": "results"})
    return path


# --- report files -----------------------------------------------------------------------

@contextmanager
def _locked_marker(folder: Path) -> Iterator[Path]:
    # Figure jobs run in parallel and each adds its files to the same list.
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{MARKER}.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield folder / MARKER


def owned_report_files(folder: Path) -> set[str]:
    record = _read_json(folder / MARKER)
    if isinstance(record, dict) and isinstance(record.get("files"), list):
        return {str(f) for f in record["files"]}
    return set()


def check_report_files(paths: Iterable[str | os.PathLike[str]], key: str = "--out") -> None:
    """Raise if writing ``paths`` would replace a file greenllm did not write (no writes)."""
    for p in map(Path, paths):
        _check_folder_is_folder(p.parent, key)
        if (p.exists() or p.is_symlink()) and p.name not in owned_report_files(p.parent):
            raise OwnershipError(_not_ours(p, key))


def _not_ours(f: Path, key: str) -> str:
    return (f"{key} {f} already exists and greenllm did not write it (not listed in "
            f"{f.parent / MARKER}); greenllm never replaces it: move it away or choose "
            "another path")


def claim_report_files(paths: Iterable[str | os.PathLike[str]], key: str = "--out") -> None:
    """Refuse to replace an existing file greenllm did not write; record the new ones.

    Call right before writing. A file is greenllm's when the folder's
    ``.greenllm-owned`` lists it (greenllm added it when it first wrote the file).
    """
    by_folder: dict[Path, list[Path]] = {}
    for p in paths:
        p = Path(p)
        by_folder.setdefault(p.parent, []).append(p)
    for folder, files in by_folder.items():
        _check_folder_is_folder(folder, key)
        with _locked_marker(folder) as marker:
            owned = owned_report_files(folder)
            for f in files:
                if (f.exists() or f.is_symlink()) and f.name not in owned:
                    raise OwnershipError(_not_ours(f, key))
            names = sorted(owned | {f.name for f in files})
            atomic.write_json(marker, {"created_by": "greenllm", "kind": "reports",
                                       "files": names})


def _check_folder_is_folder(folder: Path, key: str) -> None:
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise OwnershipError(f"{key}: {parent} is a file, so {folder} cannot be a folder")
            return


def model_marker_files(names: Sequence[str]) -> list[str]:
    """What build_model_folder records as the files it wrote."""
    return sorted({*names, MODEL_MARKER})
