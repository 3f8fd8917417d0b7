"""What every decision shares: who decided, the row lock, and the refusals' words.

A decision is taken on the row locked with SELECT ... FOR UPDATE inside the step's
transaction: of two managers approving at the same moment, the second waits for the first
to commit, then finds the row no longer pending and is told who decided it. (On SQLite the
settings open every transaction with BEGIN IMMEDIATE, which serialises writers the same
way.) The state is then changed with an ordinary save, so the audit log records it with its
actor like any other change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from allotment.core.validation import save_validated

from .models import Decidable

Row = TypeVar("Row", bound=Decidable)


def who(by) -> str:
    """How a decider is named in messages: the person, or the command line's operator."""
    return str(by) if by is not None else "an operator at the command line"


def when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "an unknown time"


def require(allowed: bool, message: str) -> None:
    """Refuse a step the person may not take (views answer 404 before it gets here)."""
    if not allowed:
        raise PermissionDenied(message)


def lock(model: type[models.Model], pk: int) -> models.Model:
    """The row, locked until the surrounding transaction ends; call inside atomic()."""
    return model.objects.select_for_update().get(pk=pk)


def closed(description: str, state_label: str, by, moment) -> ValidationError:
    """The refusal for a step on something already decided, naming who decided it."""
    return ValidationError(
        f"{description} was already {state_label.lower()} by {who(by)} on {when(moment)}."
    )


@contextmanager
def deciding(row: Row, may: Callable[[Row], None], describe: Callable[[Row], str]) -> Iterator[Row]:
    """The step's transaction, around the row locked afresh: `may(row)` refuses a decider
    without the right, and a row no longer open is refused naming who decided it. Mail the
    body sends goes out only if the whole step commits."""
    with transaction.atomic():
        row = lock(type(row), row.pk)
        may(row)
        if not row.is_open:
            raise closed(describe(row), row.get_state_display(), *row.decision())
        yield row


def record(row: Row, state: str, by, *, moment=None, **fields) -> Row:
    """Move the row to `state`, naming `by` and the moment (now) in its decision fields,
    with any other `fields`; saved validated, so the audit log has it with its actor."""
    by_field, at_field = row.decision_fields(state)
    row.state = state
    setattr(row, by_field, by)
    setattr(row, at_field, moment or timezone.now())
    for name, value in fields.items():
        setattr(row, name, value)
    return save_validated(row)


def take_back(
    row: Row, by, *, owner: str, noun: str, describe: Callable[[Row], str], operator: bool
) -> Row:
    """The one who asked (the row's `owner` field) takes back an open request or application."""

    def may(row: Row) -> None:
        require(
            operator or (by is not None and by.pk == getattr(row, f"{owner}_id")),
            f"Only {getattr(row, owner)} may withdraw {noun} {row.ref}.",
        )

    with deciding(row, may, describe) as row:
        return record(row, row.State.WITHDRAWN, by)


def reason_required(reason: str, description: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": f"Give a reason for declining {description}: the applicant is told it."}
        )
    return reason
