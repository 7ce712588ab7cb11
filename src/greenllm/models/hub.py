"""A Hugging Face hub snapshot of the files vLLM needs, and nothing more.

Config and tokenizer always; weights only for ``load_format=real`` (a dummy-weight run
of Llama-2-70B would otherwise download 140 GB it never reads). The token comes from
the environment (``HF_TOKEN``) or a stored ``hf auth login`` through huggingface_hub's
own lookup; greenllm never reads, prints or logs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from greenllm.errors import GreenllmError

CONFIG_PATTERNS: tuple[str, ...] = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",  # sentencepiece (Llama-2)
    "special_tokens_map.json",
)
# safetensors only: hub Llama repos carry the same weights again as *.bin (pickles).
WEIGHT_PATTERNS: tuple[str, ...] = ("*.safetensors", "model.safetensors.index.json")


def allow_patterns(weights: bool) -> list[str]:
    return list(CONFIG_PATTERNS) + (list(WEIGHT_PATTERNS) if weights else [])


def snapshot(repo_id: str, dest: Path, revision: str | None, weights: bool) -> Path:
    """Download ``repo_id`` (at ``revision``) into ``dest``; resumes a partial download.

    Any failure (no network, gated repo without a token, unknown repo or revision) is
    one ``GreenllmError`` line.
    """
    import huggingface_hub
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    # Read here rather than at import (huggingface_hub.constants): a mirror set in the
    # environment after start-up still counts.
    endpoint = os.environ.get("HF_ENDPOINT") or None
    where = f"{repo_id}@{revision or 'main'} from {endpoint or 'https://huggingface.co'}"
    try:
        path = huggingface_hub.snapshot_download(
            repo_id,
            revision=revision,
            local_dir=dest,
            allow_patterns=allow_patterns(weights),
            endpoint=endpoint,
        )
    except GatedRepoError:
        raise GreenllmError(
            f"cannot download {where}: the repo is gated; accept its licence on the hub and "
            "export HF_TOKEN (or use model.source builtin: dummy weights need no download)"
        ) from None
    except RepositoryNotFoundError:
        raise GreenllmError(
            f"cannot download {where}: no such repo, or it is private and HF_TOKEN is unset"
        ) from None
    except RevisionNotFoundError:
        raise GreenllmError(f"cannot download {where}: no such revision") from None
    except LocalEntryNotFoundError:
        raise GreenllmError(
            f"cannot download {where}: hub unreachable and no local copy "
            "(check the network, or use model.source builtin/local to work offline)"
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        # str(exc) may quote a URL, never the Authorization header.
        raise GreenllmError(f"cannot download {where}: {' '.join(str(exc).split())}") from None
    return Path(path)
