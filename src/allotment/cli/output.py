"""How `allot` commands speak: rich tables for people, JSON for scripts, clean errors.

Exit codes: 0 ok, 1 the request failed (a rule refused it, an object is missing), 2 bad
usage (a missing or mistyped option or argument).
"""

import functools
import getpass
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from auditlog.context import set_extra_data
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django_typer.management import TyperCommand
from rich.console import Console
from rich.table import Table
from typer._click.exceptions import UsageError

from allotment.cli.options import OPEN, usage_line
from allotment.core.numbers import plain
from allotment.core.validation import error_messages

# The --json option every read command takes.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class Failed(SystemExit):
    """Stop the command with exit code 1 after the error lines were printed."""

    def __init__(self) -> None:
        super().__init__(1)


def fail(*lines: str) -> None:
    for line in lines:
        sys.stderr.write(f"error: {line}\n")
    raise Failed()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2) + "\n")


def emit_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    numeric: Iterable[str] = (),
) -> None:
    numeric = set(numeric)
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    for row in rows:
        table.add_row(*("—" if v is None or v == "" else str(v) for v in row))
    Console(soft_wrap=False).print(table)


def say(text: str) -> None:
    Console(highlight=False).print(text)


def emit_record(data: dict[str, Any], *, title: str | None = None) -> None:
    """One object as a two-column table of its fields, for `show`, `create` and `set`."""
    from allotment.core.numbers import display

    def cell(value: Any) -> Any:
        if isinstance(value, Decimal):
            return display(value)
        if isinstance(value, dict | list):
            return json.dumps(value, default=_default) if value else ""
        return value

    emit_table(
        ["field", "value"], [(k.replace("_", " "), cell(v)) for k, v in data.items()], title=title
    )


def emit_object(data: dict[str, Any], as_json: bool, message: str | None = None) -> None:
    """What `show` prints, and what `create` and `set` print after saying what they did."""
    if as_json:
        return emit_json(data)
    if message:
        say(message)
    emit_record(data)


def changes_given(**options: Any) -> dict[str, Any]:
    """The options a `set` command was given (None means not given): `set` changes those
    and nothing else. Given none, it is bad usage, not a silent success. An end date given
    as `open` (options.OPEN) clears the field."""
    changes = {field: value for field, value in options.items() if value is not None}
    if not changes:
        raise UsageError("Nothing to change: give at least one option to set (see --help).")
    return {field: None if value is OPEN else value for field, value in changes.items()}


def cli_actor():
    """Who the audit log names for a CLI change: $ALLOTMENT_ACTOR or the login name, if
    either is a person in the ledger; the OS user is kept with the entry either way."""
    import os

    from allotment.people.models import Person

    os_user = getpass.getuser()
    username = os.environ.get("ALLOTMENT_ACTOR") or os_user
    return Person.objects.filter(username=username).first(), os_user


@contextmanager
def audited_as_cli(command: str):
    actor, os_user = cli_actor()
    with set_extra_data(
        {"actor": actor, "additional_data": {"via": "cli", "command": command, "os_user": os_user}}
    ):
        yield


def handles_errors(*args):
    """Turn a refused change into 'error: ...' lines and exit code 1, and audit as CLI.

    `@handles_errors` handles ValidationError; `@handles_errors(SomeError, ...)` handles
    those exception types too, printing their message.
    """
    if len(args) == 1 and not (isinstance(args[0], type) and issubclass(args[0], BaseException)):
        return _handling(args[0], ())
    return lambda func: _handling(func, args)


def _handling(func: Callable, also: tuple[type[BaseException], ...]) -> Callable:
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        try:
            with audited_as_cli(" ".join(sys.argv[1:3]) or func.__name__):
                return func(self, *args, **kwargs)
        except ValidationError as e:
            fail(*error_messages(e))
        except also as e:
            fail(str(e))

    return wrapper


def person_named(username: str):
    """The person with this username, or 'error: There is no person ...' and exit 1."""
    from allotment.people.models import Person

    person = Person.objects.filter(username=username).first()
    if person is None:
        fail(f'There is no person "{username}".')
    return person


def level_named(name: str | None):
    """The project level of this name (None for None), or an error and exit 1."""
    if name is None:
        return None
    from allotment.projects.models import ProjectLevel

    level = ProjectLevel.objects.filter(name=name).first()
    if level is None:
        fail(f'There is no project level "{name}".')
    return level


class AllotCommand(TyperCommand):
    """Base of every `allot` noun: bad usage is one line naming the option, and exit code 2.

    django-typer prints the command's whole help before the error, which buries the one
    line that says what to fix; this prints only that line, as `error: --option: why`.
    """

    def __init_subclass__(cls, **kwargs):
        # A noun without a docstring of its own would show this class's in its --help
        # (inspect.getdoc inherits it): show its one-line `help` instead.
        if "__doc__" not in vars(cls) or not cls.__doc__:
            cls.__doc__ = getattr(cls, "help", "") or ""
        super().__init_subclass__(**kwargs)

    def __exit__(self, exc_type, exc_val, exc_tb):
        if not isinstance(exc_val, UsageError):
            return super().__exit__(exc_type, exc_val, exc_tb)
        super().__exit__(None, None, None)  # leave django-typer's command stack as it was
        line = usage_line(exc_val)
        if getattr(self, "_called_from_command_line", False):
            sys.stderr.write(f"error: {line}\n")
            raise SystemExit(2) from None
        raise CommandError(line, returncode=2) from exc_val
