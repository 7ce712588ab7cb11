"""The OpenAI ``/v1/completions`` wire format, as vLLM speaks it, for the simulator.

Parsing turns a request body into prompts (token counts) and options, or raises
``BadRequest`` with vLLM's wording. Streaming chunks are pre-built byte templates so the
per-token work is two concatenations, not a ``json.dumps``: with 64 streams at ~2 ms
iterations the server emits ~30k chunks/s on a 2-core machine shared with the client.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any


class BadRequest(Exception):
    """A request the server answers with an HTTP error (400 unless ``status`` says else)."""

    def __init__(self, message: str, status: int = 400, err_type: str = "BadRequestError"):
        super().__init__(message)
        self.status = status
        self.err_type = err_type

    def body(self) -> bytes:
        return json.dumps(
            {
                "error": {
                    "message": str(self),
                    "type": self.err_type,
                    "param": None,
                    "code": self.status,
                }
            }
        ).encode()


@dataclass(frozen=True)
class CompletionParams:
    prompt_lens: tuple[int, ...]  # one entry per prompt (a batch request has several)
    max_tokens: int
    stream: bool
    include_usage: bool


def count_prompt_tokens(prompt: Any, vocab_size: int) -> int:
    """Tokens in one prompt: words of a string (the ``t<id>`` word-level tokenizer) or ids."""
    if isinstance(prompt, str):
        n = len(prompt.split())
    elif isinstance(prompt, list) and all(type(t) is int for t in prompt):
        n = len(prompt)
        if n and (min(prompt) < 0 or max(prompt) >= vocab_size):
            raise BadRequest(f"Token id out of vocabulary (vocab_size={vocab_size}).")
    else:
        raise BadRequest("prompt must be a string, a list of token ids, or a list of those.")
    if n == 0:
        raise BadRequest("The prompt cannot be empty.")
    return n


def parse_completion(
    body: Any, served_model_name: str, max_model_len: int, vocab_size: int
) -> CompletionParams:
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if model is not None and model != served_model_name:
        raise BadRequest(
            f"The model `{model}` does not exist.", status=404, err_type="NotFoundError"
        )
    if "prompt" not in body:
        raise BadRequest("Field required: prompt")
    prompt = body["prompt"]
    if isinstance(prompt, list) and prompt and all(isinstance(p, (list, str)) for p in prompt):
        prompts = prompt  # a batch: list of strings or list of token-id lists
    else:
        prompts = [prompt]
    lens = tuple(count_prompt_tokens(p, vocab_size) for p in prompts)

    for unsupported, ok in (
        ("n", (None, 1)),
        ("best_of", (None, 1)),
        ("echo", (None, False)),
        ("logprobs", (None,)),
        ("prompt_logprobs", (None,)),
    ):
        if body.get(unsupported) not in ok:
            raise BadRequest(f"`{unsupported}` is not supported by the greenllm simulator.")

    max_tokens = body.get("max_tokens")
    longest = max(lens)
    if max_tokens is None:
        max_tokens = max_model_len - longest  # vLLM's default: fill the context
    if type(max_tokens) is not int or max_tokens < 1:
        raise BadRequest(f"max_tokens must be at least 1, got {max_tokens}.")
    min_tokens = body.get("min_tokens", 0) or 0
    if type(min_tokens) is not int or min_tokens < 0 or min_tokens > max_tokens:
        raise BadRequest(f"min_tokens must be in [0, max_tokens], got {min_tokens}.")
    if longest + max_tokens > max_model_len:
        raise BadRequest(
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {longest + max_tokens} tokens ({longest} in the messages, "
            f"{max_tokens} in the completion). Please reduce the length of the messages or "
            "completion."
        )
    stream = bool(body.get("stream", False))
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise BadRequest("stream_options must be an object.")
    if options and not stream:
        raise BadRequest("Stream options can only be defined when `stream=True`.")
    return CompletionParams(
        prompt_lens=lens,
        max_tokens=max_tokens,
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
    )


def generated_token_id(seed: int, position: int, vocab_size: int) -> int:
    """The simulator's deterministic 'sampling': same prompt length and position, same id."""
    return (seed * 2654435761 + position * 40503 + 7) % vocab_size


class ChunkTemplates:
    """Byte templates of one response's SSE chunks (vLLM's field order and spacing-free JSON)."""

    __slots__ = ("_heads", "created", "last_tail", "model_json", "request_id", "tail")

    def __init__(self, model: str, n_choices: int):
        self.request_id = f"cmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model_json = json.dumps(model)
        prefix = (
            f'data: {{"id":"{self.request_id}","object":"text_completion",'
            f'"created":{self.created},"model":{self.model_json},"choices":[{{"index":'
        ).encode()
        self._heads = [prefix + f'{i},"text":"'.encode() for i in range(n_choices)]
        self.tail = b'","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}\n\n'
        self.last_tail = (
            b'","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null}\n\n'
        )

    def head(self, choice: int) -> bytes:
        return self._heads[choice]

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        usage = (
            f'{{"prompt_tokens":{prompt_tokens},"total_tokens":{prompt_tokens + completion_tokens},'
            f'"completion_tokens":{completion_tokens}}}'
        )
        return (
            f'data: {{"id":"{self.request_id}","object":"text_completion",'
            f'"created":{self.created},"model":{self.model_json},"choices":[],"usage":{usage}}}\n\n'
        ).encode()

    def full_response(self, texts: list[str], prompt_tokens: int, completion_tokens: int) -> bytes:
        """The non-streaming ``text_completion`` object."""
        return json.dumps(
            {
                "id": self.request_id,
                "object": "text_completion",
                "created": self.created,
                "model": json.loads(self.model_json),
                "choices": [
                    {
                        "index": i,
                        "text": text,
                        "logprobs": None,
                        "finish_reason": "length",
                        "stop_reason": None,
                        "prompt_logprobs": None,
                    }
                    for i, text in enumerate(texts)
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "completion_tokens": completion_tokens,
                },
            },
            separators=(",", ":"),
        ).encode()


DONE = b"data: [DONE]\n\n"
