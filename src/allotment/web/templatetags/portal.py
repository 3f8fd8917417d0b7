"""Formatting for the portal's tables: quantities, percentages and progress bars."""

from decimal import Decimal

from django import template
from django.utils.html import format_html

from allotment.core.numbers import display

register = template.Library()


@register.filter
def qty(value) -> str:
    """A quantity with thousands separated: Decimals exactly, floats to two places."""
    if value is None or value == "":
        return "—"
    if isinstance(value, int):
        return display(value)
    if isinstance(value, Decimal):
        # Exact, but a table cell needs no more than two places.
        return display(value if value == value.quantize(Decimal("0.01")) else round(value, 2))
    if isinstance(value, float):
        if value == int(value):
            return f"{int(value):,}"
        return f"{value:,.2f}"
    return str(value)


@register.filter
def pct(value) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%"


@register.simple_tag
def progress(percent) -> str:
    """A bar for % used: green, amber from 80 %, red over 100 %."""
    if percent is None:
        return format_html('<span class="muted">no allocation</span>')
    level = "over" if percent > 100 else "high" if percent >= 80 else "ok"
    width = max(0.0, min(float(percent), 100.0))
    return format_html(
        '<div class="progress {}" role="progressbar" aria-valuenow="{}" aria-valuemin="0" '
        'aria-valuemax="100"><span style="width: {}%"></span></div>',
        level,
        f"{percent:.0f}",
        f"{width:.1f}",
    )
