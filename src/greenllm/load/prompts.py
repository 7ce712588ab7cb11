"""Prompts of an exact token count, sent as token ids.

vLLM's ``/v1/completions`` accepts ``prompt`` as a list of token ids and feeds them to the
model unchanged (no BOS added, no re-tokenisation), so the prompt length is exact whatever
the tokenizer. Ids below ``FIRST_ORDINARY_ID`` are the special tokens of greenllm's
word-level tokenizer (0 unk, 1 bos, 2 eos) and are never used. Every request draws its own
random ids, so two prompts share a prefix block with negligible probability and prefix
caching cannot shorten a prefill.
"""

from __future__ import annotations

import numpy as np

from greenllm.errors import ConfigError

FIRST_ORDINARY_ID = 3


def prompt_token_ids(n_tokens: int, vocab_size: int, rng: np.random.Generator) -> list[int]:
    """``n_tokens`` random ids in ``[FIRST_ORDINARY_ID, vocab_size)``."""
    if n_tokens < 1:
        raise ConfigError(f"a prompt needs at least 1 token, got {n_tokens}")
    if vocab_size <= FIRST_ORDINARY_ID:
        raise ConfigError(f"vocab_size must exceed {FIRST_ORDINARY_ID}, got {vocab_size}")
    return rng.integers(FIRST_ORDINARY_ID, vocab_size, size=n_tokens).tolist()


def prompt_token_id_batch(
    n_requests: int, n_tokens: int, vocab_size: int, seed: int
) -> np.ndarray:
    """An ``(n_requests, n_tokens)`` array of prompts: one row per request, seeded."""
    if n_tokens < 1:
        raise ConfigError(f"a prompt needs at least 1 token, got {n_tokens}")
    if vocab_size <= FIRST_ORDINARY_ID:
        raise ConfigError(f"vocab_size must exceed {FIRST_ORDINARY_ID}, got {vocab_size}")
    rng = np.random.default_rng(seed)
    return rng.integers(FIRST_ORDINARY_ID, vocab_size, size=(n_requests, n_tokens))


def prompt_token_id_ragged(lengths: list[int], vocab_size: int, seed: int) -> list[np.ndarray]:
    """One prompt per entry of ``lengths`` (a trace's exact prompt lengths), seeded."""
    if vocab_size <= FIRST_ORDINARY_ID:
        raise ConfigError(f"vocab_size must exceed {FIRST_ORDINARY_ID}, got {vocab_size}")
    if any(k < 1 for k in lengths):
        raise ConfigError(f"a prompt needs at least 1 token, got {min(lengths)}")
    rng = np.random.default_rng(seed)
    flat = rng.integers(FIRST_ORDINARY_ID, vocab_size, size=int(sum(lengths)))
    return np.split(flat, np.cumsum(lengths)[:-1])
