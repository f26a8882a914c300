"""msgid (docs/gateway.md "Request envelope"): fixmedins_code (12) + yyyyMMddHHmmss (14) + sequence (4), unique per
message — the key of journaling and of 2601 reversal, so it must never repeat, not even across a restart in one
second."""
import threading
from datetime import datetime, timedelta

import pytest

from adapters.nhsa.envelope import MsgIdGenerator

CODE = "P36010200001"
NOON = datetime(2025, 3, 1, 12, 0, 0)


def fixed(at):
    return lambda: at


def test_msgid_is_code_time_and_sequence_thirty_chars():
    msgid = MsgIdGenerator(CODE, clock=fixed(NOON.replace(microsecond=123456))).next()
    assert len(msgid) == 30
    assert msgid == "P36010200001" + "20250301120000" + "0001"


def test_ids_in_the_same_second_count_up():
    gen = MsgIdGenerator(CODE, clock=fixed(NOON))
    assert [gen.next()[-4:] for _ in range(3)] == ["0001", "0002", "0003"]


def test_a_new_second_restarts_the_sequence():
    now = [NOON]
    gen = MsgIdGenerator(CODE, clock=lambda: now[0])
    gen.next(), gen.next()
    now[0] = NOON + timedelta(seconds=1)
    assert gen.next() == f"{CODE}202503011200010001"


def test_never_issues_an_id_at_or_below_last_issued_after_a_restart_in_the_same_second():
    last = f"{CODE}202503011200000042"
    gen = MsgIdGenerator(CODE, clock=fixed(NOON), last_issued=last)
    assert gen.next() == f"{CODE}202503011200000043"


def test_clock_going_backwards_does_not_reuse_ids():
    last = f"{CODE}202503011200000007"
    gen = MsgIdGenerator(CODE, clock=fixed(NOON - timedelta(hours=1)), last_issued=last)
    ids = [gen.next() for _ in range(3)]
    assert all(i > last for i in ids) and ids == sorted(ids)


def test_exhausted_second_moves_to_the_next_seconds_id_without_sleeping():
    gen = MsgIdGenerator(CODE, clock=fixed(NOON), last_issued=f"{CODE}202503011200000898")
    assert gen.next() == f"{CODE}202503011200000899"          # a counter's ids stop below the tools' range
    assert gen.next() == f"{CODE}202503011200010001"


def test_two_counters_of_one_pharmacy_never_share_a_msgid_in_the_same_second():
    first, second = (MsgIdGenerator(CODE, clock=fixed(NOON), counter_no=n) for n in (0, 3))
    ids = {first.next() for _ in range(899)} | {second.next() for _ in range(899)}
    assert len(ids) == 1798
    assert second.next().endswith("3001") and second.last_issued.endswith("3001")


def test_counter_no_restarts_after_its_own_last_msgid():
    gen = MsgIdGenerator(CODE, clock=fixed(NOON), last_issued=f"{CODE}202503011200003041", counter_no=3)
    assert gen.next() == f"{CODE}202503011200003042"


def test_last_issued_of_another_institution_is_ignored():
    gen = MsgIdGenerator(CODE, clock=fixed(NOON), last_issued="P99999999999202512311200000001")
    assert gen.next() == f"{CODE}202503011200000001"


def test_ids_are_unique_and_increasing_under_threads():
    gen = MsgIdGenerator(CODE, clock=fixed(NOON))
    out: list[list[str]] = [[] for _ in range(8)]

    def work(bucket):
        for _ in range(500):
            bucket.append(gen.next())

    threads = [threading.Thread(target=work, args=(b,)) for b in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for b in out for i in b]
    assert len(set(ids)) == 4000
    assert all(len(i) == 30 for i in ids)
    for bucket in out:
        assert bucket == sorted(bucket)


def test_institution_code_must_be_twelve_characters():
    with pytest.raises(ValueError):
        MsgIdGenerator("P3601")


def test_a_tool_beside_the_service_takes_ids_from_the_top_of_each_second_the_counter_never_reaches():
    tool = MsgIdGenerator(CODE, clock=fixed(NOON), first=MsgIdGenerator.TOOL_FIRST)
    counter = MsgIdGenerator(CODE, clock=fixed(NOON))
    assert tool.next() == f"{CODE}202503011200000900" and counter.next() == f"{CODE}202503011200000001"
    assert {tool.next() for _ in range(99)}.isdisjoint({counter.next() for _ in range(2000)})
    assert tool.next() == f"{CODE}202503011200010900"          # the second's range used up: the next second's
