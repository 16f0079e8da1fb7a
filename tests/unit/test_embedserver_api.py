"""The embedding server's request handling over the hashing model: OpenAI's shapes and limits."""

import asyncio
import base64
import math
import struct

import msgspec
import pytest

from services.common.embedding.hashing import HashingEmbedder
from services.embedserver.api import EmbeddingsAPI, Refused

pytestmark = pytest.mark.unit

KEY = "sk-unit"


def _api(max_inputs: int = 4) -> EmbeddingsAPI:
    model = HashingEmbedder(dimensions=16)
    model.max_tokens = 8
    return EmbeddingsAPI(model, lambda text: len(text.split()), api_key=KEY, max_inputs=max_inputs)


def _ask(api: EmbeddingsAPI, body: object, key: str | None = KEY) -> dict[str, object]:
    answer = asyncio.run(
        api.embeddings(msgspec.json.encode(body), f"Bearer {key}" if key else None)
    )
    return msgspec.to_builtins(answer)  # type: ignore[no-any-return]


def test_answers_in_openais_shape_in_order_with_usage() -> None:
    api = _api()
    answer = _ask(api, {"input": ["kafka topics", "bread"], "model": api.provider.model_name})
    data = answer["data"]
    assert isinstance(data, list)
    assert [d["index"] for d in data] == [0, 1]
    assert data[0]["embedding"] == api.provider.embed(["kafka topics"])[0]
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert answer["object"] == "list" and data[0]["object"] == "embedding"


def test_base64_is_little_endian_float32_and_dimensions_shorten_to_unit_length() -> None:
    api = _api()
    body = {
        "input": "one two three",
        "model": api.provider.model_name,
        "encoding_format": "base64",
        "dimensions": 5,
    }
    (item,) = _ask(api, body)["data"]  # type: ignore[misc]
    raw = base64.b64decode(item["embedding"])
    vector = struct.unpack("<5f", raw)
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-6)
    head = api.provider.embed(["one two three"])[0][:5]
    norm = math.sqrt(math.fsum(v * v for v in head))
    assert vector == pytest.approx([v / norm for v in head], rel=1e-6)


REFUSALS = [
    ({"input": ["a"]}, None, 401, "invalid_api_key"),
    ({"input": ["a"], "model": "gpt-x"}, KEY, 404, "model_not_found"),
    ({"input": ["a"] * 5}, KEY, 400, None),
    (
        {"input": ["one two three four five six seven eight nine"]},
        KEY,
        400,
        "context_length_exceeded",
    ),
    ({"input": []}, KEY, 400, None),
    ({"input": [""]}, KEY, 400, None),
    ({"input": "a", "dimensions": 17}, KEY, 400, None),
    ({"input": [[1, 2]]}, KEY, 400, None),
]


@pytest.mark.parametrize(("body", "key", "status", "code"), REFUSALS)
def test_refusals_carry_openais_error_shape(
    body: dict[str, object], key: str | None, status: int, code: str | None
) -> None:
    api = _api()
    body = {"model": api.provider.model_name, **body}
    with pytest.raises(Refused) as caught:
        _ask(api, body, key)
    assert caught.value.status == status
    error = msgspec.json.decode(caught.value.body())["error"]
    assert error["code"] == code and error["message"]
    assert error["type"] == "invalid_request_error"
