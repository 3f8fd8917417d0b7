"""Days in the site's zone, and splitting a job's usage across them exactly."""

from datetime import date

from allotment.usage.days import DayClock

MARCH_1_2100 = 4107542400  # 2100-03-01T00:00:00Z
HOUR = 3600


def ordinal(year, month, day) -> int:
    return date(year, month, day).toordinal()


def test_split_across_midnight_is_proportional():
    clock = DayClock("UTC")
    start = MARCH_1_2100 + 23 * HOUR
    assert clock.split(start, start + 2 * HOUR, 7200) == [
        (ordinal(2100, 3, 1), 3600),
        (ordinal(2100, 3, 2), 3600),
    ]


def test_split_parts_are_whole_and_add_up_exactly():
    clock = DayClock("UTC")
    start, end = MARCH_1_2100 + 12 * HOUR, MARCH_1_2100 + 2 * 86400 + 6 * HOUR  # 12 h, 24 h, 6 h
    days = [ordinal(2100, 3, 1), ordinal(2100, 3, 2), ordinal(2100, 3, 3)]
    assert clock.split(start, end, 42 * 5) == list(zip(days, [60, 120, 30], strict=True))
    assert clock.split(start, end, 7) == list(zip(days, [2, 4, 1], strict=True))
    parts = clock.split(start, end, 1_000_003)
    assert sum(amount for _, amount in parts) == 1_000_003
    for (_, amount), hours in zip(parts, [12, 24, 6], strict=True):
        assert abs(amount - 1_000_003 * hours / 42) < 1


def test_job_ending_exactly_at_midnight_belongs_to_the_day_before():
    clock = DayClock("UTC")
    start, midnight = MARCH_1_2100 + 22 * HOUR, MARCH_1_2100 + 86400
    assert clock.split(start, midnight, 500) == [(ordinal(2100, 3, 1), 500)]
    assert clock.last_day(start, midnight) == ordinal(2100, 3, 1)
    assert clock.last_day(start, midnight + 1) == ordinal(2100, 3, 2)
    assert clock.split(midnight, midnight, 0) == [(ordinal(2100, 3, 2), 0)]


def test_days_follow_the_site_zone():
    clock = DayClock("Europe/Stockholm")  # CET, UTC+1, in March 2100 before the change
    local_midnight = MARCH_1_2100 + 86400 - HOUR  # 2100-03-02T00:00+01:00
    assert clock.day(local_midnight - 1) == ordinal(2100, 3, 1)
    assert clock.day(local_midnight) == ordinal(2100, 3, 2)
    assert clock.start(ordinal(2100, 3, 2)) == local_midnight
    assert clock.split(local_midnight - HOUR, local_midnight + 3 * HOUR, 40) == [
        (ordinal(2100, 3, 1), 10),
        (ordinal(2100, 3, 2), 30),
    ]


def test_days_in_a_half_hour_zone():
    clock = DayClock("Asia/Kolkata")  # UTC+5:30: local midnight is 18:30 UTC
    local_midnight = MARCH_1_2100 + 18 * HOUR + 1800  # 2100-03-02T00:00+05:30
    assert clock.start(ordinal(2100, 3, 2)) == local_midnight
    assert clock.day(local_midnight - 1) == ordinal(2100, 3, 1)
    assert clock.day(local_midnight + 60) == ordinal(2100, 3, 2)
