"""existing_partitions asks again while a fresh admin client knows no broker."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import NodeNotReadyError

from services.common.kafka import admin as admin_module
from services.common.kafka.admin import NO_BROKER_TRIES, existing_partitions

pytestmark = pytest.mark.unit


class _Client:
    def __init__(self) -> None:
        self.refreshes = 0

    async def force_metadata_update(self) -> bool:
        self.refreshes += 1
        return True


class _Admin:
    """Fails `failures` times the way aiokafka does with no broker in its metadata."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self._client = _Client()

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        if self.failures:
            self.failures -= 1
            raise NodeNotReadyError("Attempt to send a request to node which is not ready")
        return [
            {"topic": name, "error_code": 0, "partitions": [{"partition_index": 0}]}
            for name in names
        ]


@pytest.fixture(autouse=True)
def _no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instantly(_: float) -> None:
        return None

    monkeypatch.setattr(admin_module.asyncio, "sleep", instantly)


async def test_a_client_without_a_broker_yet_is_asked_again_after_a_refresh() -> None:
    admin = _Admin(failures=2)
    assert await existing_partitions(admin, ["a"]) == [TopicPartition("a", 0)]
    assert admin._client.refreshes == 2


async def test_it_gives_up_after_its_tries() -> None:
    admin = _Admin(failures=NO_BROKER_TRIES)
    with pytest.raises(NodeNotReadyError):
        await existing_partitions(admin, ["a"])
    assert admin._client.refreshes == NO_BROKER_TRIES - 1
