"""Prompts of an exact token count, sent as text (the default) or as token ids.

Text is what users' clients and ``vllm bench serve`` send: the server tokenizes it, and
that work is part of the TTFT a user sees (on the H200 a token-id client read TTFT
~30 % lower than ``vllm bench serve``: docs/load.md, "Text or token ids"). A text prompt
here is the words ``t<id>`` of greenllm's word-level tokenizer (``load.model_folder``),
one token per word, so its length is exact too. vLLM's ``/v1/completions`` also accepts
``prompt`` as a list of token ids and feeds them to the model unchanged (no BOS added, no
re-tokenisation): exact whatever the tokenizer, but it skips the server's tokenization. Ids below ``FIRST_ORDINARY_ID`` are the special tokens of greenllm's
word-level tokenizer (0 unk, 1 bos, 2 eos) and are never used. Every request draws its own
random ids, so two prompts share a prefix block with negligible probability and prefix
caching cannot shorten a prefill.
"""

from __future__ import annotations

import numpy as np

from greenllm.errors import ConfigError
from greenllm.load.model_folder import token_word

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


PROMPT_FORMATS = ("text", "token_ids")
# Text prompts draw ids below this bound, so each word ("t999 ") has at most 5 characters:
# vLLM 0.26 rejects a text prompt longer than 6 characters per token of the room left in
# the context before it tokenizes (seen on the H200: a 1024-token prompt of "t31999"-long
# words was refused with max_model_len 1296).
TEXT_ID_LIMIT = 1000


def prompt_text(ids: np.ndarray) -> str:
    """The text whose word-level tokenization is exactly ``ids`` (``t<id>`` words)."""
    return " ".join(token_word(int(i)) for i in ids)


def check_prompt_format(prompt_format: str) -> str:
    if prompt_format not in PROMPT_FORMATS:
        raise ConfigError(f"prompt_format must be one of {', '.join(PROMPT_FORMATS)}, "
                          f"got {prompt_format!r}")
    return prompt_format
