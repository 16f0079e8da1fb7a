"""The gate: a configuration error holds records until a probe passes, a spent budget for its
wait; neither sets a record aside (no retry topic, no dead letter, no failed job)."""

from __future__ import annotations

import asyncio

import pytest

from schemas import topics
from schemas.events import Origin, Stage
from services.common.errors import ConfigurationError, ThrottledError
from services.common.kafka import gate as gate_module
from services.common.kafka.failures import Failure, classify
from services.common.kafka.gate import Gate, Hold
from services.common.kafka.health import ConsumerHealth
from services.common.kafka.isolation import Isolation
from services.common.kafka.retry import Retrier
from tests.fixtures.fakes import RecordingPublisher
from tests.unit.test_isolation import Handler, deliveries

pytestmark = pytest.mark.unit

TOPIC = topics.DOCUMENTS_UPLOADED


@pytest.fixture(autouse=True)
def quick_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate_module, "PROBE_BACKOFF_S", 0.01)
    monkeypatch.setattr(gate_module, "PROBE_BACKOFF_MAX_S", 0.02)


class Probe:
    """Fails with a configuration error `failures` times, then passes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConfigurationError("provider_auth", f"401 on probe {self.calls}", probe=self)


def test_configuration_and_budget_errors_hold_records_back() -> None:
    assert classify(ConfigurationError("provider_auth", "401")) is Failure.CONFIGURATION
    assert classify(ThrottledError("tokens per minute spent", 2.0)) is Failure.THROTTLED


async def test_a_configuration_error_closes_the_gate_until_the_probe_passes() -> None:
    health = ConsumerHealth(stall_after_s=300)
    health.started = True
    health.last_poll = asyncio.get_running_loop().time()
    opened: list[bool] = []
    gate = Gate("g", health.hold, lambda: opened.append(True))
    probe = Probe(failures=2)

    gate.close(ConfigurationError("provider_auth", "the key was refused (401)", probe=probe))

    assert gate.closed
    ok, detail = health.ready()
    assert not ok and detail == "paused: provider_auth: the key was refused (401)"
    await asyncio.wait_for(gate.wait_open(), 5)
    assert probe.calls == 3 and opened == [True]
    assert health.ready()[0]
    assert health.hold.reason == ""


async def test_a_spent_budget_closes_the_gate_for_its_wait_and_stays_ready() -> None:
    hold = Hold()
    gate = Gate("g", hold, lambda: None)
    loop = asyncio.get_running_loop()
    started = loop.time()

    gate.close(ThrottledError("tokens per minute spent", 0.2))

    assert gate.closed and not hold.misconfigured and "throttled" in hold.reason
    await asyncio.wait_for(gate.wait_open(), 5)
    assert loop.time() - started >= 0.19


async def test_a_probe_outranks_a_budget_wait() -> None:
    hold = Hold()
    gate = Gate("g", hold, lambda: None)
    probe = Probe(failures=1)
    gate.close(ConfigurationError("provider_auth", "401", probe=probe))
    gate.close(ThrottledError("spent", 0.0))

    assert hold.misconfigured
    await asyncio.wait_for(gate.wait_open(), 5)
    assert probe.calls == 2


async def test_per_record_mode_waits_behind_the_gate_and_sets_nothing_aside() -> None:
    publisher = RecordingPublisher()
    probe = Probe(failures=1)
    error = ConfigurationError("provider_auth", "the key was refused (401)", probe=probe)
    handler = Handler(bad={0}, error=error, times=1)
    hold = Hold()
    gate = Gate("g", hold, lambda: None)
    retrier = Retrier(publisher, Origin(service="parser", instance="u"), Stage.PARSE, group="g")
    runner = Isolation(
        handler=handler,
        group="g",
        stage=Stage.PARSE,
        topics_read=(TOPIC, topics.retry(TOPIC)),
        retrier=retrier,
        dead_letters=retrier.dead_letters,
        outages=ConsumerHealth(300),
        gate=gate,
    )
    (record,) = deliveries(1)

    await asyncio.wait_for(runner.settle(record, wait_out_outages=True), 5)

    assert handler.handled == [0] and len(handler.calls) == 2
    assert probe.calls == 2
    assert publisher.sent == []


async def test_batch_mode_hands_a_configuration_error_to_the_loop_unsplit() -> None:
    publisher = RecordingPublisher()
    handler = Handler(bad={2}, error=ConfigurationError("provider_model", "404"))
    retrier = Retrier(publisher, Origin(service="embedder", instance="u"), Stage.EMBED, group="g")
    runner = Isolation(
        handler=handler,
        group="g",
        stage=Stage.EMBED,
        topics_read=(TOPIC,),
        retrier=retrier,
        dead_letters=retrier.dead_letters,
        outages=ConsumerHealth(300),
    )

    with pytest.raises(ConfigurationError):
        await runner.hand_over(deliveries(4), {(TOPIC, 0): 4})

    assert handler.calls == [[0, 1, 2, 3]], "not split: the loop holds the whole batch"
    assert publisher.sent == []
