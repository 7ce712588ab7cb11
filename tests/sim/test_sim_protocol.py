"""Request parsing and the SSE byte templates (vLLM's wire format)."""

from __future__ import annotations

import json

import pytest

from greenllm.sim.protocol import DONE, BadRequest, ChunkTemplates, parse_completion

VOCAB = 32000


def parse(body, max_model_len=2048):
    return parse_completion(body, "m", max_model_len, VOCAB)


def test_prompt_forms_and_token_counts():
    assert parse({"prompt": "t1 t2  t3\nt4", "max_tokens": 3}).prompt_lens == (4,)
    assert parse({"prompt": [5, 6, 7], "max_tokens": 3}).prompt_lens == (3,)
    assert parse({"prompt": [[1, 2], [3, 4, 5]], "max_tokens": 3}).prompt_lens == (2, 3)
    assert parse({"prompt": ["t1", "t1 t2"], "max_tokens": 3}).prompt_lens == (1, 2)
    p = parse(
        {
            "model": "m",
            "prompt": "t1",
            "max_tokens": 8,
            "min_tokens": 8,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert (p.max_tokens, p.stream, p.include_usage) == (8, True, True)
    assert parse({"prompt": [1] * 48}, max_model_len=50).max_tokens == 2  # vLLM's default


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        ({"prompt": ""}, 400, "cannot be empty"),
        ({"prompt": [1, VOCAB]}, 400, "out of vocabulary"),
        ({"prompt": [1.5]}, 400, "prompt must be"),
        ({"prompt": "t1", "model": "other"}, 404, "does not exist"),
        ({"prompt": "t1", "max_tokens": 0}, 400, "max_tokens"),
        ({"prompt": "t1", "max_tokens": 5, "min_tokens": 6}, 400, "min_tokens"),
        ({"prompt": [1] * 2000, "max_tokens": 100}, 400, "maximum context length is 2048"),
        ({"prompt": "t1", "stream_options": {"include_usage": True}}, 400, "stream=True"),
        ({"prompt": "t1", "n": 2}, 400, "`n`"),
        ({"prompt": "t1", "logprobs": 1}, 400, "logprobs"),
        ({"max_tokens": 1}, 400, "prompt"),
        ([1, 2], 400, "JSON object"),
    ],
)
def test_bad_requests(body, status, fragment):
    with pytest.raises(BadRequest) as exc:
        parse(body)
    assert exc.value.status == status
    assert fragment in str(exc.value)
    err = json.loads(exc.value.body())["error"]
    assert err["code"] == status and fragment in err["message"]


def test_chunk_templates_are_vllm_shaped_json():
    t = ChunkTemplates('model "x"', n_choices=2)
    mid = t.head(1) + b"t42 " + t.tail
    last = t.head(0) + b"t7 " + t.last_tail
    for raw, finish in ((mid, None), (last, "length")):
        assert raw.startswith(b"data: ") and raw.endswith(b"\n\n")
        obj = json.loads(raw[6:])
        assert list(obj) == ["id", "object", "created", "model", "choices", "usage"]
        assert obj["id"] == t.request_id and obj["id"].startswith("cmpl-")
        assert obj["object"] == "text_completion" and obj["model"] == 'model "x"'
        (choice,) = obj["choices"]
        assert list(choice) == ["index", "text", "logprobs", "finish_reason", "stop_reason"]
        assert choice["finish_reason"] == finish and choice["logprobs"] is None
    assert json.loads(mid[6:])["choices"][0] == {
        "index": 1,
        "text": "t42 ",
        "logprobs": None,
        "finish_reason": None,
        "stop_reason": None,
    }
    usage = json.loads(t.usage_chunk(10, 4)[6:])
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 10,
        "total_tokens": 14,
        "completion_tokens": 4,
    }
    full = json.loads(t.full_response(["t1 t2 ", "t3 "], 7, 3))
    assert [c["text"] for c in full["choices"]] == ["t1 t2 ", "t3 "]
    assert full["usage"]["completion_tokens"] == 3
    assert DONE == b"data: [DONE]\n\n"
