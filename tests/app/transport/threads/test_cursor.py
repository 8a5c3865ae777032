"""The thread cursor: seq from event ids, where a resume starts, what clients send."""

from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.events import parse_event_id
from app.transport.threads.cursor import event_id, floor_after, parse_since, seq_of
from app.transport.threads.stream import seq_of_event_id


def test_seq_when_ids_increase_then_seqs_increase_and_stay_js_safe() -> None:
    ids = ["1700000000000-0", "1700000000000-1", "1700000000000-999", "1700000000001-0"]
    seqs = [seq_of(i) for i in ids]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert seq_of("4102444800000-5") < 2**53  # year 2100


def test_seq_when_more_than_a_thousand_in_one_ms_then_they_share_the_last_slot() -> None:
    assert seq_of("1700000000000-1500") == seq_of("1700000000000-999")


def test_floor_when_cursor_given_then_every_event_of_its_millisecond_is_after_it() -> None:
    since = seq_of("1700000000123-7")
    floor = parse_event_id(floor_after(since))
    assert floor < (1700000000123, 0)
    assert floor > (1700000000122, 10**9)


def test_event_id_when_parsed_back_then_its_seq() -> None:
    eid = event_id("7f0c3c1e-0000-4000-8000-000000000000", "1700000000123-7", 2)
    assert seq_of_event_id(eid) == seq_of("1700000000123-7")
    assert seq_of_event_id("garbage") is None


@pytest.mark.parametrize("value", [None])
def test_parse_since_when_absent_then_none(value: object) -> None:
    assert parse_since(value) is None


@pytest.mark.parametrize("value", ["-", "-1", "0", "0-0", "", 0])
def test_parse_since_when_nothing_seen_yet_then_zero(value: object) -> None:
    assert parse_since(value) == 0


@pytest.mark.parametrize("value", ["abc", "12-3", -4, 1.5, True])
def test_parse_since_when_not_a_seq_then_invalid_input(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_since(value)
