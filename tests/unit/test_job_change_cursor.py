"""The SSE id of a job change: `{tx}-{id}`, parsed back from Last-Event-ID, ordered by (tx, id)."""

from __future__ import annotations

import pytest

from services.status.adapters.changes import Cursor
from tests.fixtures.cases import Case, case_ids

pytestmark = pytest.mark.unit

CASES: list[Case[str, Cursor | None]] = [
    Case("a cursor", "812-1043", Cursor(812, 1043)),
    Case("the start", "0-0", Cursor(0, 0)),
    Case("surrounding blanks are ignored", " 5-6 ", Cursor(5, 6)),
    Case("one number is no cursor", "812", None),
    Case("a negative number is no cursor", "-1-5", None),
    Case("text is no cursor", "abc-def", None),
    Case("twenty digits is no cursor", "1" * 20 + "-1", None),
    # past a bigint, the column the query compares it with
    Case("nineteen nines is no cursor", "9" * 19 + "-1", None),
    Case("other scripts' digits are no cursor", "\u0663-\u0664", None),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_parse(case: Case[str, Cursor | None]) -> None:
    assert Cursor.parse(case.given) == case.expected


def test_round_trip_and_order() -> None:
    cursor = Cursor(812, 1043)
    assert Cursor.parse(str(cursor)) == cursor
    # a later transaction comes after, whatever its row serial: the order streams read in
    assert Cursor(812, 1043) < Cursor(813, 7) < Cursor(813, 8)
