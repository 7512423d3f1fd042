from __future__ import annotations

from datetime import UTC, datetime

from jobs.stamps import from_stamp, stamp


def test_it_round_trips_to_the_microsecond() -> None:
    moment = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
    assert stamp(moment) == str(int(moment.timestamp() * 1_000_000))
    assert from_stamp(stamp(moment)) == moment


def test_it_reads_junk_as_the_epoch_so_a_poll_sends_everything() -> None:
    epoch = datetime.fromtimestamp(0, tz=UTC)
    for junk in (None, "", "abc", "9" * 40):
        assert from_stamp(junk) == epoch
    assert stamp(None) == "0"
