"""Commit positions when records finish out of order: never past one still unfinished."""

from __future__ import annotations

import pytest
from aiokafka.structs import TopicPartition

from services.common.kafka.watermark import Watermarks

pytestmark = pytest.mark.unit

P0 = TopicPartition("t", 0)
P1 = TopicPartition("t", 1)


def test_the_position_stops_at_the_lowest_unfinished_record() -> None:
    marks = Watermarks()
    tickets = {o: marks.begin(P0, o) for o in range(10, 15)}
    assert marks.committable() == {}

    marks.finish(tickets[12])
    marks.finish(tickets[13])
    assert marks.committable() == {}, "10 and 11 are still running"
    marks.finish(tickets[10])
    assert marks.committable() == {P0: 11}
    marks.committed({P0: 11})
    assert marks.committable() == {}
    marks.finish(tickets[11])
    assert marks.committable() == {P0: 14}, "11, 12 and 13 are done; 14 is not"
    marks.finish(tickets[14])
    assert marks.committable() == {P0: 15}
    assert marks.in_flight() == 0


def test_partitions_move_independently() -> None:
    marks = Watermarks()
    slow = marks.begin(P0, 0)
    fast = [marks.begin(P1, o) for o in range(3)]
    for ticket in fast:
        marks.finish(ticket)
    assert marks.committable() == {P1: 3}
    assert marks.in_flight([P0]) == 1 and marks.in_flight([P1]) == 0
    marks.finish(slow)
    assert marks.committable([P0]) == {P0: 1}


def test_a_forgotten_partitions_late_finishes_count_for_nothing() -> None:
    marks = Watermarks()
    old = marks.begin(P0, 5)
    marks.forget([P0])  # revoked while 5 was running
    again = marks.begin(P0, 5)  # assigned back and re-read from the last commit
    marks.finish(old)  # the orphaned run ends
    assert marks.committable() == {}, "the re-read 5 is not finished"
    marks.finish(again)
    assert marks.committable() == {P0: 6}
