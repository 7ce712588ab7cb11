"""Make the model folder a measure run serves, and record what was made.

* ``builtin``: a weightless folder of a built-in Llama shape (``greenllm.load.shapes``)
  with greenllm's word-level tokenizer, built locally: no hub, no licence click-through
  (gated Llama-2-70B), no network. Served with ``--load-format dummy``.
* ``hub``: a huggingface_hub snapshot (config + tokenizer; weights for ``real``).
* ``local``: an existing folder, checked but not copied (works offline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError, GreenllmError

SOURCES = ("builtin", "hub", "local")
LOAD_FORMATS = ("dummy", "real")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")


@dataclass(frozen=True)
class ModelRequest:
    name: str  # greenllm model id, e.g. llama2-70b
    source: str  # builtin | hub | local
    dest: Path  # the folder to build/download into; for local, the existing folder
    load_format: str = "dummy"  # dummy | real
    repo_id: str | None = None
    revision: str | None = None

    def check(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"model source {self.source!r}: use one of {', '.join(SOURCES)}")
        if self.load_format not in LOAD_FORMATS:
            raise ConfigError(
                f"load format {self.load_format!r}: use one of {', '.join(LOAD_FORMATS)}"
            )
        if self.source == "builtin" and self.load_format == "real":
            raise ConfigError("a builtin model has no weights: use load format dummy")
        if self.source == "hub" and not self.repo_id:
            raise ConfigError("source hub needs a repo id (--repo-id)")


def check_folder(path: Path, weights: bool) -> list[str]:
    """The folder's files; ConfigError if vLLM could not serve it."""
    if not path.is_dir():
        raise ConfigError(f"model folder {path} does not exist")
    files = sorted(p.name for p in path.iterdir() if p.is_file())
    if "config.json" not in files:
        raise ConfigError(f"model folder {path} has no config.json")
    if not any(name in files for name in TOKENIZER_FILES):
        raise ConfigError(
            f"model folder {path} has no tokenizer ({' or '.join(TOKENIZER_FILES)})"
        )
    if weights and not any(n.endswith((".safetensors", ".bin")) for n in files):
        raise ConfigError(
            f"model folder {path} has no weights (*.safetensors/*.bin) for load format real"
        )
    return files


def prepare_model(req: ModelRequest) -> dict[str, Any]:
    """Build, download or check the folder; return a JSON-able record of it."""
    req.check()
    weights = req.load_format == "real"
    dest = Path(req.dest)
    if req.source == "builtin":
        from greenllm.load.model_folder import build_model_folder
        from greenllm.load.shapes import SHAPES

        if req.name not in SHAPES:
            raise ConfigError(
                f"no built-in shape {req.name!r} (built in: {', '.join(SHAPES)}); "
                "use source hub or local"
            )
        build_model_folder(dest, dict(SHAPES[req.name]), req.name)
    elif req.source == "hub":
        from greenllm.models.hub import snapshot

        snapshot(str(req.repo_id), dest, req.revision, weights)
    files = check_folder(dest, weights)
    if req.source == "hub" and weights and not any(f.endswith(".safetensors") for f in files):
        raise GreenllmError(f"{req.repo_id} has no *.safetensors weights to download")
    return {
        "name": req.name,
        "source": req.source,
        "path": str(dest),
        "load_format": req.load_format,
        "repo_id": req.repo_id,
        "revision": req.revision,
        "files": files,
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
