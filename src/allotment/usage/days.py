"""Days in the site's time zone, and splitting an amount across them exactly."""

import zoneinfo
from datetime import date, datetime, timedelta

from django.conf import settings


class DayClock:
    """Maps epoch seconds to the site's calendar days and back, caching per quarter hour
    (every zone's offset and every clock change is a multiple of 15 minutes)."""

    def __init__(self, zone: str | None = None):
        name = zone or settings.TIME_ZONE
        self.utc = name in ("UTC", "Etc/UTC")
        self.zone = zoneinfo.ZoneInfo(name)
        self._day_of_quarter: dict[int, int] = {}
        self._start: dict[int, int] = {}

    def day(self, ts: int) -> int:
        """The proleptic ordinal of the day holding `ts`."""
        if self.utc:
            return ts // 86400 + 719163
        quarter = ts // 900
        ordinal = self._day_of_quarter.get(quarter)
        if ordinal is None:
            ordinal = datetime.fromtimestamp(quarter * 900, self.zone).toordinal()
            self._day_of_quarter[quarter] = ordinal
        return ordinal

    def start(self, ordinal: int) -> int:
        """Epoch seconds at which the day begins."""
        if self.utc:
            return (ordinal - 719163) * 86400
        value = self._start.get(ordinal)
        if value is None:
            midnight = datetime.combine(date.fromordinal(ordinal), datetime.min.time())
            value = int(midnight.replace(tzinfo=self.zone).timestamp())
            self._start[ordinal] = value
        return value

    def last_day(self, start: int, end: int) -> int:
        """The day a job ends in: a job ending at midnight ended the day before."""
        return self.day(max(end - 1, start))

    def split(self, start: int, end: int, amount: int) -> list[tuple[int, int]]:
        """`amount` spread over the days of [start, end) in proportion to the time in each;
        the parts are whole numbers that add up to `amount` exactly."""
        first, last = self.day(start), self.last_day(start, end)
        span = end - start
        if first == last or span <= 0:
            return [(last, amount)]
        parts, given, elapsed = [], 0, 0
        for ordinal in range(first, last + 1):
            until = min(self.start(ordinal + 1), end)
            elapsed = until - start
            share = amount * elapsed // span
            parts.append((ordinal, share - given))
            given = share
        return parts


def to_date(ordinal: int) -> date:
    return date.fromordinal(ordinal)


ONE_DAY = timedelta(days=1)
