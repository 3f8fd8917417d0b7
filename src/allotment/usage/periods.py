"""Periods (day, month, quarter, year) as numbers, and how many one request may ask for.

A request names its range freely (0001-01-01 to 9999-12-31 is a valid pair of dates), so
what it costs is bounded here, not by the dates: the explorer draws every period of its
range, and each period is a label, a chart point and a value per group. Periods are
counted and walked as integers (a day's ordinal, year * 12 + month, ...), never by adding
to a date, so the ends of the calendar cannot overflow.
"""

from __future__ import annotations

import calendar
from datetime import date

from django.core.exceptions import ValidationError

# The most periods one explorer answer or report may hold: ten years of days, a hundred
# years of months, quarters or years. A range longer than that is cut to the span of the
# usage in it; usage spanning longer is refused (ask by a longer period).
MAX_PERIODS: dict[str, int] = {"day": 3660, "month": 1200, "quarter": 400, "year": 100}
# The most cells (groups x periods) of one explorer answer, or rows of one report: a CSV
# file of about 20 MB.
MAX_CELLS = 500_000

_LONGER = {"day": "month", "month": "quarter", "quarter": "year"}


def index(day: date, period: str) -> int:
    """The number of the period holding `day`: consecutive periods have consecutive numbers."""
    if period == "day":
        return day.toordinal()
    if period == "month":
        return day.year * 12 + day.month - 1
    if period == "quarter":
        return day.year * 4 + (day.month - 1) // 3
    return day.year


def start(number: int, period: str) -> date:
    """The first day of period `number` (see `index`)."""
    if period == "day":
        return date.fromordinal(number)
    if period == "month":
        return date(number // 12, number % 12 + 1, 1)
    if period == "quarter":
        return date(number // 4, 3 * (number % 4) + 1, 1)
    return date(number, 1, 1)


def label(number: int, period: str) -> str:
    """ "2100-03-01", "2100-03", "2100-Q1" or "2100", as reports.period_label writes them."""
    if period == "day":
        return date.fromordinal(number).isoformat()
    if period == "month":
        return f"{number // 12}-{number % 12 + 1:02d}"
    if period == "quarter":
        return f"{number // 4}-Q{number % 4 + 1}"
    return str(number)


def count(first: date, last: date, period: str) -> int:
    """How many periods [first, last] touches (0 when last is before first)."""
    return max(index(last, period) - index(first, period) + 1, 0)


def axis(first: date, last: date, period: str) -> list[str]:
    """The label of every period from the one holding `first` to the one holding `last`."""
    return [label(n, period) for n in range(index(first, period), index(last, period) + 1)]


def is_month_end(day: date) -> bool:
    """Whether `day` is the last of its month (9999-12-31 included, without overflowing)."""
    return day.day == calendar.monthrange(day.year, day.month)[1]


def _amount(n: int, period: str) -> str:
    return f"{n:,} {period}" + ("" if n == 1 else "s")


def _ask_instead(period: str) -> str:
    longer = _LONGER.get(period)
    return f"ask by {longer}, or for a shorter range" if longer else "ask for a shorter range"


def check_span(spanned: int, period: str) -> None:
    """Refuse an explorer range whose usage spans more periods than MAX_PERIODS allows."""
    limit = MAX_PERIODS[period]
    if spanned > limit:
        raise ValidationError(
            f"from/to: at most {_amount(limit, period)} per request (this range spans "
            f"{_amount(spanned, period)} of usage); {_ask_instead(period)}."
        )


def check_periods_with_usage(found: int, period: str) -> None:
    """Refuse a report holding more periods (each with usage) than MAX_PERIODS allows."""
    limit = MAX_PERIODS[period]
    if found > limit:
        raise ValidationError(
            f"from/to: at most {_amount(limit, period)} per request (this range has usage on "
            f"{_amount(found, period)}); {_ask_instead(period)}."
        )


def check_cells(groups: int, periods: int) -> None:
    """Refuse an explorer answer of more than MAX_CELLS cells."""
    if groups * periods > MAX_CELLS:
        raise ValidationError(
            f"group_by: at most {MAX_CELLS:,} cells (groups × periods) per request, not "
            f"{groups * periods:,} ({groups:,} groups × {periods:,} periods); group by "
            "something coarser, ask by a longer period, or filter."
        )


def check_rows(rows: int) -> None:
    """Refuse a report of more than MAX_CELLS rows."""
    if rows > MAX_CELLS:
        raise ValidationError(
            f"group_by: at most {_amount(MAX_CELLS, 'row')} per request, not {rows:,}; group "
            "by something coarser, ask by a longer period, or filter."
        )
