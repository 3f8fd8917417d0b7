"""Option types every `allot` command shares, and the one line a bad usage prints.

A mistyped value is bad usage (exit 2), reported as `--option: what is wrong`, never as the
command's whole help: the person has to see which option to fix, not re-read the manual.
"""

import json
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import typer
from typer._click.core import Context, Parameter
from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoSuchOption,
    UsageError,
)
from typer._click.types import ParamType

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


class DateType(ParamType):
    """A calendar day written YYYY-MM-DD; the value is a `date`."""

    name = "date"

    def convert(self, value: Any, param: Parameter | None, ctx: Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if not _ISO_DAY.match(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            self.fail(f"{value} is not a date (YYYY-MM-DD)", param, ctx)


class NumberType(ParamType):
    """An exact decimal number (quantities, scaling factors); the value is a `Decimal`."""

    name = "number"

    def convert(self, value: Any, param: Parameter | None, ctx: Context | None) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            self.fail(f"{value} is not a number", param, ctx)
        return number


class JsonObjectType(ParamType):
    """A JSON object given on the command line, such as a machine's engine options."""

    name = "json"

    def convert(self, value: Any, param: Parameter | None, ctx: Context | None) -> dict:
        if isinstance(value, dict):
            return value
        try:
            data = json.loads(value)
        except ValueError as e:
            self.fail(f"{value} is not JSON ({e.msg} at character {e.pos})", param, ctx)
        if not isinstance(data, dict):
            self.fail(f'{value} is not a JSON object such as {{"cluster": "name"}}', param, ctx)
        return data


class OpenDateType(DateType):
    """An end date that may also be `open` (no end): clears the date in a `set`."""

    name = "date|open"

    def convert(self, value: Any, param: Parameter | None, ctx: Context | None) -> Any:
        if value is OPEN or str(value).strip().lower() == "open":
            return OPEN
        if isinstance(value, date):
            return value
        text = str(value).strip()
        if not _ISO_DAY.match(text):
            self.fail(f"{value} is not a date (YYYY-MM-DD) nor open", param, ctx)
        return super().convert(value, param, ctx)


class _Open:
    """No end date: given as `open` where an end date may be cleared."""

    def __repr__(self) -> str:
        return "OPEN"


OPEN: Any = _Open()
DATE = DateType()
OPEN_DATE = OpenDateType()
NUMBER = NumberType()
JSON_OBJECT = JsonObjectType()


def day_option(*names: str, help: str = "") -> Any:
    """A YYYY-MM-DD option whose bad value is reported as `--name: ... is not a date`."""
    return typer.Option(*names, click_type=DATE, metavar="YYYY-MM-DD", help=help)


def end_option(*names: str, help: str = "") -> Any:
    """An end date that `open` clears; the value is a date, OPEN or None (not given)."""
    return typer.Option(*names, click_type=OPEN_DATE, metavar="YYYY-MM-DD|open", help=help)


def number_option(*names: str, help: str = "") -> Any:
    return typer.Option(*names, click_type=NUMBER, metavar="NUMBER", help=help)


def _name_of(param: Parameter | None) -> str | None:
    if param is None:
        return None
    if param.param_type_name == "argument":
        return (param.name or "argument").upper()
    return max(param.opts, key=len) if param.opts else param.name


def usage_line(error: UsageError) -> str:
    """One line naming what was misused: `--from: 2100-02-30 is not a date (YYYY-MM-DD)`."""
    if isinstance(error, MissingParameter):
        name = _name_of(error.param)
        kind = getattr(error.param, "param_type_name", "option")
        return f"{name}: missing; this {kind} is required" if name else error.format_message()
    if isinstance(error, BadParameter):
        name = _name_of(error.param)
        return f"{name}: {error.message}" if name else error.format_message()
    if isinstance(error, NoSuchOption):
        line = f"{error.option_name}: no such option"
        if error.possibilities:
            line += f" (did you mean {', '.join(sorted(error.possibilities))}?)"
        return line
    if isinstance(error, BadOptionUsage):
        message = error.message.replace(f"Option '{error.option_name}' ", "")
        return f"{error.option_name}: {message}"
    group = error.ctx.command if error.ctx else None
    if hasattr(group, "list_commands"):  # a noun without a verb, or with an unknown one
        verbs = ", ".join(group.list_commands(error.ctx))
        return f"{error.message.rstrip('.')}; the commands are: {verbs}"
    return error.message


class DurationType(ParamType):
    """A span such as 2h, 90m, 1h30m, 2d or a number of seconds (pytimeparse2)."""

    name = "duration"

    def convert(self, value: Any, param: Parameter | None, ctx: Context | None):
        from datetime import timedelta

        import pytimeparse2

        if isinstance(value, timedelta):
            return value
        seconds = pytimeparse2.parse(str(value).strip())
        if seconds is None or seconds < 0:
            self.fail(f"{value} is not a duration (e.g. 2h, 90m, 1h30m, 2d)", param, ctx)
        return timedelta(seconds=float(seconds))


DURATION = DurationType()
