"""Exact quantities: stored as Decimal, converted to plain numbers only for output."""

from decimal import Decimal

from django.db import models


def is_digits(text: str, most: int = 18) -> bool:
    """Whether `text` is a whole number int() reads and a database key holds: ASCII digits
    only ("²" and "٣" are digits to str.isdigit, which int() refuses or reads otherwise),
    at most `most` of them (18 fit a bigint; int() refuses over 4,300)."""
    return text.isascii() and text.isdigit() and len(text) <= most


def quantity_field(**kwargs) -> models.DecimalField:
    """A non-negative amount in a resource pool's units (KB, hours, ...), kept exact."""
    kwargs.setdefault("max_digits", 24)
    kwargs.setdefault("decimal_places", 6)
    kwargs.setdefault("default", Decimal(0))
    return models.DecimalField(**kwargs)


def plain(value: Decimal | int | float | None) -> int | float | None:
    """A Decimal as the JSON number a reader expects: 600, not "600.000000" or 600.0."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = value.normalize()
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def display(value: Decimal | int | float | None) -> str:
    """A quantity for a table cell: thousands separated, no trailing zeros."""
    number = plain(value)
    if number is None:
        return "—"
    if isinstance(number, int):
        return f"{number:,}"
    return f"{number:,.6f}".rstrip("0").rstrip(".")
